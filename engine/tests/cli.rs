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
        // `quiet` in global silences the verdict, in haproxy too.
        let quiet = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .any(|l| l.trim() == "quiet");
        let verdict = if quiet {
            ""
        } else {
            "Configuration file is valid"
        };
        assert_eq!(stdout(&out).trim(), verdict, "{}", file.display());
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

/// A site with a runtime socket in `dir`: `global` gets `extra`; returns the configuration,
/// the socket and the frontend's address.
fn site_with_socket(dir: &TempDir, extra: &str) -> (PathBuf, PathBuf, std::net::SocketAddr) {
    let port = free_port();
    let sock = dir.path().join("admin.sock");
    let text = format!(
        "global\n stats socket {} level admin\n{extra}{}",
        sock.display(),
        VALID.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
    );
    let cfg = dir.write("site.cfg", &text);
    (cfg, sock, ([127, 0, 0, 1], port).into())
}

/// The `slim` column of `show stat` for `proxy,row`.
fn slim(stat: &str, row: &str) -> String {
    let line = stat
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} in {stat}"));
    line.split(',').nth(6).unwrap().to_string()
}

/// `-C DIR` is the directory relative paths are read from, with `-c` as when starting; a
/// directory that does not exist is an error naming the flag. haproxy agrees on both.
#[test]
fn chdir_flag_reads_a_relative_configuration_from_that_directory() {
    let dir = TempDir::new("chdir");
    dir.write("rel.cfg", VALID);
    let at = dir.path().to_str().unwrap();
    let ours = ringlb(&["-c", "-C", at, "-f", "rel.cfg"]);
    assert_eq!(ours.status.code(), Some(0), "{}", stderr(&ours));
    assert_eq!(stdout(&ours).trim(), "Configuration file is valid");
    assert_eq!(
        haproxy(&["-c", "-C", at, "-f", "rel.cfg"]).status.code(),
        Some(0)
    );
    let missing = ringlb(&["-c", "-C", "/nonexistent-ringlb-dir", "-f", "rel.cfg"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("-C"), "{}", stderr(&missing));
}

/// `-q` and `quiet` in global hide the warnings and the verdict of `-c`; `-V` shows them
/// again, as haproxy's verbose mode does.
#[test]
fn verbose_flag_undoes_quiet() {
    let dir = TempDir::new("verbose");
    let text = format!(
        "global\n quiet\n{}",
        VALID.replace("    default_backend app\n", "")
    );
    let cfg = dir.write("warn.cfg", &text);
    let cfg = cfg.to_str().unwrap();
    let quiet = ringlb(&["-c", "-f", cfg]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stdout(&quiet) + &stderr(&quiet), "");
    let verbose = ringlb(&["-c", "-V", "-f", cfg]);
    assert_eq!(verbose.status.code(), Some(0));
    assert!(stderr(&verbose).contains("warning"), "{}", stderr(&verbose));
    assert_eq!(stdout(&verbose).trim(), "Configuration file is valid");
    let both = ringlb(&["-c", "-q", "-V", "-f", cfg]);
    assert!(stderr(&both).contains("warning"), "-V wins over -q");
}

/// `-n 7` is the global maxconn (over the file's), `-N 5` every frontend's that sets none,
/// `-m` the memory limit: `show info` and `show stat` give what haproxy 2.6 gives for the
/// same flags (Maxconn 7, frontend slim 5, backend slim 1 derived from it, Memmax_MB). `-S`
/// without master-worker mode is warned about and not opened, as haproxy does.
#[test]
fn maxconn_and_memory_flags_show_in_the_runtime_api() {
    let dir = TempDir::new("nflags");
    let (cfg, sock, addr) = site_with_socket(&dir, " maxconn 100\n");
    let master_sock = dir.path().join("master.sock");
    let mut lb = Ringlb::spawn(
        &[
            "-f",
            cfg.to_str().unwrap(),
            "-n",
            "7",
            "-N",
            "5",
            "-m",
            "8192",
            "-L",
            "peer1",
            "-S",
            master_sock.to_str().unwrap(),
        ],
        dir.path().join("stderr.txt"),
    );
    lb.wait_serving(addr);
    let info = runtime_command(&sock, "show info");
    assert!(info.contains("\nMaxconn: 7\n"), "{info}");
    assert!(info.contains("\nMemmax_MB: 8192\n"), "{info}");
    let stat = runtime_command(&sock, "show stat");
    assert_eq!(slim(&stat, "web,FRONTEND"), "5", "{stat}");
    assert_eq!(slim(&stat, "app,BACKEND"), "1", "{stat}");
    assert!(
        lb.stderr().contains("master-worker mode"),
        "{}",
        lb.stderr()
    );
    assert!(!master_sock.exists());
}

/// Debian's unit starts haproxy as `-Ws -f CONFIG -p PIDFILE -S /run/haproxy-master.sock`
/// with `Type=notify`: the same command line starts ringlb, which reports READY=1 with the
/// master's pid to `$NOTIFY_SOCKET`, writes that pid, and answers the master CLI: `show
/// proc`, a command passed to the worker with `@1`, and `reload` (RELOADING=1, READY=1
/// again). `-L NAME` is `${HAPROXY_LOCALPEER}` in the configuration.
#[test]
fn debian_unit_command_line_starts_with_systemd_readiness_and_master_cli() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("debian-unit");
    let (cfg, _, addr) = site_with_socket(&dir, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "    default_backend app\n",
        "    http-request return status 200 content-type text/plain lf-string \"peer ${HAPROXY_LOCALPEER}\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let pidfile = dir.path().join("haproxy.pid");
    let master_sock = dir.path().join("haproxy-master.sock");
    // The unit's ExecReload check: silent, exit 0, nothing bound.
    let check = ringlb(&[
        "-Ws",
        "-f",
        cfg.to_str().unwrap(),
        "-c",
        "-q",
        "-S",
        master_sock.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert_eq!(stdout(&check) + &stderr(&check), "");
    assert!(!master_sock.exists());
    let mut lb = Ringlb::spawn_with_env(
        &[
            "-Ws",
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            pidfile.to_str().unwrap(),
            "-S",
            master_sock.to_str().unwrap(),
            "-L",
            "peer1",
        ],
        &[("NOTIFY_SOCKET", notify_path.as_os_str())],
        std::process::Stdio::null(),
        dir.path().join("stderr.txt"),
    );
    let ready = next();
    assert_eq!(
        ready,
        format!("READY=1\nMAINPID={}", lb.pid()),
        "{}",
        lb.stderr()
    );
    assert_eq!(lb.wait_pidfile(&pidfile), lb.pid());
    let (status, body) = http_get(addr, "/").unwrap();
    assert_eq!((status, body.as_str()), (200, "peer peer1"));

    let procs = runtime_command(&master_sock, "show proc");
    let lines: Vec<&str> = procs.lines().collect();
    assert!(lines[0].starts_with("#<PID>"), "{procs}");
    assert!(
        lines[1].starts_with(&format!("{:<15} master          0 [failed: 0]", lb.pid())),
        "{procs}"
    );
    assert_eq!(lines[2], "# workers");
    assert!(lines[3].contains(" worker "), "{procs}");
    let info = runtime_command(&master_sock, "@1 show info");
    assert!(info.contains("\nMaxconn: "), "{info}");
    assert!(runtime_command(&master_sock, "help").contains("show proc"));

    runtime_command(&master_sock, "reload");
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1");
    let procs = runtime_command(&master_sock, "show proc");
    assert!(procs.contains(" master          1 [failed: 0]"), "{procs}");
    assert_eq!(http_get(addr, "/").unwrap().0, 200);

    assert!(lb.stop_with(libc::SIGTERM).success(), "{}", lb.stderr());
    assert!(!master_sock.exists(), "the master CLI socket is removed");
}

/// A `bind` line with an unknown option is the one error `-c` reports, as haproxy's: no
/// follow-on "has no 'bind' line" for the section whose bind line was refused. Both exit 1.
#[test]
fn a_refused_bind_option_is_reported_alone_as_in_haproxy() {
    let path = write_config(
        "badbind",
        "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         frontend www\n bind 127.0.0.1:1 foo-bar\n default_backend web\n\
         backend web\n server s 127.0.0.1:1\n",
    );
    let file = path.to_str().unwrap();
    let (ours, theirs) = (ringlb(&["-c", "-f", file]), haproxy(&["-c", "-f", file]));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), theirs.status.code(), "as haproxy -c");
    let err = stderr(&ours);
    assert!(err.contains("unknown 'bind' option 'foo-bar'"), "{err}");
    assert!(!err.contains("has no 'bind' line"), "{err}");
    assert!(err.contains("1 error(s)"), "{err}");
}

/// `-q`, or `quiet` in `global`, starts without a word on stderr, as haproxy does: no limits
/// line, no line per worker.
#[test]
fn quiet_start_prints_no_startup_notices() {
    for (name, global, flags) in [("q-flag", "", &["-q"][..]), ("q-global", " quiet\n", &[])] {
        let dir = TempDir::new(name);
        let port = free_port();
        let cfg = dir.write(
            "quiet.cfg",
            &format!(
                "global\n nbthread 1\n{global}defaults\n mode http\n timeout client 5s\n \
                 timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n \
                 http-request return status 200\n"
            ),
        );
        let mut args = flags.to_vec();
        args.extend(["-f", cfg.to_str().unwrap()]);
        let lb = Ringlb::spawn(&args, dir.path().join("stderr.txt"));
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "{name}: not serving");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(http_get(addr, "/").unwrap().0, 200, "{name}");
        assert_eq!(lb.stderr(), "", "{name}");
    }
}
