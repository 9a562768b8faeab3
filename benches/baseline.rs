//! The floor the whole function is measured against: read stdin, parse it
//! with our YAML module and write it back (`yaml::parse_stream` +
//! `yaml::write_stream`), nothing else. Built by `cargo bench --no-run`
//! (scripts/bench.sh runs it); under `cargo bench` itself it does nothing.

use std::io::{Read as _, Write as _};

use polyaxon_krm::yaml::{self, Limits, Node};

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        return; // `cargo bench` runs every bench target; this one is a tool.
    }
    let mut bytes = Vec::new();
    if std::io::stdin().lock().read_to_end(&mut bytes).is_err() {
        std::process::exit(1);
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        eprintln!("error: not UTF-8");
        std::process::exit(1);
    };
    let docs = match yaml::parse_stream(text, &Limits::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let roots: Vec<&Node> = docs.iter().filter_map(|d| d.root.as_ref()).collect();
    let out = yaml::write_stream(&roots);
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}
