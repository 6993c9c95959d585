//! The content-addressed asset store of a project: media files named by the blake3 hash of
//! their bytes, under `assets/<h0h1>/<h2h3>/<hex>` (two fan-out levels keep folders small on a
//! NAS with hundreds of thousands of frames). Writing the same bytes twice stores them once;
//! a file is only ever created by write-temp, fsync, rename, so a reader never sees half an
//! asset. Provenance lives in the document (`Take`), not here.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use previz_core::ContentHash;

use crate::atomic;
use crate::store::{ShowStore, StoreConfig};

/// The assets folder of one project, and the show's shared store when the project has one
/// (`store.json`, see [`crate::store`]): assets written here are also stored there (hard-linked
/// when both are on one filesystem, so the bytes exist once), and an asset missing here is
/// fetched from there.
#[derive(Clone, Debug)]
pub struct AssetStore {
    root: PathBuf,
    show: Option<ShowStore>,
}

impl PartialEq for AssetStore {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Eq for AssetStore {}

/// Why an asset could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("asset {hash} is missing from {}: it was never copied to this store, or the share lost it; regenerate it or restore the folder", path.display())]
    Missing { hash: ContentHash, path: PathBuf },
    #[error("asset {} is damaged: its bytes hash to {actual}; delete the file and regenerate the take, or restore it from a backup", path.display())]
    Damaged { path: PathBuf, actual: ContentHash },
    #[error("the show store: {0}")]
    Show(String),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AssetError {
    let path = path.to_path_buf();
    move |source| AssetError::Io {
        action,
        path,
        source,
    }
}

/// A file copied into the store's folder but not named yet (see [`AssetStore::stage_file`]).
/// Dropped without [`AssetStore::commit`] (cancelled, failed), its temp file is removed.
#[derive(Debug)]
pub struct Staged {
    hash: ContentHash,
    temp: Option<PathBuf>,
}

impl Staged {
    /// The hash of its bytes (its name once committed).
    #[must_use]
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// Whether it still needs committing (false when the store had the bytes already).
    #[must_use]
    pub fn is_new(&self) -> bool {
        self.temp.is_some()
    }

    fn discard(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Copies `input` (read from `source`) into a new file at `temp`, hashing as it streams; returns
/// the file, not synced, and the hash.
fn copy_hashing(
    input: &mut fs::File,
    source: &Path,
    temp: &Path,
) -> Result<(fs::File, ContentHash), AssetError> {
    let mut output = fs::File::create(temp).map_err(io_error("create", temp))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buffer).map_err(io_error("read", source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        output
            .write_all(&buffer[..n])
            .map_err(io_error("write", temp))?;
    }
    Ok((output, ContentHash(*hasher.finalize().as_bytes())))
}

/// Creates a folder unless it is there (a lookup is much cheaper than a failing mkdir on a
/// busy share).
fn ensure_dir(dir: &Path) -> Result<(), AssetError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_error("create the folder", dir))
}

/// The hash of a file, streamed, and how many bytes it had (fsck, the show store).
pub fn hash_file(path: &Path) -> io::Result<(ContentHash, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((ContentHash(*hasher.finalize().as_bytes()), total))
}

/// The hash of some bytes, as the store names them.
#[must_use]
pub fn hash_bytes(bytes: &[u8]) -> ContentHash {
    ContentHash(*blake3::hash(bytes).as_bytes())
}

impl AssetStore {
    /// A store rooted at `root` (created on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            show: None,
        }
    }

    /// The store of the project in `project_dir`: its `assets/` folder, with the show store its
    /// `store.json` names, if any.
    pub fn for_project(project_dir: &Path) -> Result<Self, AssetError> {
        let store = Self::new(project_dir.join(crate::layout::ASSET_DIR));
        match StoreConfig::read(project_dir).map_err(|e| AssetError::Show(e.to_string()))? {
            Some(config) => {
                let show = ShowStore::open(&config.location)
                    .map_err(|e| AssetError::Show(e.to_string()))?;
                Ok(store.with_show(show))
            }
            None => Ok(store),
        }
    }

    /// Shares assets with a show store.
    #[must_use]
    pub fn with_show(mut self, show: ShowStore) -> Self {
        self.show = Some(show);
        self
    }

    #[must_use]
    pub fn show(&self) -> Option<&ShowStore> {
        self.show.as_ref()
    }

    /// Puts a newly stored local asset into the show store too.
    fn share(&self, hash: &ContentHash) -> Result<(), AssetError> {
        let Some(show) = &self.show else {
            return Ok(());
        };
        let path = self.path_of(hash);
        show.adopt(hash, &path)
            .map(|_| ())
            .map_err(|e| AssetError::Show(e.to_string()))
    }

    /// Makes sure the asset is in this project's folder, fetching it from the show store when
    /// only the show has it; returns its path.
    pub fn ensure(&self, hash: &ContentHash) -> Result<PathBuf, AssetError> {
        let path = self.path_of(hash);
        if path.is_file() {
            return Ok(path);
        }
        let Some(show) = &self.show else {
            return Err(AssetError::Missing { hash: *hash, path });
        };
        let source = show
            .local_path(hash)
            .map_err(|e| AssetError::Show(e.to_string()))?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_error("create the folder", dir))?;
        }
        // Same filesystem: a hard link, so the bytes exist once; else a verified copy.
        if fs::hard_link(&source, &path).is_err() {
            let dir = path.parent().unwrap_or(&self.root).to_path_buf();
            let temp = dir.join(format!(".incoming-{}", crate::host::random_hex(8)));
            fs::copy(&source, &temp).map_err(io_error("copy", &source))?;
            let synced = fs::File::open(&temp).and_then(|f| f.sync_all());
            if let Err(e) = synced.and_then(|()| fs::rename(&temp, &path)) {
                let _ = fs::remove_file(&temp);
                return Err(io_error("store the asset", &path)(e));
            }
        }
        Ok(path)
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the asset with this hash lives (whether or not it is there).
    #[must_use]
    pub fn path_of(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    #[must_use]
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.path_of(hash).is_file()
    }

    /// Stores bytes and returns their hash; already-stored bytes are not written again.
    pub fn put(&self, bytes: &[u8]) -> Result<ContentHash, AssetError> {
        let hash = hash_bytes(bytes);
        let path = self.path_of(&hash);
        if path.is_file() {
            return Ok(hash);
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_error("create the folder", dir))?;
        }
        atomic::write_atomic(&path, bytes).map_err(io_error("store the asset", &path))?;
        self.share(&hash)?;
        Ok(hash)
    }

    /// Copies a file into the store, hashing as it streams (frames and audio can be large).
    pub fn put_file(&self, source: &Path) -> Result<ContentHash, AssetError> {
        let (hash, dir) = self.put_file_deferred(source)?;
        if let Some(dir) = dir {
            atomic::sync_dir(&dir).map_err(io_error("sync the folder", &dir))?;
        }
        Ok(hash)
    }

    /// [`put_file`](Self::put_file) for many files at once: the file's bytes are fsynced
    /// before it gets its name, but the folder holding the name is returned instead of
    /// fsynced, so a caller storing thousands of files syncs each fan-out folder once before it
    /// relies on the names (before registering the assets in a project). A crash before that
    /// can only lose names, never leave a name on incomplete bytes.
    pub fn put_file_deferred(
        &self,
        source: &Path,
    ) -> Result<(ContentHash, Option<PathBuf>), AssetError> {
        let mut input = fs::File::open(source).map_err(io_error("open", source))?;
        let temp = self.incoming_temp()?;
        let result = (|| {
            let (output, hash) = copy_hashing(&mut input, source, &temp)?;
            output.sync_all().map_err(io_error("sync", &temp))?;
            let path = self.path_of(&hash);
            // The show store on this filesystem has it already: link that, keep one copy.
            let dir = path.parent().map(Path::to_path_buf);
            if !path.is_file()
                && let Some(object) = self.show.as_ref().and_then(|s| s.folder_object(&hash))
            {
                if let Some(dir) = &dir {
                    ensure_dir(dir)?;
                }
                let _ = fs::hard_link(&object, &path);
            }
            if path.is_file() {
                return Ok((hash, None));
            }
            if let Some(dir) = &dir {
                ensure_dir(dir)?;
            }
            fs::rename(&temp, &path).map_err(io_error("store the asset", &path))?;
            self.share(&hash)?;
            Ok((hash, dir))
        })();
        let _ = fs::remove_file(&temp);
        result
    }

    /// The first half of storing many files at once (ingest): copies `source` into the store's
    /// folder under a temporary name (`.incoming-<pid>-<random>`), hashing as it streams, with
    /// no fsync and no name yet. [`AssetStore::commit`] then makes all of them durable with one
    /// filesystem sync, names them, and syncs the names, instead of one fsync per file and per
    /// folder: a name never points at bytes not yet on disk, and a crash leaves only temp
    /// files (fsck removes them). Already-stored bytes are not staged again.
    pub fn stage_file(&self, source: &Path) -> Result<Staged, AssetError> {
        let mut input = fs::File::open(source).map_err(io_error("open", source))?;
        let temp = self.incoming_temp()?;
        let mut staged = Staged {
            hash: ContentHash([0; 32]),
            temp: Some(temp.clone()),
        };
        staged.hash = copy_hashing(&mut input, source, &temp)?.1;
        if self.path_of(&staged.hash).is_file() {
            staged.discard();
        }
        Ok(staged)
    }

    /// The second half of [`AssetStore::stage_file`]: syncs the filesystem (the staged bytes
    /// become durable), gives each staged file its name (or drops it when the store has the
    /// bytes already, from the show store on this filesystem too), stores it in the show store,
    /// and syncs again (the names become durable). Where `syncfs` is not available each file
    /// and each folder is fsynced instead.
    pub fn commit(&self, staged: &mut [Staged]) -> Result<(), AssetError> {
        let pending: Vec<&Path> = staged.iter().filter_map(|s| s.temp.as_deref()).collect();
        if pending.is_empty() {
            return Ok(());
        }
        let whole_fs = atomic::sync_filesystem(&self.root)
            .map_err(io_error("sync the filesystem holding", &self.root))?;
        if !whole_fs {
            for temp in &pending {
                fs::File::open(temp)
                    .and_then(|f| f.sync_all())
                    .map_err(io_error("sync", temp))?;
            }
        }
        let mut dirs = std::collections::BTreeSet::new();
        for s in staged.iter_mut() {
            let Some(temp) = s.temp.take() else {
                continue;
            };
            let path = self.path_of(&s.hash);
            if !path.is_file()
                && let Some(object) = self.show.as_ref().and_then(|st| st.folder_object(&s.hash))
            {
                if let Some(dir) = path.parent() {
                    ensure_dir(dir)?;
                }
                let _ = fs::hard_link(&object, &path);
            }
            if path.is_file() {
                let _ = fs::remove_file(&temp);
                continue;
            }
            if let Some(dir) = path.parent() {
                ensure_dir(dir)?;
                dirs.insert(dir.to_path_buf());
            }
            if let Err(e) = fs::rename(&temp, &path) {
                let _ = fs::remove_file(&temp);
                return Err(io_error("store the asset", &path)(e));
            }
            self.share(&s.hash)?;
        }
        if !atomic::sync_filesystem(&self.root)
            .map_err(io_error("sync the filesystem holding", &self.root))?
        {
            for dir in dirs.iter().chain(std::iter::once(&self.root)) {
                atomic::sync_dir(dir).map_err(io_error("sync the folder", dir))?;
            }
        }
        Ok(())
    }

    /// A fresh temp file name in the store's folder, `.incoming-<pid>-<random>` (fsck removes
    /// those of dead processes).
    fn incoming_temp(&self) -> Result<PathBuf, AssetError> {
        ensure_dir(&self.root)?;
        Ok(self.root.join(format!(
            ".incoming-{}-{}",
            std::process::id(),
            crate::host::random_hex(8)
        )))
    }

    /// Reads an asset, checking its bytes still hash to its name.
    pub fn read(&self, hash: &ContentHash) -> Result<Vec<u8>, AssetError> {
        let path = self.path_of(hash);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.show.is_some() => {
                let path = self.ensure(hash)?;
                fs::read(&path).map_err(io_error("read", &path))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AssetError::Missing { hash: *hash, path });
            }
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        let actual = hash_bytes(&bytes);
        if actual != *hash {
            return Err(AssetError::Damaged { path, actual });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_read_dedupe_and_detect_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let store = AssetStore::new(tmp.path().join("assets"));
        let hash = store.put(b"frame one").unwrap();
        assert_eq!(store.put(b"frame one").unwrap(), hash);
        assert!(store.contains(&hash));
        assert_eq!(store.read(&hash).unwrap(), b"frame one");
        let hex = hash.to_hex();
        assert!(
            store
                .path_of(&hash)
                .ends_with(format!("{}/{}/{hex}", &hex[..2], &hex[2..4]))
        );

        let source = tmp.path().join("voice.wav");
        fs::write(&source, vec![7u8; 3 << 20]).unwrap();
        let big = store.put_file(&source).unwrap();
        assert_eq!(big, hash_bytes(&fs::read(&source).unwrap()));
        assert_eq!(store.put_file(&source).unwrap(), big);
        let leftovers = fs::read_dir(store.root())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".incoming")
            })
            .count();
        assert_eq!(leftovers, 0);

        fs::write(store.path_of(&hash), b"frame 0ne").unwrap();
        assert!(matches!(store.read(&hash), Err(AssetError::Damaged { .. })));
        let missing = hash_bytes(b"never stored");
        let err = store.read(&missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
