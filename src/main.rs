use std::io::IsTerminal;

/// Bounds what one template may allocate (see `template_guard`).
#[global_allocator]
static ALLOCATOR: polyaxon_krm::template_guard::Budgeted = polyaxon_krm::template_guard::Budgeted;

fn main() {
    // The work runs on a thread with the stack every thread of ours gets:
    // a template can nest a value as deep as its fuel allows, and printing
    // it recurses. Should no thread start, it runs here.
    let code = std::thread::Builder::new()
        .stack_size(polyaxon_krm::parallel::STACK_BYTES)
        .spawn(run)
        .ok()
        .and_then(|worker| worker.join().ok())
        .unwrap_or_else(run);
    std::process::exit(code);
}

fn run() -> i32 {
    let stdin = std::io::stdin();
    let stdin_is_terminal = stdin.is_terminal();
    let mut io = polyaxon_krm::app::Io {
        stdin: &mut stdin.lock(),
        stdout: &mut std::io::stdout().lock(),
        stderr: &mut std::io::stderr().lock(),
        stdin_is_terminal,
    };
    polyaxon_krm::app::run(std::env::args_os(), &mut io)
}
