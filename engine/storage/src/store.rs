//! A show's content-addressed store on the share, shared by all the show's projects so takes
//! and rushes are stored once, with a bounded read cache on each workstation.
//!
//! ```text
//! <store>/objects/<h0h1>/<h2h3>/<blake3 hex>     one object per distinct file
//! ```
//!
//! Objects are named by the blake3 hash of their bytes: writing the same bytes twice stores
//! them once ([`ShowStore::put_file`] hashes first and only uploads what the store lacks), and
//! every read is verified against the name, so a damaged object is reported, never used. Large
//! files are streamed and uploaded in parts that resume after an interruption
//! ([`Backend::upload`]).
//!
//! Reads from an S3 store go through a [`ReadCache`] on the workstation's local disk: objects
//! are kept there by last use (LRU) within a byte budget, so scrubbing an animatic does not
//! fetch the same frames over the network twice. A POSIX store (the share mounted) is read in
//! place.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use previz_core::ContentHash;
use serde::{Deserialize, Serialize};

use crate::assets::hash_file;
use crate::backend::{self, Backend, BackendError, UploadOptions};

/// Where a project's show store is configured: `NAME.previz/store.json`.
pub const STORE_CONFIG: &str = "store.json";

/// The content of `store.json`: the store's location (a folder or `s3://bucket/prefix`; S3
/// credentials come from the AWS environment and files, never from here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub schema: String,
    pub location: String,
}

impl StoreConfig {
    #[must_use]
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            schema: "previz.store/1".into(),
            location: location.into(),
        }
    }

    /// Reads a project's `store.json`: `Ok(None)` when the project has no show store.
    pub fn read(project_dir: &Path) -> Result<Option<Self>, BackendError> {
        let path = project_dir.join(STORE_CONFIG);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(BackendError::Config(format!(
                    "could not read {}: {e}",
                    path.display()
                )));
            }
        };
        let config: StoreConfig = serde_json::from_slice(&bytes).map_err(|e| {
            BackendError::Config(format!(
                "{}:{}:{}: {e}; expected {{\"schema\": \"previz.store/1\", \"location\": \"s3://bucket/show\" or a folder}}: fix or delete the file",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if config.schema != "previz.store/1" {
            return Err(BackendError::Config(format!(
                "{}: schema '{}' is not one this build reads (previz.store/1): update Previz",
                path.display(),
                config.schema
            )));
        }
        Ok(Some(config))
    }

    /// Writes it into a project folder.
    pub fn write(&self, project_dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        crate::atomic::write_atomic(&project_dir.join(STORE_CONFIG), &bytes)
    }
}

/// A bounded local cache of store objects, evicted by last use.
#[derive(Debug)]
pub struct ReadCache {
    dir: PathBuf,
    budget: u64,
    /// Bytes in the cache, counted at open and kept up to date.
    total: Mutex<Option<u64>>,
}

impl ReadCache {
    /// A cache in `dir` holding at most `budget` bytes.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, budget: u64) -> Self {
        Self {
            dir: dir.into(),
            budget,
            total: Mutex::new(None),
        }
    }

    /// The workstation's cache: `$PREVIZ_CACHE_DIR`, else `store/` in the settings' cache
    /// folder (`cache_dir`, default `$XDG_CACHE_HOME/previz` or `~/.cache/previz`);
    /// `$PREVIZ_CACHE_GB` gigabytes, else the settings' `cache_max_gib` (default 50).
    #[must_use]
    pub fn default_for_user() -> Self {
        let settings = crate::settings::Settings::user();
        let dir = std::env::var_os("PREVIZ_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| settings.cache_root().map(|r| r.join("store")))
            .unwrap_or_else(|| std::env::temp_dir().join("previz-store-cache"));
        let budget = std::env::var("PREVIZ_CACHE_GB")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|g| g.is_finite() && *g >= 0.0)
            .map_or(settings.cache_max_gib * f64::from(1u32 << 30), |gb| {
                gb * 1e9
            });
        Self::new(dir, budget as u64)
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[0..2]).join(hex)
    }

    /// The cached file, marked as just used; `None` on a miss.
    pub fn get(&self, hash: &ContentHash) -> Option<PathBuf> {
        let path = self.path_of(hash);
        let file = fs::File::options().write(true).open(&path).ok()?;
        let _ = file.set_modified(SystemTime::now());
        Some(path)
    }

    /// Moves a verified file into the cache and evicts the least recently used entries beyond
    /// the budget. Returns the cached path.
    pub fn insert(&self, hash: &ContentHash, file: &Path) -> io::Result<PathBuf> {
        let path = self.path_of(hash);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let size = fs::metadata(file)?.len();
        fs::rename(file, &path)?;
        let mut total = self
            .total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = match *total {
            Some(t) => t + size,
            None => self.scan()?.iter().map(|e| e.1).sum(),
        };
        *total = Some(current);
        if current > self.budget {
            *total = Some(self.evict(&path)?);
        }
        Ok(path)
    }

    fn scan(&self) -> io::Result<Vec<(PathBuf, u64, SystemTime)>> {
        let mut out = Vec::new();
        let Ok(fans) = fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for fan in fans.flatten() {
            let Ok(entries) = fs::read_dir(fan.path()) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if let Ok(meta) = e.metadata()
                    && meta.is_file()
                {
                    out.push((
                        e.path(),
                        meta.len(),
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the least recently used entries (never `keep`) until the cache is at 90 % of its
    /// budget; returns the bytes left.
    fn evict(&self, keep: &Path) -> io::Result<u64> {
        let mut entries = self.scan()?;
        entries.sort_by_key(|e| e.2);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let target = self.budget / 10 * 9;
        for (path, size, _) in entries {
            if total <= target {
                break;
            }
            if path == keep {
                continue;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
        Ok(total)
    }

    /// Bytes held now (a fresh count).
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.scan()?.iter().map(|e| e.1).sum())
    }
}

/// Why the show store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("could not {action} {}: {source}", path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "object {location} is damaged: its bytes hash to {actual}; restore it from another copy or regenerate the take"
    )]
    Damaged {
        location: String,
        actual: ContentHash,
    },
}

fn local(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Local {
        action,
        path,
        source,
    }
}

/// A show's store: a backend, where its objects live in it, and the workstation's cache.
#[derive(Debug, Clone)]
pub struct ShowStore {
    backend: Arc<dyn Backend>,
    /// Set for a store on a mounted folder: objects are read in place.
    folder: Option<PathBuf>,
    cache: Option<Arc<ReadCache>>,
    upload_state: PathBuf,
}

impl ShowStore {
    /// Opens the store at a location (a folder, or `s3://bucket/prefix`) with this user's cache.
    pub fn open(location: &str) -> Result<Self, StoreError> {
        let cache = ReadCache::default_for_user();
        let upload_state = cache.dir().join(".uploads");
        let backend = backend::open(location)?;
        let folder = (!location.starts_with("s3://"))
            .then(|| PathBuf::from(location.strip_prefix("file://").unwrap_or(location)));
        Ok(Self {
            backend,
            folder,
            cache: Some(Arc::new(cache)),
            upload_state,
        })
    }

    /// A store on `backend` (`folder`: its root when it is a mounted folder).
    #[must_use]
    pub fn new(
        backend: Arc<dyn Backend>,
        folder: Option<PathBuf>,
        cache: Option<Arc<ReadCache>>,
        upload_state: PathBuf,
    ) -> Self {
        Self {
            backend,
            folder,
            cache,
            upload_state,
        }
    }

    #[must_use]
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The key of an object.
    #[must_use]
    pub fn key_of(hash: &ContentHash) -> String {
        let hex = hash.to_hex();
        format!("objects/{}/{}/{hex}", &hex[0..2], &hex[2..4])
    }

    /// Whether the store holds the object.
    pub fn contains(&self, hash: &ContentHash) -> Result<bool, StoreError> {
        Ok(self.backend.head(&Self::key_of(hash))?.is_some())
    }

    /// Stores a local file: hashes it, and uploads it only if the store lacks it. Returns the
    /// hash and whether bytes were sent.
    pub fn put_file(
        &self,
        path: &Path,
        progress: backend::Progress<'_>,
    ) -> Result<(ContentHash, bool), StoreError> {
        let (hash, _) = hash_file(path).map_err(local("read", path))?;
        Ok((hash, self.put_hashed(&hash, path, progress)?))
    }

    /// The object's file when the store is a mounted folder and holds it.
    #[must_use]
    pub fn folder_object(&self, hash: &ContentHash) -> Option<PathBuf> {
        let object = self.folder.as_ref()?.join(Self::key_of(hash));
        object.is_file().then_some(object)
    }

    /// Stores a local file whose hash is known (verified by the caller), hard-linking it into a
    /// store on the same filesystem so the bytes exist once.
    pub fn adopt(&self, hash: &ContentHash, path: &Path) -> Result<bool, StoreError> {
        if let Some(folder) = &self.folder {
            let object = folder.join(Self::key_of(hash));
            if object.is_file() {
                return Ok(false);
            }
            if let Some(dir) = object.parent() {
                fs::create_dir_all(dir).map_err(local("create", dir))?;
            }
            match fs::hard_link(path, &object) {
                Ok(()) => {
                    if let Some(dir) = object.parent() {
                        let _ = crate::atomic::sync_dir(dir);
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                // Another filesystem, or links unsupported: copy it up instead.
                Err(_) => {}
            }
        }
        self.put_hashed(hash, path, &|_| {})
    }

    /// Stores a local file whose hash is known (verified by the caller).
    pub fn put_hashed(
        &self,
        hash: &ContentHash,
        path: &Path,
        progress: backend::Progress<'_>,
    ) -> Result<bool, StoreError> {
        let key = Self::key_of(hash);
        if self.backend.head(&key)?.is_some() {
            return Ok(false);
        }
        let options = UploadOptions {
            create_only: true,
            ..UploadOptions::new(&self.upload_state)
        };
        self.backend.upload(&key, path, &options, progress)?;
        Ok(true)
    }

    /// A local path holding the object's verified bytes: in place on a mounted folder, else
    /// from the cache, fetching it on a miss.
    pub fn local_path(&self, hash: &ContentHash) -> Result<PathBuf, StoreError> {
        let key = Self::key_of(hash);
        if let Some(folder) = &self.folder {
            let path = folder.join(&key);
            let (actual, _) = hash_file(&path).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    StoreError::Backend(BackendError::NotFound {
                        location: path.display().to_string(),
                    })
                } else {
                    local("read", &path)(e)
                }
            })?;
            if actual != *hash {
                return Err(StoreError::Damaged {
                    location: path.display().to_string(),
                    actual,
                });
            }
            return Ok(path);
        }
        let cache = match &self.cache {
            Some(c) => c.clone(),
            None => Arc::new(ReadCache::default_for_user()),
        };
        if let Some(path) = cache.get(hash) {
            return Ok(path);
        }
        fs::create_dir_all(cache.dir()).map_err(local("create", cache.dir()))?;
        let temp = cache
            .dir()
            .join(format!(".fetch-{}", crate::host::random_hex(8)));
        self.backend.download(&key, &temp, &|_| {})?;
        let (actual, _) = hash_file(&temp).map_err(local("read", &temp))?;
        if actual != *hash {
            let _ = fs::remove_file(&temp);
            return Err(StoreError::Damaged {
                location: self.backend.location(&key),
                actual,
            });
        }
        cache.insert(hash, &temp).map_err(local("cache", &temp))
    }

    /// The object's verified bytes.
    pub fn read(&self, hash: &ContentHash) -> Result<Vec<u8>, StoreError> {
        let path = self.local_path(hash)?;
        fs::read(&path).map_err(local("read", &path))
    }
}
