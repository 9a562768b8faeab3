//! Small helpers shared by integration tests: where the binary and the repo
//! are, golden files with `UPDATE_EXPECTED=1`, readable diffs, directory
//! snapshots and external tools that must be installed.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `polyaxon-krm` binary cargo built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_polyaxon-krm"))
}

/// A path inside the repository (the crate root).
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `PATH` with the binary's directory first, so tools can run it by its bare
/// name (kpt resolves a relative exec path against its own cwd).
pub fn path_with_bin() -> OsString {
    let dir = bin()
        .parent()
        .expect("the binary has a parent directory")
        .to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest)))
        .expect("PATH entries contain no separator")
}

/// True when the caller asked to rewrite expected files.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECTED").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the file at `expected` (or rewrites it when
/// `UPDATE_EXPECTED=1`); on a difference, panics with a line diff.
pub fn assert_matches_file(expected: &Path, actual: &str) {
    if updating() {
        if let Some(dir) = expected.parent() {
            std::fs::create_dir_all(dir).expect("create the expected file's folder");
        }
        std::fs::write(expected, actual).expect("write the expected file");
        eprintln!("updated {}: check it by hand", expected.display());
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\n(run with UPDATE_EXPECTED=1 to create it, then check it by hand)",
            expected.display()
        )
    });
    if want != actual {
        panic!(
            "output differs from {} (- expected, + actual; UPDATE_EXPECTED=1 rewrites it):\n{}",
            expected.display(),
            diff(&want, actual)
        );
    }
}

/// A unified-style line diff with three lines of context.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (k, &(sign, line)) in ops.iter().enumerate() {
        let near = changed
            .iter()
            .any(|&c| k + CONTEXT >= c && k <= c + CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|l| l + 1 != k) || (last_shown.is_none() && k > 0) {
            out.push_str("@@ ... @@\n");
        }
        let shown = line.strip_suffix('\n').unwrap_or(line);
        let shown = shown.replace('\r', "\u{240d}"); // make CRLF visible
        let _ = write!(out, "{sign}{shown}");
        out.push_str(if line.ends_with('\n') {
            "\n"
        } else {
            "\u{23ce} (no newline at end)\n"
        });
        last_shown = Some(k);
    }
    if out.is_empty() && expected != actual {
        out.push_str("(the texts differ but no line does)\n");
    }
    out
}

/// Every file under `root` (relative path → bytes), skipping the paths for
/// which `skip` (given the relative path) is true.
pub fn snapshot(root: &Path, skip: &dyn Fn(&Path) -> bool) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(
        root: &Path,
        dir: &Path,
        skip: &dyn Fn(&Path) -> bool,
        out: &mut BTreeMap<PathBuf, Vec<u8>>,
    ) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under the root")
                .to_path_buf();
            if skip(&rel) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, skip, out);
            } else {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                out.insert(rel, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

/// Panics with the missing, extra and differing files (with diffs).
pub fn assert_same_tree(
    what: &str,
    expected: &BTreeMap<PathBuf, Vec<u8>>,
    actual: &BTreeMap<PathBuf, Vec<u8>>,
) {
    let mut report = String::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => {
                let _ = writeln!(report, "missing file {}", path.display());
            }
            Some(got) if got != want => {
                let _ = writeln!(
                    report,
                    "file {} differs (- expected, + actual):\n{}",
                    path.display(),
                    diff(
                        &String::from_utf8_lossy(want),
                        &String::from_utf8_lossy(got)
                    )
                );
            }
            Some(_) => {}
        }
    }
    for (path, got) in actual {
        if !expected.contains_key(path) {
            let _ = writeln!(
                report,
                "unexpected file {}:\n{}",
                path.display(),
                String::from_utf8_lossy(got)
            );
        }
    }
    assert!(report.is_empty(), "{what}:\n{report}");
}

/// Copies a directory tree (regular files and folders).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", src.display()));
        }
    }
}

/// Fails the test (never skips it) when `tool` cannot be started.
pub fn require_tool(tool: &str, version_args: &[&str], install: &str) {
    match Command::new(tool)
        .args(version_args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{tool} {}` failed ({}): {}\n{install}",
            version_args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run `{tool}` ({e}): this test runs the real tool.\n{install}"),
    }
}

/// Runs a command to completion, feeding `stdin`.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for {cmd:?}: {e}"));
    // A tool that exits without reading its input gives a broken pipe: fine.
    let _ = writer.join();
    out
}

/// Everything a failed assertion should show about a process.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
