//! The headless `previz` command line: new, import, info, validate, export.
//!
//! Errors are handled once, here: each becomes one line on stderr (or one JSON object with
//! `--json`) and an exit status: 0 success, 1 failure, 2 bad input or usage.

mod args;
mod commands;
mod output;
mod screenplay_file;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
pub use output::{CliError, ErrorKind};

/// Runs the command line with these arguments (the first is the program name).
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version on stdout with status 0, usage errors on stderr
            // with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            output::print_error(&error, json);
            ExitCode::from(error.kind.exit_status())
        }
    }
}
