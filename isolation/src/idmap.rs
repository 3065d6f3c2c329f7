//! uid/gid maps of a new user namespace, written by the parent for its child.

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Context, Error, Result};

/// The text of a uid_map or gid_map file.
pub fn map_text(field: &str, maps: &[LinuxIdMapping]) -> Result<String> {
    let mut text = String::new();
    for m in maps {
        if m.size() == 0 {
            return Err(Error::Invalid(format!(
                "linux.{field}: a mapping has size 0"
            )));
        }
        text.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    Ok(text)
}

/// Writes /proc/<pid>/uid_map and gid_map. With `deny_setgroups` (an unprivileged caller
/// mapping only its own gid), setgroups is disabled first, as the kernel requires.
pub fn write_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    deny_setgroups: bool,
) -> Result<()> {
    if deny_setgroups {
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
            .context(|| "write setgroups".into())?;
    }
    if !uid.is_empty() {
        let text = map_text("uidMappings", uid)?;
        std::fs::write(format!("/proc/{pid}/uid_map"), text)
            .context(|| "write the uid map (linux.uidMappings)".into())?;
    }
    if !gid.is_empty() {
        let text = map_text("gidMappings", gid)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), text)
            .context(|| "write the gid map (linux.gidMappings)".into())?;
    }
    Ok(())
}

/// Maps a container id to the host through the given mappings.
pub fn to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let start = m.container_id();
        (id >= start && id - start < m.size()).then(|| m.host_id() + (id - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    #[test]
    fn text_has_one_line_per_mapping() {
        assert_eq!(
            map_text("uidMappings", &[m(0, 1000, 1), m(1, 100000, 65536)]).unwrap(),
            "0 1000 1\n1 100000 65536\n"
        );
    }

    #[test]
    fn zero_size_is_refused_with_its_field() {
        assert!(map_text("gidMappings", &[m(0, 0, 0)])
            .unwrap_err()
            .to_string()
            .contains("linux.gidMappings"));
    }

    #[test]
    fn ids_map_to_host() {
        let maps = [m(0, 100000, 10)];
        assert_eq!(to_host(&maps, 3), Some(100003));
        assert_eq!(to_host(&maps, 10), None);
    }
}
