//! `previz models`: which models exist here, which are installed and verified; adding,
//! verifying and removing them. Nothing is ever downloaded.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_models::llm::gguf::GgufFile;
use previz_models::registry::{ModelKind, Registry};
use previz_models::verify::{self, AddOptions, FileStatus, Known, Ledger, ManageError};
use previz_storage::settings::Settings;
use serde::Serialize;

use crate::args::{ModelsArgs, ModelsCommand};
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Listing {
    roots: Vec<PathBuf>,
    models: Vec<Model>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Model {
    id: String,
    kind: ModelKind,
    name: String,
    installed: bool,
    path: Option<PathBuf>,
    licence: Option<String>,
    /// How to install it when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    fetch: Option<String>,
    /// What the checksum ledger knows, without reading the files.
    verified: Known,
    /// With --check: what the file's header says, or why it does not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<String>,
}

/// This user's settings, with a warning on stderr when the file cannot be used.
fn settings(json: bool) -> Settings {
    let (settings, problem) = Settings::load_default();
    if let Some(e) = problem
        && !json
    {
        eprintln!("warning: {e}; using default settings");
    }
    settings
}

pub fn run(args: &ModelsArgs, json: bool) -> Result<(), CliError> {
    let settings = settings(json);
    let registry = Registry::discover(&Registry::roots_for(&settings));
    let mut ledger = Ledger::open(settings.cache_root().as_deref());
    match &args.command {
        None => list(&registry, &ledger, args.check, json),
        Some(ModelsCommand::List { check }) => list(&registry, &ledger, *check, json),
        Some(ModelsCommand::Add {
            path,
            id,
            licence,
            copy,
            to,
        }) => {
            let dest = match to {
                Some(d) => d.clone(),
                None => {
                    Registry::user_dir().ok_or_else(|| manage_error(&ManageError::NoUserDir))?
                }
            };
            let options = AddOptions {
                id: id.clone(),
                licence: licence.clone(),
                copy: *copy,
            };
            let bar = bar(json, "hashing");
            let added = verify::add(
                path,
                &options,
                &registry,
                &dest,
                &mut ledger,
                &mut progress(&bar),
            );
            bar.finish_and_clear();
            let (manifest, file) = added.map_err(|e| manage_error(&e))?;
            save_ledger(&ledger, json);
            let total: u64 = manifest.files.iter().map(|f| f.size).sum();
            if json {
                return print_json(&serde_json::json!({
                    "id": manifest.id,
                    "kind": manifest.kind,
                    "manifest": file,
                    "files": manifest.files.len(),
                    "bytes": total,
                    "copied": copy,
                }));
            }
            let searched = Registry::roots_for(&settings)
                .iter()
                .any(|r| same_dir(r, &dest));
            let mut text = format!(
                "added {} ({}, {} file(s), {:.1} MB) — manifest {}\n",
                manifest.id,
                format!("{:?}", manifest.kind).to_lowercase(),
                manifest.files.len(),
                total as f64 / 1e6,
                file.display()
            );
            if !searched {
                let _ = writeln!(
                    text,
                    "note: {} is not a folder previz searches; add it to model_dirs in {} or PREVIZ_MODELS_DIR",
                    dest.display(),
                    Settings::default_path()
                        .map_or_else(|| "the settings".to_owned(), |p| p.display().to_string())
                );
            }
            print_text(&text)
        }
        Some(ModelsCommand::Verify { ids, force }) => {
            verify_models(&registry, &mut ledger, ids, *force, json)
        }
        Some(ModelsCommand::Remove { id }) => {
            let mut owned: Vec<PathBuf> = Registry::user_dir().into_iter().collect();
            owned.push(PathBuf::from("models/cache"));
            let removed =
                verify::remove(&registry, id, &owned, &mut ledger).map_err(|e| manage_error(&e))?;
            save_ledger(&ledger, json);
            if json {
                return print_json(&removed);
            }
            let mut text = String::new();
            for p in &removed.deleted {
                let _ = writeln!(text, "deleted {}", p.display());
            }
            for (p, why) in &removed.kept {
                let _ = writeln!(text, "kept    {}: {why}", p.display());
            }
            if removed.deleted.is_empty() && removed.kept.is_empty() {
                let _ = writeln!(text, "{id} has no files here; nothing to remove");
            }
            print_text(&text)
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn manage_error(e: &ManageError) -> CliError {
    match e {
        ManageError::Io { path, .. } => CliError::failure(e.to_string()).at(path, None, None),
        _ => CliError::bad_input(e.to_string()),
    }
}

fn save_ledger(ledger: &Ledger, json: bool) {
    if let Err(e) = ledger.save()
        && !json
    {
        eprintln!("warning: the checksum ledger was not saved ({e}); the next verify hashes again");
    }
}

fn bar(json: bool, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{wide_msg}} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn progress(bar: &ProgressBar) -> impl FnMut(&Path, u64, u64) + '_ {
    move |file, done, total| {
        if bar.length() != Some(total) {
            bar.set_length(total);
            bar.set_message(
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        bar.set_position(done);
    }
}

fn verify_models(
    registry: &Registry,
    ledger: &mut Ledger,
    ids: &[String],
    force: bool,
    json: bool,
) -> Result<(), CliError> {
    let mut chosen = Vec::new();
    for id in ids {
        let key = id.to_lowercase();
        let entry = registry
            .entries
            .iter()
            .find(|e| e.id == key)
            .ok_or_else(|| manage_error(&ManageError::Unknown { id: id.clone() }))?;
        chosen.push(entry);
    }
    if ids.is_empty() {
        chosen.extend(
            registry
                .entries
                .iter()
                .filter(|e| e.path.is_some() && e.manifest.is_some()),
        );
    }
    let bar = bar(json, "verifying");
    let mut reports = Vec::new();
    for entry in chosen {
        reports.push(verify::verify(entry, ledger, force, &mut progress(&bar)));
    }
    bar.finish_and_clear();
    save_ledger(ledger, json);
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.failed() || (r.note.is_some() && !ids.is_empty()))
        .map(|r| r.id.as_str())
        .collect();
    if json {
        print_json(&serde_json::json!({ "models": reports, "failed": failed }))?;
    } else {
        let mut text = String::new();
        for r in &reports {
            if let Some(note) = &r.note {
                let _ = writeln!(text, "{:<28} {note}", r.id);
                continue;
            }
            let state = if r.ok() { "verified" } else { "FAILED" };
            let _ = writeln!(text, "{:<28} {state}", r.id);
            for f in &r.files {
                let line = match &f.status {
                    FileStatus::Verified if f.remembered => {
                        "ok (verified before, unchanged since)".to_owned()
                    }
                    FileStatus::Verified => "ok (sha256 matches)".to_owned(),
                    FileStatus::Missing => {
                        "MISSING: put the file back or fetch the model again".to_owned()
                    }
                    FileStatus::WrongSize { expected, actual } => format!(
                        "WRONG SIZE: {actual} bytes, expected {expected} (truncated or replaced); fetch or copy it again"
                    ),
                    FileStatus::Corrupt { expected, actual } => format!(
                        "CORRUPT: sha256 {actual}, expected {expected}; fetch or copy it again"
                    ),
                    FileStatus::Unreadable { message } => format!("UNREADABLE: {message}"),
                };
                let _ = writeln!(text, "    {}  {line}", f.path.display());
            }
        }
        if reports.is_empty() {
            text.push_str("no installed model has checksums to verify (`previz models add PATH` records them)\n");
        }
        print_text(&text)?;
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "not verified: {}; see above for each file and what to do",
            failed.join(", ")
        )))
    }
}

fn list(registry: &Registry, ledger: &Ledger, check: bool, json: bool) -> Result<(), CliError> {
    let models = registry
        .entries
        .iter()
        .map(|e| Model {
            id: e.id.clone(),
            kind: e.kind,
            name: e.name.clone(),
            installed: e.path.is_some(),
            path: e.path.clone(),
            licence: e.manifest.as_ref().map(|m| m.licence.clone()),
            fetch: e.path.is_none().then(|| e.install_hint()),
            verified: verify::known(e, ledger),
            check: match (&e.path, check, e.kind) {
                (Some(path), true, ModelKind::Llm) => Some(match GgufFile::open(path) {
                    Ok(g) => format!(
                        "ok: {} ({}), context {}",
                        g.display_name(),
                        g.architecture().unwrap_or("unknown architecture"),
                        g.context_length().unwrap_or(0)
                    ),
                    Err(e) => format!("does not load: {e}"),
                }),
                _ => None,
            },
        })
        .collect();
    let listing = Listing {
        roots: registry.roots.clone(),
        models,
        problems: registry.problems.iter().map(ToString::to_string).collect(),
    };
    if json {
        return print_json(&listing);
    }
    let mut out = String::new();
    for m in &listing.models {
        let state = match &m.path {
            Some(p) => {
                let verified = match m.verified {
                    Known::Verified => "verified  ",
                    Known::Unverified => "unverified",
                    Known::Damaged => "DAMAGED   ",
                    Known::NoChecksums | Known::NotInstalled => "no sums   ",
                };
                format!("installed {verified} {}", p.display())
            }
            None => format!("missing   {}", m.fetch.as_deref().unwrap_or("")),
        };
        let _ = writeln!(
            out,
            "{:<28} {:<9} {state}",
            m.id,
            format!("{:?}", m.kind).to_lowercase()
        );
        if let Some(check) = &m.check {
            let _ = writeln!(out, "{:<38} {check}", "");
        }
    }
    for p in &listing.problems {
        let _ = writeln!(out, "warning: {p}");
    }
    let _ = writeln!(
        out,
        "models folders: {}",
        listing
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    print_text(&out)
}
