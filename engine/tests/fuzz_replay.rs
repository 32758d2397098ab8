//! The fuzz targets on stable: every committed corpus input and crash reproducer under
//! `fuzz/` is run through the same target bodies `cargo fuzz` runs, so a fixed crash stays
//! fixed without a nightly toolchain.

#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::path::PathBuf;

/// Every file in `fuzz/corpus/NAME` and `fuzz/reproducers/NAME`; panics when there is none,
/// so a moved corpus cannot make the test pass vacuously.
fn inputs(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "reproducers"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".keep") {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus for fuzz target {name}");
    files
}

fn replay(name: &str, target: fn(&[u8])) {
    for (path, data) in inputs(name) {
        let run = std::panic::catch_unwind(|| target(&data));
        assert!(
            run.is_ok(),
            "fuzz target {name} fails on {}",
            path.display()
        );
    }
}

#[test]
fn head_corpus_and_reproducers_pass() {
    replay("head", targets::head);
}

#[test]
fn chunked_corpus_and_reproducers_pass() {
    replay("chunked", targets::chunked);
}

#[test]
fn config_corpus_and_reproducers_pass() {
    replay("config", targets::config);
}

#[test]
fn acl_corpus_and_reproducers_pass() {
    replay("acl", targets::acl);
}
