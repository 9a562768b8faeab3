//! The main suite: every folder under tests/golden is a case.
//!
//! - `input.yaml`: what goes to stdin (a ResourceList, a stream, …); optional
//!   when `cmd` reads files of the case folder instead.
//! - `cmd` (optional): the arguments, one line, split on spaces; `{dir}` is the
//!   case folder. Without it the binary runs as a KRM function.
//! - `expected.yaml`, `expected.stderr`, `expected.exit`: stdout, stderr and
//!   the exit code. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites them;
//!   read the diff before committing.
//!
//! A KRM run that succeeds is run a second time on its own output and must
//! give the same bytes (idempotence).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_polyaxon-krm")
}

struct Run {
    stdout: String,
    stderr: String,
    exit: i32,
}

fn run(args: &[String], stdin: &[u8], cwd: &Path) -> Run {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin written");
    let out = child.wait_with_output().expect("binary runs");
    Run {
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        exit: out.status.code().unwrap_or(-1),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.yaml").is_file() || p.join("cmd").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => {
                out.push_str(&format!(
                    "line {}:\n  expected: {:?}\n  actual:   {:?}\n",
                    i + 1,
                    x,
                    y
                ));
                if out.len() > 4000 {
                    break;
                }
            }
        }
    }
    out
}

fn check(path: &Path, actual: &str, update: bool, failures: &mut Vec<String>) {
    if update {
        fs::write(path, actual).expect("golden written");
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{} differs:\n{}",
            path.display(),
            diff(&expected, actual)
        ));
    }
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let all = cases();
    assert!(
        all.len() >= 10,
        "expected the golden cases, found {}",
        all.len()
    );
    for dir in all {
        let input = fs::read(dir.join("input.yaml")).unwrap_or_default();
        let args: Vec<String> = fs::read_to_string(dir.join("cmd"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|a| a.replace("{dir}", &dir.display().to_string()))
            .collect();
        let out = run(&args, &input, &dir);
        check(
            &dir.join("expected.yaml"),
            &out.stdout,
            update,
            &mut failures,
        );
        check(
            &dir.join("expected.stderr"),
            &out.stderr,
            update,
            &mut failures,
        );
        check(
            &dir.join("expected.exit"),
            &format!("{}\n", out.exit),
            update,
            &mut failures,
        );
        assert!(
            !(out.exit == 0 && out.stdout.trim().is_empty()),
            "{}: exit 0 with empty output",
            dir.display()
        );
        if args.is_empty() && out.exit == 0 {
            let again = run(&args, out.stdout.as_bytes(), &dir);
            if again.stdout != out.stdout {
                failures.push(format!(
                    "{}: not idempotent:\n{}",
                    dir.display(),
                    diff(&out.stdout, &again.stdout)
                ));
            }
        }
        if out.exit != 0 && args.is_empty() && !out.stdout.is_empty() {
            // On error the items come back unchanged.
            let items_in = items_of(&String::from_utf8_lossy(&input));
            let items_out = items_of(&out.stdout);
            if items_in.is_some() && items_in != items_out {
                failures.push(format!(
                    "{}: items changed although the run failed",
                    dir.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The items of a ResourceList as JSON, to compare meaning, not bytes.
fn items_of(text: &str) -> Option<serde_json::Value> {
    let docs =
        polyaxon_krm::yaml::parse_stream(text, &polyaxon_krm::yaml::Limits::default()).ok()?;
    let root = docs.into_iter().find_map(|d| d.root)?;
    root.get("items").map(polyaxon_krm::yaml::to_json)
}
