//! The `ringlb` command line, run as a real process: `-c`, `--dump`, `-cc`, `-v`/`-vv`, and a
//! configuration with no listener, side by side with haproxy.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

fn ringlb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(args)
        .output()
        .expect("ringlb runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A configuration file in a fresh temporary directory.
fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringlb-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.cfg"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every `*.cfg` under `examples/`, recursively.
fn example_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "cfg") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_root().join("examples"), &mut out);
    out.sort();
    out
}

const VALID: &str = "\
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:8080
    default_backend app

backend app
    server a1 127.0.0.1:9001 check
";

#[test]
fn check_accepts_every_example_configuration() {
    let files = example_configs();
    assert!(
        files.iter().any(|f| f.ends_with("quickstart.cfg")),
        "examples/quickstart.cfg exists"
    );
    for file in &files {
        let out = ringlb(&["-c", "-f", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{} is rejected:\n{}",
            file.display(),
            stderr(&out)
        );
        assert_eq!(
            stdout(&out).trim(),
            "Configuration file is valid",
            "{}",
            file.display()
        );
    }
}

#[test]
fn check_rejects_a_typo_with_file_line_keyword_and_help() {
    let path = write_config(
        "typo",
        &VALID.replace("default_backend app", "default_backnd app"),
    );
    let out = ringlb(&["-c", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:9: error:", path.display())),
        "{err}"
    );
    assert!(err.contains("default_backnd"), "{err}");
    assert!(
        err.contains("default_backend"),
        "the help names the nearest keyword: {err}"
    );
    assert!(!stdout(&out).contains("valid"));
}

#[test]
fn check_reports_every_error_in_one_run() {
    let text = VALID
        .replace("timeout client 30s", "timeout client 30 parsecs")
        .replace("check", "chek");
    let path = write_config("several", &text);
    let out = ringlb(&["-c", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(":4: error:"),
        "the timeout error is reported: {err}"
    );
    assert!(
        err.contains(":12: error:"),
        "the server error is reported too: {err}"
    );
}

#[test]
fn dump_prints_a_configuration_that_checks_and_dumps_the_same() {
    let path = write_config("dump", VALID);
    let first = ringlb(&["--dump", "-f", path.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let dumped = write_config("dumped", &stdout(&first));
    let second = ringlb(&["--dump", "-f", dumped.to_str().unwrap()]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
    assert!(stdout(&first).contains("server a1 127.0.0.1:9001"));
}

#[test]
fn a_directory_loads_its_cfg_files_in_name_order() {
    let dir = std::env::temp_dir().join(format!("ringlb-cli-{}-confd", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("10-defaults.cfg"), "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n").unwrap();
    std::fs::write(dir.join("20-proxies.cfg"), "frontend f\n    bind 127.0.0.1:8081\n    default_backend b\nbackend b\n    server s 127.0.0.1:9\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a configuration").unwrap();
    let out = ringlb(&["-c", "-f", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn cc_evaluates_conditions_to_the_exit_code() {
    assert_eq!(
        ringlb(&["-cc", "version_atleast(0.1)"]).status.code(),
        Some(0)
    );
    assert_eq!(
        ringlb(&["-cc", "version_atleast(999.0)"]).status.code(),
        Some(1)
    );
    assert_eq!(
        ringlb(&["-cc", "feature(IO_URING) && !feature(LUA)"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        ringlb(&["-cc", "streq(a,b) || strneq(a,b)"]).status.code(),
        Some(0)
    );
    assert_eq!(
        ringlb(&["-cc", "defined(RINGLB_SURELY_UNDEFINED_VAR)"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(ringlb(&["-cc", "version_atleast("]).status.code(), Some(2));
}

#[test]
fn version_flags_print_the_version_and_features() {
    let v = ringlb(&["-v"]);
    assert!(stdout(&v).starts_with("ringlb version "));
    let vv = ringlb(&["-vv"]);
    let text = stdout(&vv);
    assert!(text.contains("Feature list"), "{text}");
    assert!(text.contains("io_uring:"), "{text}");
}

#[test]
fn unknown_debug_flags_are_accepted() {
    let path = write_config("debugflags", VALID);
    let out = ringlb(&["-dM", "-dV", "-c", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn zero_warning_mode_refuses_a_configuration_with_warnings_as_haproxy_does() {
    let text = "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
                frontend f\n bind 127.0.0.1:@PORT\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"
        .replace("@PORT", &free_port().to_string());
    let clean = write_config("dw-clean", &text);
    let warned = write_config(
        "dw-warned",
        &text.replace(" timeout connect 1s\n", " contimeout 1s\n"),
    );
    let clean = clean.to_str().unwrap();
    let warned = warned.to_str().unwrap();
    // A warning alone leaves the configuration valid…
    let o = ringlb(&["-c", "-f", warned]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    // …unless -dW, with -c and when starting.
    for args in [&["-c", "-dW", "-f", warned][..], &["-dW", "-f", warned]] {
        let o = ringlb(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("Some warnings were found and 'zero-warning' is set. Aborting."),
            "{}",
            stderr(&o)
        );
    }
    // Without warnings -dW changes nothing, for ringlb as for haproxy.
    let o = ringlb(&["-c", "-dW", "-f", clean]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(haproxy(&["-c", "-dW", "-f", clean]).status.code(), Some(0));
}

#[test]
fn no_configuration_file_is_a_clear_error() {
    let out = ringlb(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("-f FILE"));
}

/// Runs Debian's haproxy (installed by `scripts/deps.sh`) with `args`.
fn haproxy(args: &[&str]) -> Output {
    Command::new("haproxy")
        .args(args)
        .output()
        .expect("haproxy runs (scripts/deps.sh installs it)")
}

/// A configuration with nothing to listen on, checked and started, side by side with
/// haproxy: `-c` says it has no error but will not start and exits 2; starting it fails
/// with exit 1 instead of running idle for ever.
#[test]
fn a_configuration_without_listeners_will_not_start_as_in_haproxy() {
    let configs = [
        ("empty", String::new()),
        (
            "nolistener",
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
             backend b\n server s 127.0.0.1:1\n"
                .to_string(),
        ),
    ];
    for (name, text) in configs {
        let path = write_config(name, &text);
        let file = path.to_str().unwrap();
        let ours = ringlb(&["-c", "-f", file]);
        let theirs = haproxy(&["-c", "-f", file]);
        assert_eq!(ours.status.code(), Some(2), "{name}: {}", stderr(&ours));
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{name}: as haproxy -c"
        );
        assert!(
            stdout(&ours).contains("will not start (no listener)"),
            "{name}: {}",
            stdout(&ours)
        );
        // Started: both refuse at once (haproxy -db stays in the foreground).
        let mut ours = Ringlb::spawn(&["-f", file], path.with_extension("stderr"));
        let status = ours.wait_exit(std::time::Duration::from_secs(5));
        let theirs = haproxy(&["-db", "-f", file]);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{name}: still running or not 1; stderr: {}",
            ours.stderr()
        );
        assert_eq!(theirs.status.code(), Some(1), "{name}: haproxy");
        assert!(
            ours.stderr().contains("no enabled listener"),
            "{}",
            ours.stderr()
        );
    }
}
