//! Drives the whole program in memory, as `main` does, and checks what no
//! input may break: the exit code is 0 or 1 (never a panic, never 2 for
//! data), an error always says something on stderr, and a success is never
//! an empty answer.

use std::ffi::OsString;

use polyaxon_krm::app::{self, Io};
use polyaxon_krm::yaml::{self, Limits};

pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub fn run(args: &[&str], input: &[u8]) -> Run {
    let mut stdin = input;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = {
        let mut io = Io {
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin_is_terminal: false,
        };
        app::run(args.iter().map(OsString::from), &mut io)
    };
    Run {
        code,
        stdout,
        stderr,
    }
}

pub fn check_exit(run: &Run) {
    assert!(
        run.code == 0 || run.code == 1,
        "exit code {} for data input; stderr: {}",
        run.code,
        String::from_utf8_lossy(&run.stderr)
    );
    if run.code == 1 {
        assert!(!run.stderr.is_empty(), "exit 1 with nothing on stderr");
    }
}

/// The items of a stream or ResourceList, as JSON values (order kept).
#[allow(dead_code)] // used by the krm target only
pub fn items_json(text: &str) -> Option<Vec<serde_json::Value>> {
    let input = polyaxon_krm::read::read_krm(text, &Limits::default()).ok()?;
    Some(input.items.iter().map(|i| yaml::to_json(&i.node)).collect())
}
