//! Prints a screenplay file (.fountain or .fdx) as the crate's JSON, or, with `--fountain`,
//! as Fountain text. Handy for checking the JSON contract by hand and for the differential
//! tests' tooling:
//!
//! ```text
//! cargo run -p previz-screenplay --example screenplay_json -- assets/screenplays/every-feature.fountain
//! ```

// This is a command-line tool: printing is its job.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let fountain = args.iter().any(|a| a == "--fountain");
    args.retain(|a| a != "--fountain");
    let Some(path) = args.first() else {
        eprintln!("usage: screenplay_json [--fountain] FILE.fountain|FILE.fdx");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let parsed = if path.to_ascii_lowercase().ends_with(".fdx") {
        previz_screenplay::parse_fdx(&bytes)
    } else {
        previz_screenplay::parse_fountain_bytes(&bytes)
    };
    match parsed {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                eprintln!("{path}:{warning}");
            }
            if fountain {
                print!("{}", previz_screenplay::write_fountain(&parsed.screenplay));
                return ExitCode::SUCCESS;
            }
            match serde_json::to_string_pretty(&parsed.screenplay) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("{path}: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("{}", error.with_path(path));
            ExitCode::FAILURE
        }
    }
}
