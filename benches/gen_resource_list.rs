//! `gen-resource-list [--seed N] [--stream] [--ops PERCENT] [--no-kpt] COUNT`:
//! writes a deterministic, realistic ResourceList (or `---` stream) to stdout.
//! Built by `cargo bench --no-run` (scripts/bench.sh runs it); under
//! `cargo bench` itself it does nothing.

use std::io::Write as _;

mod fixtures;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench") {
        return; // `cargo bench` runs every bench target; this one is a tool.
    }
    match fixtures::parse_args(&args) {
        Ok(options) => {
            let text = fixtures::generate(&options);
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
