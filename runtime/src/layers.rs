//! The layering of the crate's modules (see the crate's documentation), checked from the
//! sources: every `crate::MODULE` a module names is in its layer or one below, and no two
//! modules need each other, directly or through others.

use std::collections::BTreeMap;
use std::path::Path;

const LAYERS: [&[&str]; 6] = [
    &[
        "error",
        "sys",
        "made",
        "fault",
        "time",
        "id",
        "size",
        "signals",
        "procfs",
        "sync",
        "passed_fds",
        "spec_ext",
        "hooks",
        "console",
        "notify",
        "netdev",
        "selfclone",
    ],
    &[
        "process",
        "disk",
        "features",
        "seccomp",
        "bundle",
        "spec_default",
    ],
    &["state"],
    &["init"],
    &[
        "lifecycle",
        "lifecycle/checkpoint",
        "lifecycle/create",
        "lifecycle/delete",
        "lifecycle/events",
        "lifecycle/exec",
        "lifecycle/kill",
        "lifecycle/pause",
        "lifecycle/resume",
        "lifecycle/run",
        "lifecycle/start",
        "lifecycle/update",
    ],
    &["api"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The modules a source names (`crate::x`, `crate::lifecycle::x`; a verb's `super::f(`),
/// outside comments and its tests.
fn dependencies(module: &str, source: &str) -> Vec<String> {
    let code: String = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut deps = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let name = match name.as_str() {
            "lifecycle" => {
                let sub = &rest["lifecycle::".len().min(rest.len())..];
                let verb: String = sub
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                match rest.starts_with("lifecycle::")
                    && layer_of(&format!("lifecycle/{verb}")).is_some()
                {
                    true => format!("lifecycle/{verb}"),
                    false => "lifecycle".to_string(),
                }
            }
            _ => name,
        };
        if !name.is_empty() && name != module && layer_of(&name).is_some() {
            deps.push(name);
        }
    }
    if module.starts_with("lifecycle/") && code.contains("super::") {
        deps.push("lifecycle".into());
    }
    deps.sort();
    deps.dedup();
    deps
}

#[test]
fn modules_depend_downwards_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for layer in LAYERS {
        for module in layer {
            let file = match *module {
                "lifecycle" => src.join("lifecycle/mod.rs"),
                m => src.join(format!("{m}.rs")),
            };
            let text = std::fs::read_to_string(&file).unwrap();
            graph.insert(module.to_string(), dependencies(module, &text));
        }
    }
    // every module of the crate has its layer
    for entry in std::fs::read_dir(&src)
        .unwrap()
        .chain(std::fs::read_dir(src.join("lifecycle")).unwrap())
    {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        let name = rel.to_string_lossy().replace("lifecycle/mod", "lifecycle");
        if path.extension().is_some_and(|e| e == "rs")
            && !["lib", "layers"].contains(&name.as_str())
        {
            assert!(layer_of(&name).is_some(), "{name} is in no layer (LAYERS)");
        }
    }
    for (module, deps) in &graph {
        for dep in deps {
            assert!(
                layer_of(dep) <= layer_of(module),
                "{module} uses {dep}, of a layer above it"
            );
        }
    }
    // no cycle: a depth-first walk that never meets a module on its own path
    fn walk<'g>(m: &'g str, g: &'g BTreeMap<String, Vec<String>>, path: &mut Vec<&'g str>) {
        assert!(!path.contains(&m), "a cycle: {} -> {m}", path.join(" -> "));
        path.push(m);
        for d in g.get(m).into_iter().flatten() {
            walk(d, g, path);
        }
        path.pop();
    }
    for m in graph.keys() {
        walk(m, &graph, &mut Vec::new());
    }
}
