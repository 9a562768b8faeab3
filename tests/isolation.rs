//! The KRM function never opens a network connection and never reads a file
//! it was not given:
//!
//! - under `unshare -n` (a network namespace with only a downed loopback) it
//!   gives the same bytes as without;
//! - under `strace -f -e trace=%file,%network` every file syscall names the
//!   dynamic loader's files, `/proc/self/...`, or a path it was given (the
//!   render folder, the plugin config), and there is no network syscall and
//!   no second `execve` — even when the input names other paths
//!   (`/etc/passwd`, a kubeconfig, `../..`) and the environment points at a
//!   kubeconfig.
//!
//! Both tools must be installed and usable (root, or CAP_SYS_ADMIN for
//! unshare and ptrace for strace); the tests fail, never skip, when they are
//! not: `apt-get install strace util-linux`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn connections_example() -> Vec<u8> {
    std::fs::read(common::repo("examples/connections/resource-list.yaml"))
        .expect("the connections example")
}

/// A ResourceList whose items mention paths the function must not touch.
fn tempting_input() -> Vec<u8> {
    let mut text = String::from_utf8(connections_example()).expect("UTF-8");
    text = text.replacen(
        "items:\n",
        "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: tempting\n    annotations:\n      internal.config.kubernetes.io/path: ../../../../etc/passwd\n      config.kubernetes.io/path: /etc/shadow\n  data:\n    kubeconfig: /root/.kube/config\n    file: file:///etc/hosts\n    url: https://example.com/x.yaml\n",
        1,
    );
    text.into_bytes()
}

fn require_unshare() {
    let ok = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`unshare -n true` failed: this test needs util-linux's unshare and the right to make a \
         network namespace (root or CAP_SYS_ADMIN; CI runs as root). `apt-get install util-linux`"
    );
}

fn run_plain(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.args(args);
    common::run(&mut cmd, stdin)
}

#[test]
fn krm_function_runs_the_same_without_a_network() {
    require_unshare();
    let input = connections_example();
    let free = run_plain(&[], &input);
    assert!(free.status.success(), "{}", common::describe(&free));
    let mut cmd = Command::new("unshare");
    cmd.arg("-n").arg("--").arg(common::bin());
    let jailed = common::run(&mut cmd, &input);
    assert!(jailed.status.success(), "{}", common::describe(&jailed));
    assert_eq!(
        String::from_utf8_lossy(&free.stdout),
        String::from_utf8_lossy(&jailed.stdout),
        "the output must not depend on the network"
    );
    assert_eq!(free.stderr, jailed.stderr);
}

#[test]
fn render_runs_the_same_without_a_network() {
    require_unshare();
    let dir = common::repo("examples/argocd/apps/train");
    let dir = dir.to_str().expect("a UTF-8 path");
    let free = run_plain(&["render", dir], b"");
    assert!(free.status.success(), "{}", common::describe(&free));
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "--"])
        .arg(common::bin())
        .args(["render", dir]);
    let jailed = common::run(&mut cmd, b"");
    assert!(jailed.status.success(), "{}", common::describe(&jailed));
    assert_eq!(free.stdout, jailed.stdout);
}

// ---------------------------------------------------------------------------
// strace

const NETWORK_CALLS: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
];

/// What the dynamic loader and the Rust runtime read in every process.
fn loader_path(path: &str) -> bool {
    matches!(path, "/etc/ld.so.cache" | "/etc/ld.so.preload")
        || [
            "/lib/",
            "/lib64/",
            "/usr/lib/",
            "/usr/lib64/",
            "/proc/self/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

struct Call {
    name: String,
    path: Option<String>,
    line: String,
}

/// `PID name(args) = result` lines; the first string argument is the path.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    for line in text.lines() {
        let rest = line
            .split_once(' ')
            .filter(|(pid, _)| pid.bytes().all(|b| b.is_ascii_digit()))
            .map_or(line, |(_, rest)| rest)
            .trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") || rest.starts_with('<') {
            continue; // exits, signals, resumed calls
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let path = args
            .split_once('"')
            .and_then(|(_, after)| after.split_once('"'))
            .map(|(path, _)| path.to_string());
        calls.push(Call {
            name: name.to_string(),
            path,
            line: line.to_string(),
        });
    }
    calls
}

/// Runs the binary under strace and returns every call that is neither the
/// loader's nor under one of `given`, nor the binary's own execve.
fn unexpected_calls(args: &[&str], stdin: &[u8], given: &[PathBuf]) -> Vec<String> {
    common::require_tool(
        "strace",
        &["-V"],
        "install it: apt-get install strace (.ci/run installs it)",
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("trace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=%file,%network", "-o"])
        .arg(&log)
        .arg("--")
        .arg(common::bin())
        .args(args)
        // cargo test points LD_LIBRARY_PATH at target/; the loader would
        // search it. Kubernetes tools never set it for a function.
        .env_remove("LD_LIBRARY_PATH")
        .env("KUBECONFIG", "/root/.kube/config")
        .env("HOME", "/root")
        .stdin(Stdio::piped());
    let out = common::run(&mut cmd, stdin);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        common::describe(&out)
    );
    let trace = std::fs::read_to_string(&log).expect("strace wrote its log");
    let bin = common::bin();
    judge(&trace, bin.to_str().expect("a UTF-8 path"), given)
}

/// The calls of a trace that are not allowed (see the module comment).
fn judge(trace: &str, bin: &str, given: &[PathBuf]) -> Vec<String> {
    let calls = parse_trace(trace);
    assert!(
        calls
            .first()
            .is_some_and(|c| c.name == "execve" && c.path.as_deref() == Some(bin)),
        "strace did not trace the binary:\n{trace}"
    );
    let mut bad = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        if NETWORK_CALLS.contains(&call.name.as_str()) {
            bad.push(format!("network: {}", call.line));
            continue;
        }
        if call.name == "execve" && i > 0 {
            bad.push(format!("runs another program: {}", call.line));
            continue;
        }
        let Some(path) = call.path.as_deref() else {
            continue;
        };
        if path.is_empty() || i == 0 || loader_path(path) {
            continue; // fd-relative (AT_EMPTY_PATH), the binary, the loader
        }
        if given
            .iter()
            .any(|g| Path::new(path).starts_with(g) || g.to_str() == Some(path))
        {
            continue;
        }
        bad.push(format!("file: {}", call.line));
    }
    bad
}

/// The checker itself catches what it is for.
#[test]
fn the_checker_flags_network_files_and_programs() {
    let trace = "\
7 execve(\"/bin/f\", [\"f\"], 0x7ffc /* 3 vars */) = 0
7 openat(AT_FDCWD, \"/etc/ld.so.cache\", O_RDONLY|O_CLOEXEC) = 3
7 newfstatat(3, \"\", {st_mode=S_IFREG|0644, ...}, AT_EMPTY_PATH) = 0
7 openat(AT_FDCWD, \"/proc/self/maps\", O_RDONLY|O_CLOEXEC) = 3
7 openat(AT_FDCWD, \"/given/dir/a.yaml\", O_RDONLY|O_CLOEXEC) = 3
7 openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3
7 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3
7 connect(3, {sa_family=AF_INET, sin_port=htons(443)}, 16) = -1 ENETUNREACH
8 execve(\"/bin/sh\", [\"sh\"], 0x7ffc /* 3 vars */) = 0
8 +++ exited with 0 +++
";
    let bad = judge(trace, "/bin/f", &[PathBuf::from("/given/dir")]);
    assert_eq!(bad.len(), 4, "{bad:#?}");
    assert!(bad[0].contains("/etc/passwd"));
    assert!(bad[1].starts_with("network: ") && bad[2].starts_with("network: "));
    assert!(bad[3].starts_with("runs another program"));
}

#[test]
fn krm_function_touches_only_its_loader() {
    let bad = unexpected_calls(&[], &tempting_input(), &[]);
    assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
}

/// A list large enough to be read, converted and written on two threads.
#[test]
fn krm_function_on_a_large_list_touches_only_its_loader() {
    let seed = std::fs::read_to_string(common::repo("examples/seed/resource-list.yaml"))
        .expect("the seed example");
    let op = &seed[seed.find("- apiVersion").expect("an item")..];
    let mut text =
        String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for i in 0..3000 {
        text.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n  data:\n    k: |\n      line one\n      line two\n"
        ));
        if i % 150 == 0 {
            text.push_str(&op.replace("name: mount-secrets", &format!("name: op-{i}")));
        }
    }
    assert!(text.len() > 256 << 10);
    let bad = unexpected_calls(&[], text.as_bytes(), &[]);
    assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
}

#[test]
fn krm_function_on_hostile_input_touches_only_its_loader() {
    for input in [
        &b""[..],
        b"\xff\xfe not utf-8",
        b"a: [[[[",
        b"- just a list\n",
    ] {
        let bad = unexpected_calls(&[], input, &[]);
        assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
    }
}

#[test]
fn render_reads_only_the_folder_it_is_given() {
    let dir = tempfile::tempdir().expect("a temp dir");
    common::copy_dir(&common::repo("examples/argocd/apps/train"), dir.path());
    let path = dir.path().to_str().expect("a UTF-8 path");
    let bad = unexpected_calls(&["render", path], b"", &[dir.path().to_path_buf()]);
    assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
}

#[test]
fn render_of_stdin_touches_only_its_loader() {
    let bad = unexpected_calls(&["render", "-"], &tempting_input(), &[]);
    assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
}

#[test]
fn legacy_plugin_reads_only_its_config_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("render-polyaxon.yaml");
    std::fs::copy(
        common::repo("examples/kustomize/render-polyaxon.yaml"),
        &config,
    )
    .expect("copy the plugin config");
    let input = std::fs::read(common::repo("examples/kustomize/operation.yaml"))
        .expect("the kustomize example operation");
    let config_arg = config.to_str().expect("a UTF-8 path");
    let bad = unexpected_calls(&[config_arg], &input, std::slice::from_ref(&config));
    assert!(bad.is_empty(), "unexpected syscalls:\n{}", bad.join("\n"));
}
