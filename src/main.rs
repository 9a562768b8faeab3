use std::io::IsTerminal;

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
