//! The five capability sets of `process.capabilities`.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// The capability sets in the form the kernel calls take, without the caps this process cannot
/// grant: ones the kernel does not know (configs made for newer kernels) or its bounding set
/// lacks. They are listed in `unknown`, to be warned about.
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub permitted: CapsHashSet,
    pub ambient: CapsHashSet,
    /// Names in the config that this kernel does not have.
    pub unknown: Vec<String>,
    /// This process's bounding set when the sets were made: what apply_bounding may drop.
    pub available: CapsHashSet,
}

fn convert(
    set: &Option<Capabilities>,
    known: &CapsHashSet,
    unknown: &mut Vec<String>,
) -> CapsHashSet {
    let mut out = HashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        match Cap::from_str(&name) {
            Ok(cap) if known.contains(&cap) => {
                out.insert(cap);
            }
            _ => {
                if !unknown.contains(&name) {
                    unknown.push(name)
                }
            }
        }
    }
    out
}

impl CapSets {
    pub fn from_spec(spec: Option<&LinuxCapabilities>) -> Self {
        // What this process can pass on at all: its bounding set (on a machine whose root
        // lacks some capability, such as CAP_SYS_RESOURCE here, a privileged config would
        // otherwise fail; runtime-spec 1.2 says warn and go on).
        let known = caps::read(None, CapSet::Bounding)
            .unwrap_or_else(|_| caps::runtime::thread_all_supported());
        let mut unknown = Vec::new();
        let Some(spec) = spec else {
            return CapSets {
                available: known,
                ..CapSets::default()
            };
        };
        CapSets {
            bounding: convert(spec.bounding(), &known, &mut unknown),
            effective: convert(spec.effective(), &known, &mut unknown),
            inheritable: convert(spec.inheritable(), &known, &mut unknown),
            permitted: convert(spec.permitted(), &known, &mut unknown),
            ambient: convert(spec.ambient(), &known, &mut unknown),
            unknown,
            available: known,
        }
    }

    /// Drops every capability not in the bounding set. Needs CAP_SETPCAP, so it runs before
    /// the user switch. (Those the bounding set already lacks need no call: it was read
    /// when the sets were made, and only ever shrinks.)
    pub fn apply_bounding(&self) -> Result<()> {
        for cap in &self.available {
            let cap = *cap;
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| cap_error("bounding", e))?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable (exactly as given: nothing more in the
    /// inheritable set than the config asks, see CVE-2022-29162), then raises the ambient
    /// ones. Runs after the user switch, with keep-caps set across it.
    ///
    /// `keep` stays in effective and permitted on top of the configured sets until
    /// [`CapSets::set_final`]: loading a seccomp filter without no_new_privs needs
    /// CAP_SYS_ADMIN, and keeping it lets the filter go in after the user switch, so that
    /// the filter sees a single capset(2) of vrun's rather than the whole identity change.
    pub fn apply_process_sets(&self, keep: Option<Cap>) -> Result<()> {
        let extra = keep.map_or(0, |c| c.bitmask());
        crate::sys::capset(
            mask(&self.effective) | extra,
            mask(&self.permitted) | extra,
            mask(&self.inheritable),
        )
        .map_err(|e| sets_error(e, self))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| cap_error("ambient", e))?;
        for cap in &self.ambient {
            // An ambient cap must be permitted and inheritable; runc skips those that are not.
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap).map_err(|e| cap_error("ambient", e))?;
            }
        }
        Ok(())
    }

    /// Drops what [`CapSets::apply_process_sets`] kept: the configured effective, permitted
    /// and inheritable sets in one capset(2) (ambient ones stay: they are within them).
    pub fn set_final(&self) -> Result<()> {
        crate::sys::capset(
            mask(&self.effective),
            mask(&self.permitted),
            mask(&self.inheritable),
        )
        .map_err(|e| sets_error(e, self))
    }
}

fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

/// capset's EPERM has three causes a config can give: say which applies.
fn sets_error(e: nix::errno::Errno, sets: &CapSets) -> Error {
    let why = if !sets.effective.is_subset(&sets.permitted) {
        ": process.capabilities.effective holds capabilities that permitted does not"
    } else if !sets.inheritable.is_subset(&sets.bounding) {
        ": process.capabilities.inheritable holds capabilities outside the bounding set"
    } else {
        ""
    };
    Error::Invalid(format!(
        "set the effective, permitted and inheritable capabilities (process.capabilities): {e}{why}"
    ))
}

fn cap_error(set: &str, e: caps::errors::CapsError) -> Error {
    Error::Invalid(format!(
        "set the {set} capabilities (process.capabilities.{set}): {e}"
    ))
}
