//! The `previz` binary: everything lives in the library so tests can drive it.

fn main() -> std::process::ExitCode {
    previz_cli::main_with_args(std::env::args_os())
}
