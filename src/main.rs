use std::io::IsTerminal;

/// Bounds what one template may allocate (see `memory`).
#[global_allocator]
static ALLOCATOR: polyaxon_krm::memory::Budgeted = polyaxon_krm::memory::Budgeted;

fn main() {
    let stdin = std::io::stdin();
    let stdin_is_terminal = stdin.is_terminal();
    let mut io = polyaxon_krm::app::Io {
        stdin: &mut stdin.lock(),
        stdout: &mut std::io::stdout().lock(),
        stderr: &mut std::io::stderr().lock(),
        stdin_is_terminal,
    };
    std::process::exit(polyaxon_krm::app::run(std::env::args_os(), &mut io));
}
