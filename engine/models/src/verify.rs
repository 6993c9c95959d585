//! Checking model files against their manifests' SHA-256 and size, once: a file whose hash
//! matched is remembered in a ledger (`<cache>/models-verified.json`) by path, size and
//! modification time, and is not hashed again until one of those changes. Also what `previz
//! models add` and `remove` do to the user's models folder.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::registry::{Manifest, ManifestFile, ModelEntry, ModelKind, Registry};

/// The ledger's file name inside the cache folder.
pub const LEDGER_FILE: &str = "models-verified.json";

/// What the ledger remembers of a file whose hash was computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// Hashes computed before, by canonical path.
#[derive(Debug, Default)]
pub struct Ledger {
    path: Option<PathBuf>,
    records: BTreeMap<PathBuf, Record>,
}

impl Ledger {
    /// The ledger in `cache_root` (empty when absent or unreadable: it is only a cache).
    #[must_use]
    pub fn open(cache_root: Option<&Path>) -> Self {
        let path = cache_root.map(|c| c.join(LEDGER_FILE));
        let records = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self { path, records }
    }

    /// A ledger that is never written (tests, `--force`).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Writes the ledger back (atomically); a cache that cannot be written is not an error
    /// worth stopping for, so the reason is returned for a warning.
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(&self.records).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        previz_storage::atomic::write_atomic(path, &bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The remembered hash of `path`, if the file is unchanged since.
    #[must_use]
    pub fn known(&self, path: &Path) -> Option<&str> {
        let (key, size, modified_ns) = stamp(path)?;
        self.records
            .get(&key)
            .filter(|r| r.size == size && r.modified_ns == modified_ns)
            .map(|r| r.sha256.as_str())
    }

    fn remember(&mut self, path: &Path, sha256: &str) {
        if let Some((key, size, modified_ns)) = stamp(path) {
            self.records.insert(
                key,
                Record {
                    size,
                    modified_ns,
                    sha256: sha256.to_owned(),
                },
            );
        }
    }

    fn forget(&mut self, path: &Path) {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        self.records.remove(&key);
    }
}

fn stamp(path: &Path) -> Option<(PathBuf, u64, u128)> {
    let md = std::fs::metadata(path).ok()?;
    let modified = md
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((path.canonicalize().ok()?, md.len(), modified))
}

/// The SHA-256 of a file, hex, calling `progress(bytes_done)` as it reads.
pub fn sha256_file(path: &Path, progress: &mut dyn FnMut(u64)) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// What one file of a model is like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileStatus {
    /// Its SHA-256 matches the manifest.
    Verified,
    /// Not there.
    Missing,
    /// Present at another size (truncated or replaced).
    WrongSize { expected: u64, actual: u64 },
    /// Right size, wrong content.
    Corrupt { expected: String, actual: String },
    /// Could not be read.
    Unreadable { message: String },
}

/// One file's check.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    #[serde(flatten)]
    pub status: FileStatus,
    /// The hash came from the ledger (checked before, unchanged since).
    pub remembered: bool,
}

/// One model's check.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub id: String,
    pub files: Vec<FileReport>,
    /// Why nothing could be checked (no manifest, not installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ModelReport {
    /// Every file is verified (and there was something to verify).
    #[must_use]
    pub fn ok(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|f| f.status == FileStatus::Verified)
    }

    /// Some file is missing, damaged or unreadable.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.files.iter().any(|f| f.status != FileStatus::Verified)
    }
}

/// The state a model is in as far as the ledger knows, without reading the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Known {
    /// Every file matched its checksum and is unchanged since.
    Verified,
    /// Not checked yet (or changed since it was).
    Unverified,
    /// A file is missing or has the wrong size (seen without hashing).
    Damaged,
    /// No manifest: nothing to check against (`previz models add` records one).
    NoChecksums,
    NotInstalled,
}

/// The model's files with the checksum each should have: (path, expected).
fn expected_files(entry: &ModelEntry) -> Option<Vec<(PathBuf, &ManifestFile)>> {
    let manifest = entry.manifest.as_ref()?;
    let root = entry.root.as_ref()?;
    Some(manifest.files.iter().map(|f| (f.under(root), f)).collect())
}

/// What the ledger says of `entry`, reading only file sizes.
#[must_use]
pub fn known(entry: &ModelEntry, ledger: &Ledger) -> Known {
    if entry.path.is_none() {
        return Known::NotInstalled;
    }
    let Some(files) = expected_files(entry) else {
        return Known::NoChecksums;
    };
    let mut all = true;
    for (path, f) in files {
        match std::fs::metadata(&path) {
            Ok(md) if md.len() == f.size => {
                all &= ledger
                    .known(&path)
                    .is_some_and(|h| h.eq_ignore_ascii_case(&f.sha256));
            }
            _ => return Known::Damaged,
        }
    }
    if all {
        Known::Verified
    } else {
        Known::Unverified
    }
}

/// Checks every file of `entry` against its manifest. Files the ledger vouches for are not
/// read again unless `force`; files that match are remembered. `progress(file, done, total)`.
pub fn verify(
    entry: &ModelEntry,
    ledger: &mut Ledger,
    force: bool,
    progress: &mut dyn FnMut(&Path, u64, u64),
) -> ModelReport {
    let mut report = ModelReport {
        id: entry.id.clone(),
        files: Vec::new(),
        note: None,
    };
    if entry.path.is_none() {
        report.note = Some("not installed".into());
        return report;
    }
    let Some(files) = expected_files(entry) else {
        report.note = Some(
            "no manifest with checksums; `previz models add PATH` records one from the files as they are now"
                .into(),
        );
        return report;
    };
    for (path, expected) in files {
        let status = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileStatus::Missing,
            Err(e) => FileStatus::Unreadable {
                message: e.to_string(),
            },
            Ok(md) if md.len() != expected.size => FileStatus::WrongSize {
                expected: expected.size,
                actual: md.len(),
            },
            Ok(_) => {
                if !force
                    && ledger
                        .known(&path)
                        .is_some_and(|h| h.eq_ignore_ascii_case(&expected.sha256))
                {
                    report.files.push(FileReport {
                        path,
                        status: FileStatus::Verified,
                        remembered: true,
                    });
                    continue;
                }
                let total = expected.size;
                match sha256_file(&path, &mut |done| progress(&path, done, total)) {
                    Ok(actual) if actual.eq_ignore_ascii_case(&expected.sha256) => {
                        ledger.remember(&path, &actual);
                        FileStatus::Verified
                    }
                    Ok(actual) => {
                        ledger.forget(&path);
                        FileStatus::Corrupt {
                            expected: expected.sha256.to_ascii_lowercase(),
                            actual,
                        }
                    }
                    Err(e) => FileStatus::Unreadable {
                        message: e.to_string(),
                    },
                }
            }
        };
        report.files.push(FileReport {
            path,
            status,
            remembered: false,
        });
    }
    report
}

/// How `previz models add` takes a model in.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// The id (default: from the file or folder name).
    pub id: Option<String>,
    /// The licence to record (default "unknown").
    pub licence: Option<String>,
    /// Copy the files into the models folder instead of pointing at them where they are.
    pub copy: bool,
}

/// Why a model could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(
        "{}: not a model this studio loads; expected a .gguf language model, a Piper voice (.onnx with its .onnx.json beside it), a Stable Diffusion .safetensors checkpoint or a diffusers folder (model_index.json)",
        path.display()
    )]
    NotAModel { path: PathBuf },
    #[error(
        "a model '{id}' is already known ({where_}); choose another id with --id, or `previz models remove {id}` first"
    )]
    Exists { id: String, where_: String },
    #[error("'{id}' is not a valid model id: use letters, digits, '.', '-' and '_'")]
    BadId { id: String },
    #[error("no model '{id}'; `previz models list` shows the known ones")]
    Unknown { id: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("no folder for the user's models (HOME and XDG_DATA_HOME are both unset)")]
    NoUserDir,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ManageError + '_ {
    move |e| ManageError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The files that make up the model at `path` (relative to `base`).
fn model_files(path: &Path, kind: ModelKind) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
    if path.is_dir() {
        // A diffusers folder, or a Hugging Face cache entry: its newest snapshot.
        let dir = if path.join("model_index.json").is_file() {
            path.to_owned()
        } else {
            let mut snapshots: Vec<PathBuf> = std::fs::read_dir(path.join("snapshots"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("model_index.json").is_file())
                .collect();
            snapshots.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
            snapshots.pop().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no snapshot with model_index.json",
                )
            })?
        };
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.is_file() {
                    files.push(p.strip_prefix(&dir).unwrap_or(&p).to_owned());
                }
            }
        }
        files.sort();
        return Ok((dir, files));
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    let name = PathBuf::from(path.file_name().unwrap_or_default());
    let mut files = vec![name.clone()];
    if kind == ModelKind::Tts {
        let mut json = name.into_os_string();
        json.push(".json");
        files.push(PathBuf::from(json));
    }
    Ok((base, files))
}

/// Takes the model at `path` into the user's models folder `dest`: writes `<dest>/<id>.toml`
/// (every file with its SHA-256 and size; absolute paths unless copied) and, with `copy`, the
/// files into `<dest>/<id>/`. The hashes go into the ledger (the files are verified as of now).
pub fn add(
    path: &Path,
    options: &AddOptions,
    registry: &Registry,
    dest: &Path,
    ledger: &mut Ledger,
    progress: &mut dyn FnMut(&Path, u64, u64),
) -> Result<(Manifest, PathBuf), ManageError> {
    let path = path.canonicalize().map_err(io(path))?;
    let (found_id, kind) = crate::registry::identify(&path)
        .ok_or_else(|| ManageError::NotAModel { path: path.clone() })?;
    let id = options.id.clone().unwrap_or(found_id).to_lowercase();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(ManageError::BadId { id });
    }
    if let Some(existing) = registry.entries.iter().find(|e| e.id == id) {
        let already_this = existing
            .path
            .as_ref()
            .and_then(|p| p.canonicalize().ok())
            .is_some_and(|p| p == path || p.starts_with(&path));
        if existing.manifest.is_some() || !already_this {
            return Err(ManageError::Exists {
                id,
                where_: existing.manifest_file.as_ref().map_or_else(
                    || {
                        existing
                            .path
                            .as_ref()
                            .map_or_else(|| "built in".to_owned(), |p| p.display().to_string())
                    },
                    |m| m.display().to_string(),
                ),
            });
        }
    }
    let (base, relative) = model_files(&path, kind).map_err(io(&path))?;
    let target = dest.join(&id);
    let mut files = Vec::new();
    for rel in &relative {
        let source = base.join(rel);
        let size = std::fs::metadata(&source).map_err(io(&source))?.len();
        let sha256 =
            sha256_file(&source, &mut |done| progress(&source, done, size)).map_err(io(&source))?;
        let stored = if options.copy {
            let to = target.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::copy(&source, &to).map_err(io(&to))?;
            ledger.remember(&to, &sha256);
            PathBuf::from(&id).join(rel)
        } else {
            ledger.remember(&source, &sha256);
            source.clone()
        };
        files.push(ManifestFile {
            path: stored,
            member: None,
            sha256,
            size,
        });
    }
    let main = if path.is_dir() {
        Some(if options.copy {
            PathBuf::from(&id)
        } else {
            base.clone()
        })
    } else {
        None
    };
    let manifest = Manifest {
        id: id.clone(),
        kind,
        name: id.clone(),
        licence: options.licence.clone().unwrap_or_else(|| "unknown".into()),
        format: Some(
            match (kind, path.is_dir()) {
                (ModelKind::Diffusion, true) => "diffusers",
                (ModelKind::Diffusion, false) => "safetensors",
                (ModelKind::Llm, _) => "gguf",
                (ModelKind::Tts, _) => "piper-onnx",
            }
            .to_owned(),
        ),
        homepage: None,
        memory_mib: None,
        source: None,
        main,
        files,
    };
    let text = toml::to_string_pretty(&manifest).map_err(|e| ManageError::Io {
        path: dest.join(format!("{id}.toml")),
        message: e.to_string(),
    })?;
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let file = dest.join(format!("{id}.toml"));
    let header = format!(
        "# Added by `previz models add` from {}: every file with the SHA-256 it had then.\n",
        path.display()
    );
    previz_storage::atomic::write_atomic(&file, format!("{header}{text}").as_bytes()).map_err(
        |e| ManageError::Io {
            path: file.clone(),
            message: e.to_string(),
        },
    )?;
    Ok((manifest, file))
}

/// What `remove` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Removed {
    pub deleted: Vec<PathBuf>,
    /// Files left where they are, each with why.
    pub kept: Vec<(PathBuf, String)>,
}

/// Removes model `id`: its manifest when the user added it, and the files that live in a
/// folder this workstation owns (`owned`: the user's models folder, the repository's
/// `models/cache`). Files elsewhere (pointed at by `add`, or on the show's share, which other
/// workstations use) are left, and said so.
pub fn remove(
    registry: &Registry,
    id: &str,
    owned: &[PathBuf],
    ledger: &mut Ledger,
) -> Result<Removed, ManageError> {
    let key = id.to_lowercase();
    let entry = registry
        .entries
        .iter()
        .find(|e| e.id == key)
        .ok_or_else(|| ManageError::Unknown { id: id.to_owned() })?;
    let owned: Vec<PathBuf> = owned.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let is_owned = |p: &Path| {
        p.canonicalize()
            .is_ok_and(|c| owned.iter().any(|o| c.starts_with(o)))
    };
    // A model whose files are damaged has no root: look where its manifest is, and in the
    // owned folders.
    let beside_manifest: Vec<PathBuf> = entry
        .manifest_file
        .iter()
        .filter_map(|m| m.parent().map(Path::to_path_buf))
        .chain(owned.iter().cloned())
        .collect();
    let mut files: Vec<PathBuf> = match (expected_files(entry), &entry.path) {
        (Some(f), _) => f.into_iter().map(|(p, _)| p).collect(),
        (None, None) if entry.manifest.is_some() => entry
            .manifest
            .iter()
            .flat_map(|m| &m.files)
            .filter_map(|f| {
                beside_manifest
                    .iter()
                    .map(|r| f.under(r))
                    .find(|p| p.exists())
            })
            .collect(),
        // A dropped-in model: its file (and a voice's .onnx.json), or a folder's files.
        (None, Some(p)) => model_files(p, entry.kind)
            .map(|(base, rel)| rel.into_iter().map(|r| base.join(r)).collect())
            .unwrap_or_else(|_| {
                if p.is_dir() {
                    Vec::new()
                } else {
                    vec![p.clone()]
                }
            }),
        (None, None) => Vec::new(),
    };
    files.retain(|f| f.exists());
    let folder = entry.path.clone().filter(|p| p.is_dir());
    let mut done = Removed::default();
    for f in files {
        if is_owned(&f) {
            ledger.forget(&f);
            std::fs::remove_file(&f).map_err(io(&f))?;
            done.deleted.push(f);
        } else {
            done.kept.push((
                f,
                "outside this workstation's models folders (added in place, or on the show's share); delete it by hand if nobody uses it".into(),
            ));
        }
    }
    if let Some(dir) = &folder
        && is_owned(dir)
    {
        remove_empty_dirs(dir);
    }
    if let Some(manifest) = &entry.manifest_file
        && is_owned(manifest)
    {
        std::fs::remove_file(manifest).map_err(io(manifest))?;
        // The copied files' folders, when now empty.
        remove_empty_dirs(&manifest.with_extension(""));
        done.deleted.push(manifest.clone());
    } else if entry.manifest_file.is_none() && entry.manifest.is_some() && done.deleted.is_empty() {
        done.kept.push((
            PathBuf::from(&entry.id),
            "built into previz: its files are gone, so it shows as missing; nothing else to remove"
                .into(),
        ));
    }
    Ok(done)
}

/// Removes `dir` and the folders under it that hold no files (bottom-up); anything with a file
/// in it stays.
fn remove_empty_dirs(dir: &Path) {
    if let Ok(read) = std::fs::read_dir(dir) {
        for e in read.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
