//! The subcommands.

mod batch;
mod breakdown;
mod conform;
mod doctor;
mod export;
mod farm;
mod frames;
mod fsck;
mod import;
mod info;
mod ingest;
mod models;
mod new;
mod script;
mod shared;
mod store;
mod validate;
mod voices;

use std::path::{Path, PathBuf};

use previz_storage::{OpenMode, OpenReport, Session, StorageError};

use crate::args::{Cli, Command};
use crate::output::CliError;

pub fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    match cli.command {
        Command::New(args) => new::run(&args, json),
        Command::Import(args) => import::run(&args, json),
        Command::Info(args) => info::run(&args, json),
        Command::Validate(args) => validate::run(&args, json),
        Command::Breakdown(args) => breakdown::run(&args, json),
        Command::Voices(args) => voices::run(&args, json),
        Command::Frames(args) => frames::run(&args, json),
        Command::Export(args) => export::run(&args, json),
        Command::Conform(args) => conform::run(&args, json),
        Command::Models(args) => models::run(&args, json),
        Command::Doctor(args) => doctor::run(&args, json),
        Command::Batch(args) => batch::run(&args, json),
        Command::Fsck(args) => fsck::run(&args, json),
        Command::Ingest(args) => ingest::run(&args, json),
        Command::Store(args) => store::run(&args, json),
        Command::Shared(args) => shared::run(&args, json),
        Command::Script(args) => script::run(&args, json),
        Command::Farm(args) => farm::run(&args, json),
    }
}

/// A storage error as the CLI reports it: unreadable project files and non-projects are bad
/// input (exit 2), everything else is a failure (exit 1).
pub fn storage_error(e: &StorageError) -> CliError {
    match e {
        StorageError::Format { path, source, .. } => {
            let (line, column) = source
                .position()
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            let mut message = source.to_string();
            if !message.contains("backup") {
                message.push_str("; earlier saves are kept in the project's backups/ folder");
            }
            message.push_str(" (`previz info` lists them)");
            CliError::bad_input(message).at(path, line, column)
        }
        StorageError::NotAProject { .. } | StorageError::AlreadyExists { .. } => {
            CliError::bad_input(e.to_string())
        }
        StorageError::Io { .. } if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {
            CliError::bad_input(e.to_string())
        }
        _ => CliError::failure(e.to_string()),
    }
}

/// Finds the project folder a command means: the path given (a folder, or its project.json),
/// else the current folder if it is a project, else the only `*.previz` folder in it.
pub fn project_dir(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = given {
        if path.file_name().is_some_and(|n| n == "project.json") {
            return Ok(path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf));
        }
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_dir()
        .map_err(|e| CliError::failure(format!("cannot read the current folder: {e}")))?;
    if here.join("project.json").is_file() {
        return Ok(here);
    }
    let candidates: Vec<PathBuf> = std::fs::read_dir(&here)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.extension().is_some_and(|x| x == "previz"))
                .collect()
        })
        .unwrap_or_default();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::bad_input(
            "no project here: give the project folder (NAME.previz), or run this inside it",
        )),
        many => Err(CliError::bad_input(format!(
            "{} projects here ({}): say which one",
            many.len(),
            many.iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Opens a project, printing what recovery did on stderr.
pub fn open(dir: &Path, mode: OpenMode, json: bool) -> Result<(Session, OpenReport), CliError> {
    let (session, report) = Session::open(dir, mode).map_err(|e| storage_error(&e))?;
    if !json {
        for message in report.messages() {
            eprintln!("previz: {}: {message}", dir.display());
        }
    }
    Ok((session, report))
}

/// Closes a session, reporting (not failing on) trouble releasing the lock.
pub fn close(session: Session) {
    if let Err(e) = session.close() {
        eprintln!("previz: warning: {e}");
    }
}
