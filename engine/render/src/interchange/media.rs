//! The media an exported edit points at: each asset of the store linked (or copied) into a
//! folder next to the export under a readable name with the right extension, because editorial
//! tools import files by extension and the store names files by hash alone.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use previz_core::shot::{AssetKind, ContentHash};
use previz_storage::AssetStore;

use super::cut::MediaRequest;

/// A folder of readable links to store assets.
#[derive(Debug)]
pub struct MediaFolder {
    dir: PathBuf,
    store: AssetStore,
    linked: HashMap<ContentHash, PathBuf>,
    /// Assets that could not be placed, with why (the export goes on without them).
    pub problems: Vec<String>,
}

/// The file extension for an asset.
#[must_use]
pub fn extension(kind: AssetKind, mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/flac" => "flac",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        _ => match kind {
            AssetKind::Image => "png",
            AssetKind::Audio => "wav",
            AssetKind::Video => "mov",
            AssetKind::Other => "bin",
        },
    }
}

/// A name that is safe on every file system editors use (NTFS, SMB shares, HFS+).
#[must_use]
pub fn safe_file_stem(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c| c == '.' || c == '_');
    let mut out: String = trimmed.chars().take(80).collect();
    if out.is_empty() {
        out.push_str("media");
    }
    out
}

impl MediaFolder {
    /// Links will go into `dir` (created on first use).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, store: AssetStore) -> Self {
        Self {
            dir: dir.into(),
            store,
            linked: HashMap::new(),
            problems: Vec::new(),
        }
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many files the folder received.
    #[must_use]
    pub fn len(&self) -> usize {
        self.linked.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.linked.is_empty()
    }

    /// The absolute path of the asset's file in the folder, placing it there on first request;
    /// `None` (and a problem noted) when the store does not have it.
    pub fn resolve(&mut self, request: &MediaRequest<'_>) -> Option<PathBuf> {
        if let Some(path) = self.linked.get(&request.hash) {
            return Some(path.clone());
        }
        let source = self.store.path_of(&request.hash);
        if !source.is_file() {
            self.problems.push(format!(
                "{} ({}) is not in the asset store at {}; its clip is exported without media",
                request.name_hint,
                request.hash,
                source.display()
            ));
            return None;
        }
        let ext = extension(request.kind, request.mime);
        let stem = safe_file_stem(&request.name_hint);
        let mut target = self.dir.join(format!("{stem}.{ext}"));
        let mut n = 2;
        while self.linked.values().any(|p| *p == target) {
            target = self.dir.join(format!("{stem}-{n}.{ext}"));
            n += 1;
        }
        match place(&source, &target) {
            Ok(()) => {
                let absolute = std::path::absolute(&target).unwrap_or(target);
                self.linked.insert(request.hash, absolute.clone());
                Some(absolute)
            }
            Err(e) => {
                self.problems.push(format!(
                    "could not place {} at {}: {e}",
                    request.name_hint,
                    target.display()
                ));
                None
            }
        }
    }
}

/// A hard link when the folder is on the store's file system, else a copy; an existing file
/// with the same bytes is kept.
fn place(source: &Path, target: &Path) -> io::Result<()> {
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir)?;
    }
    if target.exists() {
        if fs::metadata(target)?.len() == fs::metadata(source)?.len()
            && fs::read(target)? == fs::read(source)?
        {
            return Ok(());
        }
        fs::remove_file(target)?;
    }
    if fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    fs::copy(source, target).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_and_never_empty() {
        assert_eq!(safe_file_stem("12.3_take-ab12"), "12.3_take-ab12");
        assert_eq!(safe_file_stem("../../etc/passwd"), "etc_passwd");
        assert_eq!(safe_file_stem("a:b*c?"), "a_b_c");
        assert_eq!(safe_file_stem("..."), "media");
        assert_eq!(safe_file_stem("ÉLODIE"), "ÉLODIE");
    }
}
