//! The `previz` binary: everything lives in the library so tests can drive it.

fn main() -> std::process::ExitCode {
    // Tensor-sized buffers stay in the heap instead of being mapped afresh per operation.
    previz_models::memory::keep_tensor_buffers();
    previz_cli::main_with_args(std::env::args_os())
}
