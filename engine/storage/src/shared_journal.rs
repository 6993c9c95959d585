//! The local journal of a shared session's unsaved edits, so a crash between saves loses
//! nothing: the workstation's disk, not the share (which may be what went away).
//!
//! ```text
//! <dir>/<project>-<token>.base.json   the document the edits were made on (written once
//!                                      per base: after each save or merge)
//! <dir>/<project>-<token>.jsonl       a header line, then one primitive change per line,
//!                                      fdatasynced at each edit
//! ```
//!
//! `<project>` is a hash of where the shared project lives; `<token>` the session. On open, a
//! journal of the same project whose session's process is gone (on this host) is recovered:
//! its changes are replayed onto the current document with the same merge as a save
//! ([`previz_core::merge::rebase`]); what no longer merges is reported as conflicts. A torn last
//! line is ignored.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use previz_core::{Change, Project, format};
use serde::{Deserialize, Serialize};

use crate::{atomic, host};

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    schema: String,
    host: String,
    pid: u32,
    base_version: String,
}

/// The journal of one session.
#[derive(Debug)]
pub(crate) struct SharedJournal {
    dir: PathBuf,
    stem: String,
    file: Option<File>,
}

/// A dead session's journal, read back.
#[derive(Debug)]
pub(crate) struct Orphan {
    pub base: Project,
    pub changes: Vec<Change>,
    pub journal: PathBuf,
}

/// The project part of journal names: a hash of the document's location.
pub(crate) fn project_tag(location: &str) -> String {
    blake3::hash(location.as_bytes()).to_hex()[..16].to_owned()
}

impl SharedJournal {
    pub(crate) fn new(dir: &Path, project: &str, token: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stem: format!("{project}-{token}"),
            file: None,
        }
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.stem))
    }

    fn base_path(&self) -> PathBuf {
        self.dir.join(format!("{}.base.json", self.stem))
    }

    /// Starts a journal for edits on `base` (replacing any earlier one of this session) and
    /// writes `pending` into it.
    pub(crate) fn restart(
        &mut self,
        base: &Project,
        base_version: &str,
        pending: &[Change],
    ) -> io::Result<()> {
        self.file = None;
        if pending.is_empty() {
            return self.clear();
        }
        fs::create_dir_all(&self.dir)?;
        atomic::write_atomic(&self.base_path(), &format::to_json(base))?;
        let header = Header {
            schema: "previz.shared-journal/1".into(),
            host: host::host_name(),
            pid: std::process::id(),
            base_version: base_version.to_owned(),
        };
        let mut text = serde_json::to_string(&header).map_err(io::Error::other)?;
        text.push('\n');
        for c in pending {
            text.push_str(&serde_json::to_string(c).map_err(io::Error::other)?);
            text.push('\n');
        }
        atomic::write_atomic(&self.journal_path(), text.as_bytes())?;
        self.file = Some(OpenOptions::new().append(true).open(self.journal_path())?);
        Ok(())
    }

    /// Appends changes (the journal must have been started).
    pub(crate) fn append(&mut self, changes: &[Change]) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the shared journal was not started"));
        };
        let mut text = String::new();
        for c in changes {
            text.push_str(&serde_json::to_string(c).map_err(io::Error::other)?);
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        file.sync_data()
    }

    pub(crate) fn is_started(&self) -> bool {
        self.file.is_some()
    }

    /// Nothing unsaved: the journal goes.
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        self.file = None;
        for path in [self.journal_path(), self.base_path()] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Journals of `project` left by sessions whose process is gone (same host), read back.
    /// Each is renamed `*.recovered` once read, so it is replayed once.
    pub(crate) fn orphans(dir: &Path, project: &str) -> Vec<Orphan> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(dir) else {
            return out;
        };
        let prefix = format!("{project}-");
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".jsonl"))
                .map(|token| format!("{prefix}{token}"))
            else {
                continue;
            };
            let path = e.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let mut lines = BufReader::new(file).lines();
            let Some(Ok(first)) = lines.next() else {
                continue;
            };
            let Ok(header) = serde_json::from_str::<Header>(&first) else {
                continue;
            };
            let gone =
                header.host == host::host_name() && host::pid_alive(header.pid) == Some(false);
            if !gone {
                continue;
            }
            let Ok(base_bytes) = fs::read(dir.join(format!("{stem}.base.json"))) else {
                continue;
            };
            let Ok(base) = format::from_json(&base_bytes) else {
                continue;
            };
            // A torn last line (killed mid-append) is where the journal ends.
            let changes: Vec<Change> = lines
                .map_while(Result::ok)
                .map_while(|l| serde_json::from_str(&l).ok())
                .collect();
            let aside = dir.join(format!("{stem}.jsonl.recovered"));
            if fs::rename(&path, &aside).is_err() {
                continue;
            }
            let _ = fs::rename(
                dir.join(format!("{stem}.base.json")),
                dir.join(format!("{stem}.base.json.recovered")),
            );
            out.push(Orphan {
                base,
                changes,
                journal: aside,
            });
        }
        out
    }
}
