//! The layers of `engine/src` and `config/src` depend one way only: a top-level module names
//! (through `crate::…`) only the top-level modules its `lib.rs` declares above it, so the
//! folder-level import graph has no cycle. Test code (`tests.rs`, `*_tests.rs`, inline
//! `#[cfg(test)]` modules) and comments are not counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules of a crate, in the order its `lib.rs` declares them.
fn declared_order(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            Some(rest.strip_suffix(';')?.to_string())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source of `file` without comment lines and without its inline test module.
fn production_code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let cut = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::`, including `crate::{a, b::c}`.
fn named_modules(code: &str, modules: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let heads: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').map(str::trim).collect()
            }
            None => vec![rest],
        };
        for head in heads {
            let name: String = head
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Every `(module, file, named module)` where a module names one declared at or below it.
fn upward_references(src: &Path) -> Vec<(String, String, String)> {
    let order = declared_order(src);
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let name = rel.to_string_lossy();
        if name.ends_with("tests.rs") || name == "lib.rs" || name == "main.rs" {
            continue;
        }
        let first = rel.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        let Some(&own) = rank.get(module.as_str()) else {
            panic!("{} is in no module lib.rs declares", file.display());
        };
        for named in named_modules(&production_code(&file), &order) {
            if named != module && rank[named.as_str()] > own {
                bad.push((module.clone(), name.to_string(), named));
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

fn assert_layered(krate: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(krate)
        .join("src");
    let order = declared_order(&src);
    assert!(order.len() > 3, "{krate}/src/lib.rs declares {order:?}");
    let bad = upward_references(&src);
    assert!(
        bad.is_empty(),
        "{krate}/src: a module names one declared below it in lib.rs (module, file, named):\n{}",
        bad.iter()
            .map(|(m, f, n)| format!("  {m}: {f} names {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn engine_modules_name_only_the_layers_below_them() {
    assert_layered("engine");
}

#[test]
fn config_modules_name_only_the_layers_below_them() {
    assert_layered("config");
}

#[test]
fn a_module_naming_a_later_one_is_reported() {
    let src = std::env::temp_dir().join(format!("ringlb-layers-{}", std::process::id()));
    std::fs::create_dir_all(src.join("high")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod low;\npub mod high;\n").unwrap();
    std::fs::write(
        src.join("low.rs"),
        "// crate::high in a comment does not count\nuse crate::{high::X};\n",
    )
    .unwrap();
    std::fs::write(src.join("high").join("mod.rs"), "use crate::low::Y;\n").unwrap();
    let bad = upward_references(&src);
    std::fs::remove_dir_all(&src).unwrap();
    assert_eq!(
        bad,
        [("low".to_string(), "low.rs".to_string(), "high".to_string())]
    );
}
