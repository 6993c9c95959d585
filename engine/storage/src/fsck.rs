//! `previz fsck`: is every medium a project names there and intact?
//!
//! Every asset the document registers or a take or clip names is looked up in the
//! content-addressed store and its bytes re-hashed (streamed: rushes can be large). Missing and
//! damaged assets are reported with what uses them (shot and take, line, clip). Files in the
//! store nobody names are listed as orphans (kept: another project of the show, or an undo, may
//! want them). With `repair`:
//!
//! * a damaged file is moved aside into `assets/damaged/` (never deleted) so a later put of the
//!   right bytes can land;
//! * a shot or line whose chosen take lost its medium falls back to its newest intact take
//!   (one undo step, saved), so the animatic shows a real frame instead of "media offline";
//! * a project file that no longer reads is set aside and the newest backup that reads is put in
//!   its place (the journal of edits since is kept aside too, and replayed on open if it
//!   applies).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use previz_core::ContentHash;
use previz_core::edit::EditCommand;
use previz_core::project::Project;
use previz_core::timeline::{ClipSource, Item};
use serde::Serialize;

use crate::assets::AssetStore;
use crate::layout::ProjectPaths;
use crate::session::{OpenMode, Session};
use crate::{Access, StorageError, atomic, backup};

/// One problem with one asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssetProblem {
    pub hash: String,
    pub path: PathBuf,
    /// `missing` or `damaged` (its bytes hash to something else).
    pub problem: String,
    /// What names it: `shot 3.2 take 1a2b3c4d`, `line MARA (2:4)`, `clip on V1`.
    pub used_by: Vec<String>,
    /// The show store still has it (`fsck --repair` fetches it back).
    #[serde(default)]
    pub in_show_store: bool,
}

/// What `fsck` found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FsckReport {
    pub project: PathBuf,
    /// Assets checked (re-hashed).
    pub checked: usize,
    pub bytes: u64,
    pub problems: Vec<AssetProblem>,
    /// Store files no document names.
    pub orphans: Vec<PathBuf>,
    /// What the repair changed, in words.
    pub repaired: Vec<String>,
    /// The project file did not read and a backup was put in its place (or, without repair,
    /// would be).
    pub restored_from: Option<PathBuf>,
    /// Paths in the project that are absolute or lead outside it (a character's LoRA), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsafe_paths: Vec<String>,
    /// The project's show store (`store.json`) could not be opened: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_problem: Option<String>,
}

impl FsckReport {
    /// Nothing missing or damaged.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
            && self.restored_from.is_none()
            && self.store_problem.is_none()
            && self.unsafe_paths.is_empty()
    }
}

/// Every asset the document names, with who names it.
fn users(project: &Project) -> BTreeMap<ContentHash, Vec<String>> {
    let mut out: BTreeMap<ContentHash, Vec<String>> = BTreeMap::new();
    for hash in project.assets.keys() {
        out.entry(*hash).or_default();
    }
    let numbers = project.shot_numbers();
    for shot in &project.shots {
        let number = numbers.get(&shot.id).map_or("?", String::as_str);
        for take in &shot.takes {
            out.entry(take.asset)
                .or_default()
                .push(format!("shot {number} take {}", take.id.short()));
        }
    }
    for (line, takes) in &project.voices {
        let cue = project
            .script
            .dialogue(*line)
            .map_or_else(|| line.short(), |(_, d)| d.cue.clone());
        for take in &takes.takes {
            out.entry(take.asset)
                .or_default()
                .push(format!("line {cue} take {}", take.id.short()));
        }
    }
    for track in &project.timeline.tracks {
        for item in &track.items {
            if let Item::Clip(c) = item
                && let ClipSource::Asset { asset } = &c.source
            {
                out.entry(*asset)
                    .or_default()
                    .push(format!("clip '{}' on {}", c.name, track.name));
            }
        }
    }
    out
}

/// Hex names of every file in the store (two fan-out levels), for orphans.
fn stored(store: &AssetStore) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(level1) = fs::read_dir(store.root()) else {
        return out;
    };
    for a in level1.flatten().filter(|e| e.file_name().len() == 2) {
        let Ok(level2) = fs::read_dir(a.path()) else {
            continue;
        };
        for b in level2.flatten() {
            let Ok(files) = fs::read_dir(b.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()) {
                    out.push((name, f.path()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The edits that make every shot and line whose chosen take is broken play its newest intact
/// take instead.
fn fallbacks(project: &Project, broken: &BTreeSet<ContentHash>) -> (Vec<EditCommand>, Vec<String>) {
    let mut commands = Vec::new();
    let mut said = Vec::new();
    let numbers = project.shot_numbers();
    for shot in &project.shots {
        let Some(active) = shot.active() else {
            continue;
        };
        if !broken.contains(&active.asset) {
            continue;
        }
        if let Some(good) = shot.takes.iter().rev().find(|t| !broken.contains(&t.asset)) {
            commands.push(EditCommand::SetActiveTake {
                shot: shot.id,
                take: Some(good.id),
            });
            said.push(format!(
                "shot {}: plays take {} (take {} lost its frame)",
                numbers.get(&shot.id).map_or("?", String::as_str),
                good.id.short(),
                active.id.short()
            ));
        }
    }
    for (line, takes) in &project.voices {
        let Some(active) = takes.active() else {
            continue;
        };
        if !broken.contains(&active.asset) {
            continue;
        }
        if let Some(good) = takes
            .takes
            .iter()
            .rev()
            .find(|t| !broken.contains(&t.asset))
        {
            commands.push(EditCommand::SetLineTake {
                line: *line,
                take: Some(good.id),
            });
            said.push(format!(
                "line {}: plays take {} (take {} lost its audio)",
                line.short(),
                good.id.short(),
                active.id.short()
            ));
        }
    }
    (commands, said)
}

/// Puts the newest backup that reads in place of an unreadable project file (the damaged file
/// and the journal are set aside, never deleted). Returns the backup used.
fn restore_newest_backup(
    paths: &ProjectPaths,
    repair: bool,
) -> Result<Option<PathBuf>, StorageError> {
    // Newest first.
    for entry in backup::list_backups(paths.root())? {
        if backup::open_backup(&entry.path).is_err() {
            continue;
        }
        if repair {
            let stamp = jiff::Timestamp::now()
                .strftime("%Y%m%dT%H%M%SZ")
                .to_string();
            let project = paths.project();
            let aside = |what| StorageError::io(what, &project, Access::Write);
            fs::rename(
                &project,
                paths.root().join(format!("project.damaged-{stamp}.json")),
            )
            .map_err(aside("set the damaged project file aside"))?;
            if paths.journal().exists() {
                fs::rename(
                    paths.journal(),
                    paths.root().join(format!("journal.damaged-{stamp}.jsonl")),
                )
                .map_err(aside("set the journal aside"))?;
            }
            let bytes = fs::read(&entry.path).map_err(StorageError::io(
                "read the backup",
                &entry.path,
                Access::Read,
            ))?;
            atomic::write_atomic(&project, &bytes).map_err(aside("restore the backup"))?;
        }
        return Ok(Some(entry.path));
    }
    Ok(None)
}

/// Checks the project in `dir` (see the module docs); `repair` fixes what can be fixed.
pub fn fsck(
    dir: &Path,
    repair: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FsckReport, StorageError> {
    let paths = ProjectPaths::new(dir);
    let mut report = FsckReport {
        project: dir.to_path_buf(),
        ..FsckReport::default()
    };
    let project = match Session::open(dir, OpenMode::ReadOnly) {
        Ok((session, _)) => session.project().clone(),
        Err(e @ StorageError::Format { .. }) => {
            let Some(used) = restore_newest_backup(&paths, repair)? else {
                return Err(e);
            };
            report.restored_from = Some(used.clone());
            if !repair {
                // Check what the backup names, as the repair would leave it.
                backup::open_backup(&used)?
            } else {
                report.repaired.push(format!(
                    "project.json did not read: put backup {} in its place",
                    used.display()
                ));
                Session::open(dir, OpenMode::ReadOnly)?.0.project().clone()
            }
        }
        Err(e) => return Err(e),
    };
    let store = match AssetStore::for_project(dir) {
        Ok(store) => store,
        Err(e) => {
            report.store_problem = Some(e.to_string());
            AssetStore::new(paths.assets())
        }
    };
    for c in &project.script.characters {
        let Some(look) = &c.look else { continue };
        for (file, what) in [(&look.lora, "LoRA"), (&look.reference, "reference picture")] {
            if file.trim().is_empty() {
                continue;
            }
            if let Err(why) = crate::backend::posix::resolve_inside(dir, Path::new(file.trim())) {
                report.unsafe_paths.push(format!(
                    "{}'s look names {file}: {why}; move the {what} inside the project and name it relative to it",
                    c.name
                ));
            }
        }
    }
    let named = users(&project);
    let mut broken = BTreeSet::new();
    let total = named.len();
    for (n, (hash, used_by)) in named.iter().enumerate() {
        progress(n, total);
        let path = store.path_of(hash);
        let problem = match crate::assets::hash_file(&path) {
            Ok((actual, bytes)) => {
                report.bytes += bytes;
                (actual != *hash).then_some("damaged")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some("missing"),
            Err(e) => return Err(StorageError::io("read the asset", &path, Access::Read)(e)),
        };
        report.checked += 1;
        let mut problem = problem.map(str::to_owned);
        let mut in_show = false;
        if let Some(p) = &problem
            && let Some(show) = store.show()
        {
            if repair {
                if p == "damaged" {
                    let aside = paths.assets().join("damaged");
                    let _ = fs::create_dir_all(&aside);
                    let _ = fs::rename(&path, aside.join(hash.to_hex()));
                }
                if store.ensure(hash).is_ok() {
                    report.repaired.push(format!(
                        "fetched the {p} asset {} from the show store",
                        path.display()
                    ));
                    problem = None;
                }
            } else {
                in_show = show.contains(hash).unwrap_or(false);
            }
        }
        if let Some(problem) = problem {
            broken.insert(*hash);
            if repair && problem == "damaged" && path.is_file() {
                let aside = paths.assets().join("damaged");
                let _ = fs::create_dir_all(&aside);
                let target = aside.join(hash.to_hex());
                if fs::rename(&path, &target).is_ok() {
                    report.repaired.push(format!(
                        "moved the damaged file {} aside to {}",
                        path.display(),
                        target.display()
                    ));
                }
            }
            report.problems.push(AssetProblem {
                hash: hash.to_string(),
                path,
                problem,
                used_by: used_by.clone(),
                in_show_store: in_show,
            });
        }
    }
    progress(total, total);
    let known: BTreeSet<String> = named.keys().map(ContentHash::to_hex).collect();
    report.orphans = stored(&store)
        .into_iter()
        .filter(|(hex, _)| !known.contains(hex))
        .map(|(_, p)| p)
        .collect();
    // Copies a killed ingest or save left half-done (`.incoming-<pid>-<random>`): never
    // visible as assets, only space; removed by the repair once their process is gone.
    if let Ok(entries) = fs::read_dir(store.root()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".incoming-") else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let gone = pid.is_some_and(|p| crate::host::pid_alive(p) == Some(false));
            if repair && gone && fs::remove_file(e.path()).is_ok() {
                report.repaired.push(format!(
                    "removed {}, an unfinished copy",
                    e.path().display()
                ));
            } else {
                report.orphans.push(e.path());
            }
        }
    }
    if repair && !broken.is_empty() {
        let (commands, said) = fallbacks(&project, &broken);
        if !commands.is_empty() {
            let (mut session, _) = Session::open(dir, OpenMode::ReadWrite)?;
            let batch = EditCommand::Batch {
                label: "Play intact takes (fsck)".into(),
                commands,
            };
            let applied = session.apply(&batch).and_then(|_| session.save());
            let _ = session.close();
            applied?;
            report.repaired.extend(said);
        }
    }
    Ok(report)
}
