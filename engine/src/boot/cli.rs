//! The command line: haproxy's flags (`-f`, `-c`, `-v`, `-vv`, `-d`, `-D`, `-p`, `-sf`, `-st`,
//! `-x`, `-W`, `-Ws`, `-S`, `-cc`, `-dW`, `-q`, `-V`, `-C`, `-L`, `-m`, `-n`, `-N`) on top of
//! clap; serving itself is `lifecycle`'s.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ringlb_config::ccexpr::{self, CcEnv};
use ringlb_config::{Diagnostic, Loaded, Severity};

use crate::boot::check_cmd::{self, CheckArgs};
use crate::boot::lifecycle::{self, master, master_cli, ProcessOptions};
use crate::boot::overrides::Overrides;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build features, as `-vv` lists them and `-cc 'feature(X)'` tests them.
pub const FEATURES: &[&str] = &[
    "IO_URING",
    "EPOLL",
    "SPLICE",
    "REUSEPORT",
    "THREAD",
    "CPU_AFFINITY",
    "MIMALLOC",
];

/// Features HAProxy users may look for that this build does not have.
const MISSING_FEATURES: &[&str] = &["OPENSSL", "LUA", "PCRE", "ZLIB", "QUIC", "PROMEX"];

#[derive(Debug, Parser)]
#[command(
    name = "ringlb",
    version = VERSION,
    disable_version_flag = true,
    about = "Load-balancing reverse proxy reading HAProxy's configuration language",
    after_help = "Flags are haproxy's: -f FILE, -c, -v, -vv, -d, -D, -W, -Ws, -S SOCKET, -p FILE, -sf PID…, -st PID…, -x SOCKET, -cc EXPR, -q, -V, -C DIR, -L NAME, -m MB, -n N, -N N."
)]
pub struct Args {
    /// Configuration file or directory (its *.cfg in name order); repeatable.
    #[arg(short = 'f', value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Check the configuration and exit: 0 when valid, 1 otherwise.
    #[arg(short = 'c')]
    pub check: bool,

    /// Print the version and exit.
    #[arg(short = 'v')]
    pub version: bool,

    /// Print the version, build features and io_uring availability, and exit.
    #[arg(long = "vv")]
    pub version_verbose: bool,

    /// Foreground with debug output.
    #[arg(short = 'd')]
    pub debug: bool,

    /// Run as a daemon.
    #[arg(short = 'D')]
    pub daemon: bool,

    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,

    /// Ask these old processes to finish their work and exit once this one serves.
    #[arg(long = "sf", value_name = "PID", num_args = 1.., allow_negative_numbers = false)]
    pub soft_stop_pids: Vec<u32>,

    /// Stop these old processes immediately once this one serves.
    #[arg(long = "st", value_name = "PID", num_args = 1..)]
    pub hard_stop_pids: Vec<u32>,

    /// Evaluate a conditional expression: exit 0 when true, 1 when false, 2 when invalid.
    #[arg(long = "cc", value_name = "EXPR")]
    pub cond: Option<String>,

    /// Zero-warning mode (haproxy's `-dW`): a configuration with warnings is refused, with
    /// `-c` and when starting.
    #[arg(long = "dW", hide = true)]
    pub zero_warning: bool,

    /// Quiet: print nothing on success.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Verbose: undoes `quiet` from the global section.
    #[arg(short = 'V')]
    pub verbose: bool,

    /// Master-worker mode.
    #[arg(short = 'W')]
    pub master_worker: bool,

    /// Master-worker mode for systemd (`Type=notify`): readiness, reloads and stops are
    /// reported to `$NOTIFY_SOCKET`.
    #[arg(long = "Ws")]
    pub master_worker_systemd: bool,

    /// The master CLI: `SOCKET[,mode,MODE][,user,USER][,group,GROUP][,level,LEVEL]` (a
    /// Unix path or `ipv4@ADDR:PORT`); master-worker mode only.
    #[arg(short = 'S', value_name = "SOCKET")]
    pub master_cli: Option<String>,

    /// Change to this directory before reading the configuration.
    #[arg(short = 'C', value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// Local peer name (default: the host name), in `$HAPROXY_LOCALPEER`.
    #[arg(short = 'L', value_name = "NAME")]
    pub local_peer: Option<String>,

    /// Limit the process's memory (address space) to this many megabytes.
    #[arg(short = 'm', value_name = "MB")]
    pub memory_mb: Option<u64>,

    /// Global maxconn, over the configuration's.
    #[arg(short = 'n', value_name = "N")]
    pub maxconn: Option<u32>,

    /// Default maxconn of every frontend that sets none.
    #[arg(short = 'N', value_name = "N")]
    pub proxy_maxconn: Option<u32>,

    /// Take the listening sockets from this Unix socket (`@NAME`: abstract) first; with
    /// -sf/-st they are taken from the old process without it.
    #[arg(short = 'x', value_name = "SOCKET")]
    pub sockets_from: Option<String>,

    /// Server state file: applied at start (`server BACKEND SERVER up|down WEIGHT` lines).
    #[arg(long = "server-state", value_name = "FILE")]
    pub server_state: Option<PathBuf>,

    /// Take the server state from this Unix socket (used by the master for its workers).
    #[arg(long = "state-from", value_name = "SOCKET", hide = true)]
    pub state_from: Option<String>,

    /// Run as a worker of a master process (set by the master).
    #[arg(long = "master-child", hide = true)]
    pub master_child: bool,

    /// A listening socket inherited from the master, served as an admin-level runtime
    /// socket: the master CLI forwards `@1 COMMAND` there (set by the master).
    #[arg(long = "master-cli-fd", value_name = "FD", hide = true)]
    pub master_cli_fd: Option<i32>,

    /// Print the normalized configuration in HAProxy syntax and exit.
    #[arg(long = "dump")]
    pub dump: bool,

    /// Force the epoll driver instead of io_uring.
    #[arg(long = "legacy-driver")]
    pub legacy_driver: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands beside serving; haproxy's flags keep their meaning without one.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running ringlb (for keepalived's vrrp_script): exit 0 when healthy.
    Check(CheckArgs),
}

/// Rewrites haproxy-style multi-letter single-dash flags (`-sf`, `-st`, `-cc`, `-vv`, `-dW`,
/// `-Ws`)
/// into the long forms clap understands, and drops the other `-d*` debug flags, which only
/// change haproxy's debugging output.
pub fn normalize_argv(argv: impl IntoIterator<Item = String>) -> Vec<String> {
    argv.into_iter()
        .enumerate()
        .filter_map(|(i, a)| {
            if i == 0 {
                return Some(a);
            }
            match a.as_str() {
                "-sf" | "-st" | "-cc" | "-vv" | "-dW" | "-Ws" => Some(format!("-{a}")),
                // haproxy's `-db` means foreground: ringlb stays in the foreground unless -D.
                "-db" => None,
                s if s.starts_with("-d")
                    && s.len() > 2
                    && s.as_bytes()[2].is_ascii_alphabetic() =>
                {
                    None
                }
                _ => Some(a),
            }
        })
        .collect()
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let args = Args::parse_from(normalize_argv(std::env::args()));
    run(args)
}

fn run(args: Args) -> i32 {
    if let Some(Command::Check(check)) = &args.command {
        return check_cmd::run(check);
    }
    if args.version || args.version_verbose {
        print_version(args.version_verbose);
        return 0;
    }
    if let Some(expr) = &args.cond {
        return evaluate_condition(expr);
    }
    if args.files.is_empty() {
        eprintln!("ringlb: no configuration file given");
        eprintln!(
            "    help: name one with -f FILE (for example: ringlb -f examples/quickstart.cfg)"
        );
        return 1;
    }

    let overrides = args.overrides();
    if let Err(e) = overrides.prepare_process() {
        eprintln!("ringlb: {e}");
        return 1;
    }
    let loaded = ringlb_config::load(&args.files);
    // `-q` or `quiet` in global hide the warnings and the verdict; `-V` shows them anyway.
    let quiet =
        (args.quiet || loaded.config.as_ref().is_some_and(|c| c.global.quiet)) && !args.verbose;
    print_diagnostics(&loaded, quiet);
    let Some(mut config) = loaded.config else {
        return 1;
    };
    overrides.apply(&mut config);
    if args.zero_warning
        && loaded
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning)
    {
        // haproxy's words and exit code, with -c and when starting alike.
        eprintln!("ringlb: Some warnings were found and 'zero-warning' is set. Aborting.");
        return 1;
    }
    let listens = has_listener(&config);
    if args.check {
        // haproxy's exit code and words: valid, but nothing would ever be accepted.
        if !listens {
            println!(
                "Configuration file has no error but will not start (no listener) => exit(2)."
            );
            return 2;
        }
        if !quiet {
            println!("Configuration file is valid");
        }
        return 0;
    }
    if args.dump {
        print!("{}", ringlb_config::dump::dump(&config));
        return 0;
    }
    if !listens {
        eprintln!("ringlb: no enabled listener found (check for 'bind' directives); exiting");
        return 1;
    }
    if let Err(e) = overrides.limit_memory(&config) {
        eprintln!("ringlb: {e}");
        return 1;
    }
    serve(config, &args)
}

impl Args {
    fn overrides(&self) -> Overrides {
        Overrides {
            chdir: self.chdir.clone(),
            local_peer: self.local_peer.clone(),
            memory_mb: self.memory_mb,
            maxconn: self.maxconn,
            proxy_maxconn: self.proxy_maxconn,
        }
    }
}

fn serve(mut config: ringlb_config::Config, args: &Args) -> i32 {
    let quiet = (args.quiet || config.global.quiet) && !args.verbose;
    if let Some(fd) = args.master_cli_fd {
        config
            .global
            .stats_sockets
            .push(master_cli::worker_socket(fd));
    }
    if !quiet && !args.master_child {
        for notice in crate::boot::pending::not_applied(&config) {
            eprintln!("ringlb: warning: {notice}");
        }
    }
    let process = ProcessOptions {
        daemon: (args.daemon || config.global.daemon) && !args.master_child,
        quiet,
        pidfile: if args.master_child {
            None
        } else {
            args.pidfile.clone()
        },
        soft_stop_pids: args.soft_stop_pids.clone(),
        hard_stop_pids: args.hard_stop_pids.clone(),
        sockets_from: args.sockets_from.clone(),
        state_from: args.state_from.clone(),
        state_file: args.server_state.clone(),
        legacy_driver: args.legacy_driver,
        supervised: args.master_child,
    };
    let master_worker =
        args.master_worker || args.master_worker_systemd || config.global.master_worker;
    if master_worker && !args.master_child {
        let mut process = process;
        process.pidfile = process.pidfile.or_else(|| config.global.pidfile.clone());
        let cli = match args.master_cli.as_deref().map(master_cli::Spec::parse) {
            Some(Ok(spec)) => Some(spec),
            Some(Err(e)) => {
                eprintln!("ringlb: -S: {e}");
                return 1;
            }
            None => None,
        };
        let opts = master::MasterOptions {
            files: args.files.clone(),
            process,
            overrides: args.overrides(),
            cli,
        };
        return master::run_master(config, opts);
    }
    if args.master_cli.is_some() && !args.master_child {
        // haproxy's behaviour: warned about, not bound.
        eprintln!(
            "ringlb: warning: a master CLI socket (-S) was given, but master-worker mode \
             (-W or -Ws) is not enabled; it is not opened"
        );
    }
    lifecycle::serve(config, &process)
}

/// Whether anything would accept connections: an enabled frontend or listen (each has a
/// `bind` line, the parser sees to that) or a `stats socket`.
fn has_listener(config: &ringlb_config::Config) -> bool {
    config.frontends().any(|p| !p.disabled) || !config.global.stats_sockets.is_empty()
}

/// Warnings and errors to stderr, in file order; warnings are hidden by `-q`.
pub(crate) fn print_diagnostics(loaded: &Loaded, quiet: bool) {
    for d in &loaded.diagnostics {
        if quiet && d.severity == Severity::Warning {
            continue;
        }
        eprintln!("{d}");
    }
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d: &&Diagnostic| d.is_error())
        .count();
    if errors > 0 {
        eprintln!("ringlb: {errors} error(s) found in the configuration");
    }
}

fn print_version(verbose: bool) {
    println!("ringlb version {VERSION}");
    if !verbose {
        return;
    }
    let on: Vec<String> = FEATURES.iter().map(|f| format!("+{f}")).collect();
    let off: Vec<String> = MISSING_FEATURES.iter().map(|f| format!("-{f}")).collect();
    println!("Feature list : {} {}", on.join(" "), off.join(" "));
    println!(
        "Running on: {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!(
        "io_uring: {}",
        if monoio::utils::detect_uring() {
            "usable on this kernel (workers use it; epoll is the fallback)"
        } else {
            "not usable on this kernel (workers use epoll)"
        }
    );
    println!(
        "Online CPUs: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

fn evaluate_condition(expr: &str) -> i32 {
    let env = CcEnv {
        version: VERSION,
        features: FEATURES,
        env: &ringlb_config::lexer::process_env,
    };
    // The expression arrives as one shell word; split it the way a configuration line is.
    let words = match ringlb_config::lexer::split_line(expr, &ringlb_config::lexer::process_env) {
        Ok(words) => words,
        Err((message, help)) => {
            eprintln!("ringlb: -cc: {message}\n    help: {help}");
            return 2;
        }
    };
    match ccexpr::eval(&words, &env) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(message) => {
            eprintln!("ringlb: -cc: cannot evaluate '{expr}': {message}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        normalize_argv(s.split_whitespace().map(String::from))
    }

    #[test]
    fn haproxy_multi_letter_flags_become_long_flags() {
        assert_eq!(
            argv("ringlb -f a.cfg -sf 12 13 -vv"),
            ["ringlb", "-f", "a.cfg", "--sf", "12", "13", "--vv"]
        );
        assert_eq!(
            argv("ringlb -cc x -st 4"),
            ["ringlb", "--cc", "x", "--st", "4"]
        );
    }

    #[test]
    fn unknown_debug_flags_are_dropped_but_d_and_capital_d_stay() {
        assert_eq!(
            argv("ringlb -dM -db -dV -d -D -f x -dW"),
            ["ringlb", "-d", "-D", "-f", "x", "--dW"]
        );
    }

    #[test]
    fn soft_stop_takes_every_following_pid() {
        let args = Args::parse_from(argv("ringlb -f a.cfg -sf 10 11 12 -p /run/x.pid"));
        assert_eq!(args.soft_stop_pids, [10, 11, 12]);
        assert_eq!(args.pidfile, Some(PathBuf::from("/run/x.pid")));
        assert_eq!(args.files, [PathBuf::from("a.cfg")]);
    }

    #[test]
    fn check_command_takes_its_own_probes() {
        let args = Args::parse_from(argv(
            "ringlb check --pid /run/ringlb.pid --url http://127.0.0.1/healthz",
        ));
        let Some(Command::Check(check)) = args.command else {
            panic!("check is a command: {args:?}");
        };
        assert_eq!(check.pid, Some(PathBuf::from("/run/ringlb.pid")));
        assert_eq!(check.url.as_deref(), Some("http://127.0.0.1/healthz"));
        assert!(!args.check, "not haproxy's -c");
    }

    #[test]
    fn repeated_f_collects_every_file() {
        let args = Args::parse_from(argv("ringlb -c -f a.cfg -f conf.d"));
        assert!(args.check);
        assert_eq!(
            args.files,
            [PathBuf::from("a.cfg"), PathBuf::from("conf.d")]
        );
    }
}
