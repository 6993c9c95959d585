//! The autosave journal: edits made since the last save, one JSON line each.
//!
//! ```text
//! {"previz_journal":1,"base":"blake3:<hex of the project.json it applies to>","created":"…"}
//! {"sum":"<16 hex>","record":{"seq":1,"kind":"apply","label":"Add shot","at":"…","changes":[…]}}
//! {"sum":"<16 hex>","record":{"seq":2,"kind":"undo","label":"Add shot","at":"…","changes":[…]}}
//! ```
//!
//! Each record holds the primitive [`Change`]s that were applied (never commands, so replay is
//! deterministic), and `sum` is the first 16 hex digits of the blake3 of the record's JSON
//! exactly as it appears on the line, so a torn or damaged line is recognised. Sequence numbers
//! run from 1 without gaps, which catches lost or duplicated lines. Reading stops at the first
//! bad line and says which it was.
//!
//! The journal is created atomically (header plus any records carried over, via temp file and
//! rename), then appended to. Appends are buffered in memory and written with one `write` and
//! one `fdatasync` when the session autosaves; if the write fails part-way, the file is
//! truncated back to its last durable length so the next attempt does not append after a
//! half line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use previz_core::Change;
use serde::{Deserialize, Serialize};

use crate::atomic;

/// The journal format this build writes and reads.
pub const JOURNAL_VERSION: u32 = 1;

const SUM_LEN: usize = 16;
const LINE_HEAD: &str = "{\"sum\":\"";
const LINE_MIDDLE: &str = "\",\"record\":";

/// The first line of a journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub previz_journal: u32,
    /// `blake3:<hex>` of the `project.json` bytes the records apply to.
    pub base: String,
    pub created: Timestamp,
}

/// What an edit step did to the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A new edit (or part of one: see [`JournalRecord::merge`]).
    Apply,
    Undo,
    Redo,
    /// An abandoned group, undone.
    Cancel,
}

/// One edit step in the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub seq: u64,
    pub kind: RecordKind,
    pub label: String,
    pub at: Timestamp,
    /// This apply continued the previous undo step (a coalesced drag or typing, or a group):
    /// replay folds it into that step so undo after recovery behaves as before the crash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// The changes that redo this step, in order.
    pub changes: Vec<Change>,
}

/// `blake3:<hex>` of some bytes: how the journal names the project file it applies to.
#[must_use]
pub fn content_hash(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

fn sum(payload: &[u8]) -> String {
    blake3::hash(payload).to_hex().as_str()[..SUM_LEN].to_owned()
}

/// The header line, newline included.
#[must_use]
pub fn encode_header(base: &str, created: Timestamp) -> Vec<u8> {
    let header = JournalHeader {
        previz_journal: JOURNAL_VERSION,
        base: base.to_owned(),
        created,
    };
    // A struct of strings and a timestamp always serializes.
    let mut line = serde_json::to_vec(&header).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A record's line, newline included.
pub fn encode_record(record: &JournalRecord) -> Result<Vec<u8>, serde_json::Error> {
    let payload = serde_json::to_vec(record)?;
    let mut line = Vec::with_capacity(payload.len() + 48);
    line.extend_from_slice(LINE_HEAD.as_bytes());
    line.extend_from_slice(sum(&payload).as_bytes());
    line.extend_from_slice(LINE_MIDDLE.as_bytes());
    line.extend_from_slice(&payload);
    line.extend_from_slice(b"}\n");
    Ok(line)
}

fn decode_record(line: &[u8]) -> Result<JournalRecord, String> {
    let rest = line
        .strip_prefix(LINE_HEAD.as_bytes())
        .ok_or("it does not start like a journal record")?;
    let (expected, rest) = rest
        .split_at_checked(SUM_LEN)
        .ok_or("it ends inside the checksum")?;
    let payload = rest
        .strip_prefix(LINE_MIDDLE.as_bytes())
        .and_then(|p| p.strip_suffix(b"}"))
        .ok_or("it is incomplete")?;
    if sum(payload).as_bytes() != expected {
        return Err("its checksum does not match its content".to_owned());
    }
    serde_json::from_slice(payload).map_err(|e| format!("its record is not understood ({e})"))
}

/// Why the end of a journal was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number of the first bad line (the header is line 1).
    pub line: usize,
    pub reason: String,
    /// Complete lines (with a newline) from the bad one on that were ignored. Zero means only
    /// an unfinished last line was dropped: an append the program did not get to finish.
    pub lines_ignored: usize,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lines_ignored == 0 {
            write!(
                f,
                "line {} of the autosave journal was cut short ({}); the edit it was recording was not recovered",
                self.line, self.reason
            )
        } else {
            write!(
                f,
                "line {} of the autosave journal is damaged ({}); it and the {} line(s) after it were not recovered",
                self.line,
                self.reason,
                self.lines_ignored.saturating_sub(1)
            )
        }
    }
}

/// A journal as read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalRead {
    pub header: JournalHeader,
    /// The records up to the first bad line.
    pub records: Vec<JournalRecord>,
    /// Set when reading stopped before the end of the file.
    pub tail: Option<TornTail>,
    /// Bytes from the start of the file to the end of the last good line.
    pub good_len: usize,
}

/// Why a journal could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("its first line is not a Previz journal header ({0})")]
    BadHeader(String),
    #[error(
        "it was written by a newer Previz (journal version {0}; this build reads {JOURNAL_VERSION})"
    )]
    TooNew(u32),
}

/// Parses a journal's bytes. Never fails on records: a bad record ends the readable part.
pub fn read_journal(bytes: &[u8]) -> Result<JournalRead, JournalError> {
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let header_text = first.strip_suffix(b"\n").unwrap_or(first);
    let header: JournalHeader =
        serde_json::from_slice(header_text).map_err(|e| JournalError::BadHeader(e.to_string()))?;
    if header.previz_journal > JOURNAL_VERSION {
        return Err(JournalError::TooNew(header.previz_journal));
    }
    let mut good_len = first.len();
    let mut records = Vec::new();
    let mut tail = None;
    let rest: Vec<&[u8]> = lines.collect();
    for (index, raw) in rest.iter().enumerate() {
        let complete = raw.ends_with(b"\n");
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let decoded = if complete {
            decode_record(line)
        } else {
            // An unfinished append; even if the bytes parse, the newline never made it.
            decode_record(line).and(Err("the line has no end".to_owned()))
        };
        let expected_seq = records.len() as u64 + 1;
        match decoded {
            Ok(record) if record.seq == expected_seq => {
                good_len += raw.len();
                records.push(record);
            }
            outcome => {
                let reason = match outcome {
                    Ok(record) => format!(
                        "it is record {} where record {expected_seq} should be",
                        record.seq
                    ),
                    Err(reason) => reason,
                };
                let lines_ignored = rest[index..].iter().filter(|l| l.ends_with(b"\n")).count();
                tail = Some(TornTail {
                    line: index + 2,
                    reason,
                    lines_ignored,
                });
                break;
            }
        }
    }
    Ok(JournalRead {
        header,
        records,
        tail,
        good_len,
    })
}

/// Appends records to `journal.jsonl`, buffering them until [`JournalWriter::flush`].
#[derive(Debug)]
pub(crate) struct JournalWriter {
    path: PathBuf,
    base: String,
    /// `None` when the file must be (re)created before the next append: after a save whose
    /// fresh journal could not be written.
    file: Option<File>,
    /// Length of the file after the last successful flush.
    durable_len: u64,
    pending: Vec<u8>,
    pending_records: usize,
    next_seq: u64,
    /// Identity of the open file, to notice when the journal at `path` is no longer it.
    file_id: Option<FileId>,
    /// While a background save runs: the last sequence number its snapshot holds, and every
    /// record pushed since (they go into the journal that follows the save).
    tail: Option<(u64, Vec<JournalRecord>)>,
}

/// (device, inode) of a file on Unix; nothing elsewhere.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(metadata: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn file_id(_metadata: &std::fs::Metadata) -> Option<FileId> {
    None
}

impl JournalWriter {
    /// Creates the journal afresh (atomically): a header naming `base`, then `records`
    /// renumbered from 1.
    pub(crate) fn create(
        path: &Path,
        base: &str,
        created: Timestamp,
        records: &[JournalRecord],
    ) -> io::Result<Self> {
        let mut writer = Self {
            path: path.to_path_buf(),
            base: base.to_owned(),
            file: None,
            durable_len: 0,
            pending: Vec::new(),
            pending_records: 0,
            next_seq: 1,
            file_id: None,
            tail: None,
        };
        for record in records {
            writer
                .push(
                    record.kind,
                    record.label.clone(),
                    record.at,
                    record.merge,
                    record.changes.clone(),
                )
                .map_err(io::Error::other)?;
        }
        writer.recreate(created)?;
        Ok(writer)
    }

    /// Continues an existing journal whose first `len` bytes hold `records` good records.
    pub(crate) fn append_to(path: &Path, base: &str, len: u64, records: u64) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).open(path)?;
        let file_id = file_id(&file.metadata()?);
        Ok(Self {
            path: path.to_path_buf(),
            base: base.to_owned(),
            file: Some(file),
            durable_len: len,
            pending: Vec::new(),
            pending_records: 0,
            next_seq: records + 1,
            file_id,
            tail: None,
        })
    }

    /// Writes header + pending records to a new file, renames it over the journal and keeps it
    /// open for appends.
    fn recreate(&mut self, created: Timestamp) -> io::Result<()> {
        let mut bytes = encode_header(&self.base, created);
        bytes.extend_from_slice(&self.pending);
        atomic::write_atomic(&self.path, &bytes)?;
        let file = OpenOptions::new().append(true).open(&self.path)?;
        self.file_id = file_id(&file.metadata()?);
        self.file = Some(file);
        self.durable_len = bytes.len() as u64;
        self.pending.clear();
        self.pending_records = 0;
        Ok(())
    }

    /// Buffers a record; nothing touches the disk until [`JournalWriter::flush`].
    pub(crate) fn push(
        &mut self,
        kind: RecordKind,
        label: String,
        at: Timestamp,
        merge: bool,
        changes: Vec<Change>,
    ) -> Result<(), serde_json::Error> {
        let record = JournalRecord {
            seq: self.next_seq,
            kind,
            label,
            at,
            merge,
            changes,
        };
        self.pending.extend_from_slice(&encode_record(&record)?);
        if let Some((_, tail)) = &mut self.tail {
            tail.push(record);
        }
        self.next_seq += 1;
        self.pending_records += 1;
        Ok(())
    }

    pub(crate) fn pending_records(&self) -> usize {
        self.pending_records
    }

    /// Writes and fdatasyncs the buffered records. Returns how many were made durable. On
    /// error they stay buffered for the next attempt and the file is cut back to its last
    /// durable length.
    pub(crate) fn flush(&mut self, now: Timestamp) -> io::Result<usize> {
        let count = self.pending_records;
        let Some(file) = &mut self.file else {
            self.recreate(now)?;
            return Ok(count);
        };
        if count == 0 {
            return Ok(0);
        }
        // Appending through our handle to a journal that was deleted or replaced behind our
        // back would "succeed" into a file nobody reads. Starting a new one would lose the
        // records already in the old one, so refuse until the next save starts afresh.
        if let Some(id) = self.file_id {
            match std::fs::metadata(&self.path) {
                Ok(m) if file_id(&m) == Some(id) => {}
                Ok(_) => {
                    return Err(io::Error::other(
                        "the journal was replaced by another program since it was opened; save to start a new one",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if let Err(e) = file
            .write_all(&self.pending)
            .and_then(|()| file.sync_data())
        {
            // Best effort: if the share is gone this fails too, and the next flush tries again.
            let _ = file.set_len(self.durable_len);
            return Err(e);
        }
        self.durable_len += self.pending.len() as u64;
        self.pending.clear();
        self.pending_records = 0;
        Ok(count)
    }

    /// Marks where a background save's snapshot ends: returns the sequence number of the last
    /// record it holds and starts keeping the records that follow.
    pub(crate) fn begin_tail(&mut self) -> u64 {
        let through = self.next_seq - 1;
        self.tail = Some((through, Vec::new()));
        through
    }

    /// Stops keeping records for a background save; returns the ones kept.
    pub(crate) fn end_tail(&mut self) -> Vec<JournalRecord> {
        self.tail
            .take()
            .map(|(_, records)| records)
            .unwrap_or_default()
    }

    /// Starts the journal that follows a background save: a header naming the new `base`, then
    /// the records made while the save ran (renumbered from 1). If it cannot be written, the
    /// records stay buffered and the next flush creates the file.
    pub(crate) fn restart_with(
        &mut self,
        base: &str,
        now: Timestamp,
        records: &[JournalRecord],
    ) -> io::Result<()> {
        self.base = base.to_owned();
        self.pending.clear();
        self.pending_records = 0;
        self.next_seq = 1;
        self.file = None;
        self.tail = None;
        for record in records {
            self.push(
                record.kind,
                record.label.clone(),
                record.at,
                record.merge,
                record.changes.clone(),
            )
            .map_err(io::Error::other)?;
        }
        self.recreate(now)
    }

    /// Starts a fresh, empty journal for a newly saved `base`, dropping buffered records (the
    /// save holds them). If writing it fails, the writer remembers to create it on the next
    /// flush, so edits made after the save are journaled against the right base.
    pub(crate) fn restart(&mut self, base: &str, now: Timestamp) -> io::Result<()> {
        self.tail = None;
        self.base = base.to_owned();
        self.pending.clear();
        self.pending_records = 0;
        self.next_seq = 1;
        self.file = None;
        self.recreate(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use previz_core::{ShotField, ShotId};

    fn record(seq: u64, note: &str) -> JournalRecord {
        JournalRecord {
            seq,
            kind: RecordKind::Apply,
            label: "Edit shot notes".to_owned(),
            at: Timestamp::UNIX_EPOCH,
            merge: false,
            changes: vec![Change::SetShotField {
                shot: ShotId::from_u128(7),
                field: ShotField::Notes(note.to_owned()),
            }],
        }
    }

    fn journal(records: &[JournalRecord]) -> Vec<u8> {
        let mut bytes = encode_header("blake3:00", Timestamp::UNIX_EPOCH);
        for r in records {
            bytes.extend(encode_record(r).unwrap());
        }
        bytes
    }

    #[test]
    fn round_trip() {
        let records = vec![record(1, "a"), record(2, "b\n\"quoted\"")];
        let read = read_journal(&journal(&records)).unwrap();
        assert_eq!(read.records, records);
        assert_eq!(read.tail, None);
        assert_eq!(read.header.base, "blake3:00");
        assert_eq!(read.good_len, journal(&records).len());
    }

    #[test]
    fn a_tail_torn_at_any_byte_loses_only_the_last_record() {
        let records = vec![record(1, "one"), record(2, "two"), record(3, "three")];
        let full = journal(&records);
        let start_of_last = journal(&records[..2]).len();
        for cut in start_of_last..full.len() {
            let read = read_journal(&full[..cut]).unwrap();
            assert_eq!(read.records, records[..2], "cut at {cut}");
            assert_eq!(read.good_len, start_of_last, "cut at {cut}");
            if cut == start_of_last {
                assert_eq!(read.tail, None);
            } else {
                let tail = read.tail.expect("a torn tail is reported");
                assert_eq!(tail.line, 4, "cut at {cut}");
                assert_eq!(tail.lines_ignored, 0);
                assert!(tail.to_string().contains("line 4"), "{tail}");
            }
        }
        assert_eq!(read_journal(&full).unwrap().records, records);
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let records = vec![record(1, "one"), record(2, "two"), record(3, "three")];
        let full = journal(&records);
        let second = journal(&records[..1]).len();
        let third = journal(&records[..2]).len();
        // Flip every byte of record 2 in turn (except its newline): reading stops at line 3.
        for at in second..third - 1 {
            let mut damaged = full.clone();
            damaged[at] ^= 0x01;
            let read = read_journal(&damaged).unwrap();
            assert_eq!(read.records, records[..1], "flip at {at}");
            let tail = read.tail.unwrap();
            assert_eq!(tail.line, 3);
            assert_eq!(tail.lines_ignored, 2, "{tail}");
        }
    }

    #[test]
    fn sequence_gaps_and_duplicates_stop_reading() {
        let read = read_journal(&journal(&[record(1, "a"), record(1, "a")])).unwrap();
        assert_eq!(read.records.len(), 1);
        assert!(
            read.tail
                .unwrap()
                .reason
                .contains("record 1 where record 2")
        );
        let read = read_journal(&journal(&[record(2, "a")])).unwrap();
        assert!(read.records.is_empty());
    }

    #[test]
    fn a_bad_header_or_a_newer_version_is_an_error() {
        assert!(matches!(read_journal(b""), Err(JournalError::BadHeader(_))));
        assert!(matches!(
            read_journal(b"{\"previz_jour"),
            Err(JournalError::BadHeader(_))
        ));
        let newer = br#"{"previz_journal":9,"base":"blake3:00","created":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(read_journal(newer), Err(JournalError::TooNew(9)));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_read_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = read_journal(&bytes);
        }

        #[test]
        fn damage_anywhere_yields_a_prefix_of_the_true_records(
            cut in 0usize..2000,
            flips in proptest::collection::vec((0usize..2000, 1u8..=255), 0..4),
        ) {
            let records: Vec<JournalRecord> =
                (1..=5).map(|n| record(n, &format!("note {n}"))).collect();
            let mut bytes = journal(&records);
            for (at, mask) in flips {
                let len = bytes.len();
                bytes[at % len] ^= mask;
            }
            bytes.truncate(cut.min(bytes.len()));
            if let Ok(read) = read_journal(&bytes) {
                proptest::prop_assert!(read.records.len() <= records.len());
                proptest::prop_assert_eq!(&read.records[..], &records[..read.records.len()]);
                proptest::prop_assert!(read.good_len <= bytes.len());
            }
        }
    }

    #[test]
    fn writer_buffers_until_flush_and_restarts_with_a_new_base() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut writer =
            JournalWriter::create(&path, "blake3:aa", Timestamp::UNIX_EPOCH, &[]).unwrap();
        let r = record(1, "x");
        writer
            .push(r.kind, r.label.clone(), r.at, false, r.changes.clone())
            .unwrap();
        assert!(
            read_journal(&std::fs::read(&path).unwrap())
                .unwrap()
                .records
                .is_empty()
        );
        assert_eq!(writer.flush(Timestamp::UNIX_EPOCH).unwrap(), 1);
        let read = read_journal(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.records, vec![r.clone()]);
        // Reopen for append and continue the numbering.
        let mut writer =
            JournalWriter::append_to(&path, "blake3:aa", read.good_len as u64, 1).unwrap();
        writer
            .push(r.kind, r.label.clone(), r.at, false, r.changes.clone())
            .unwrap();
        writer.flush(Timestamp::UNIX_EPOCH).unwrap();
        let read = read_journal(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.records[1].seq, 2);
        writer.restart("blake3:bb", Timestamp::UNIX_EPOCH).unwrap();
        let read = read_journal(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.header.base, "blake3:bb");
        assert!(read.records.is_empty());
    }
}
