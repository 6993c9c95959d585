//! Replaying journal records onto the saved project after a crash.
//!
//! The document state after replay is exact: every record's changes are applied in order.
//! The undo history is rebuilt as closely as the records allow: applies marked `merge` fold
//! into the step before them (a coalesced drag or a group stays one undo step), and an undo or
//! redo record is replayed as a real undo or redo when the history's top step does exactly what
//! the record says; otherwise (the step it undid was saved before the journal started) it is
//! applied as a step of its own, which gives the same document.

use previz_core::{Applied, Change, EditError, History, Project};

use crate::journal::{JournalRecord, RecordKind};

/// [`History::undo`] or [`History::redo`].
type HistoryOp = fn(&mut History, &mut Project) -> Result<Vec<Change>, EditError>;

/// A record that would not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayFailure {
    pub seq: u64,
    pub label: String,
    pub error: EditError,
}

/// What replay did.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    /// The records applied, in order.
    pub applied: Vec<JournalRecord>,
    /// The first record that failed; replay stops there.
    pub failure: Option<ReplayFailure>,
}

fn flush(history: &mut History, pending: &mut Option<Applied>) {
    if let Some(step) = pending.take() {
        history.record(step);
    }
}

/// Runs `op` (an undo or redo) and keeps it only if it applied exactly `expected`; otherwise
/// reverts it with `revert` and reports false.
fn replay_as_history_op(
    project: &mut Project,
    history: &mut History,
    expected: &[Change],
    op: HistoryOp,
    revert: HistoryOp,
) -> Result<bool, EditError> {
    match op(history, project) {
        Ok(done) if done == expected => Ok(true),
        Ok(done) if done.is_empty() => Ok(false),
        Ok(_) => {
            revert(history, project)?;
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}

fn replay_one(
    project: &mut Project,
    history: &mut History,
    pending: &mut Option<Applied>,
    record: &JournalRecord,
) -> Result<(), EditError> {
    if record.kind == RecordKind::Apply {
        let undo = project.apply_changes(&record.changes)?;
        let applied = Applied {
            label: record.label.clone(),
            redo: record.changes.clone(),
            undo,
        };
        match pending {
            Some(step) if record.merge => {
                // As History does for typing: only the last value matters going forward and
                // the first old value going back.
                if let (
                    [Change::SetShotField { shot: a, field: fa }],
                    [Change::SetShotField { shot: b, field: fb }],
                ) = (step.redo.as_slice(), applied.redo.as_slice())
                    && a == b
                    && fa.kind() == fb.kind()
                {
                    step.redo = applied.redo;
                    return Ok(());
                }
                step.redo.extend(applied.redo);
                let mut undo = applied.undo;
                undo.append(&mut step.undo);
                step.undo = undo;
            }
            _ => {
                flush(history, pending);
                *pending = Some(applied);
            }
        }
        return Ok(());
    }
    flush(history, pending);
    let (op, revert, verb): (HistoryOp, HistoryOp, &str) = match record.kind {
        RecordKind::Redo => (History::redo, History::undo, "Redo"),
        RecordKind::Cancel => (History::undo, History::redo, "Cancel"),
        _ => (History::undo, History::redo, "Undo"),
    };
    if replay_as_history_op(project, history, &record.changes, op, revert)? {
        return Ok(());
    }
    let undo = project.apply_changes(&record.changes)?;
    history.record(Applied {
        label: format!("{verb} {}", record.label),
        redo: record.changes.clone(),
        undo,
    });
    Ok(())
}

/// Applies `records` to `project`, rebuilding `history`. Stops at the first record that fails;
/// the ones before it stay applied.
pub(crate) fn replay(
    project: &mut Project,
    history: &mut History,
    records: Vec<JournalRecord>,
) -> Replayed {
    let mut replayed = Replayed::default();
    let mut pending = None;
    for record in records {
        if let Err(error) = replay_one(project, history, &mut pending, &record) {
            replayed.failure = Some(ReplayFailure {
                seq: record.seq,
                label: record.label,
                error,
            });
            break;
        }
        replayed.applied.push(record);
    }
    flush(history, &mut pending);
    replayed
}
