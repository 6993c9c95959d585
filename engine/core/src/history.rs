//! Undo and redo.
//!
//! Each undo step holds the primitive changes that redo it and those that undo it. Continuous
//! edits (typing into a field, dragging a clip) coalesce into one step: the caller passes the
//! same coalescing key for every edit of the gesture and [`History::seal`]s when it ends. An
//! explicit group ([`History::begin_group`] / [`History::end_group`]) makes any sequence of
//! commands one step.

use serde::{Deserialize, Serialize};

use crate::edit::{Applied, Change, EditCommand, EditError};
use crate::project::Project;

/// One undo step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub label: String,
    pub redo: Vec<Change>,
    pub undo: Vec<Change>,
    #[serde(skip)]
    coalesce: Option<String>,
}

impl Step {
    fn from_applied(applied: Applied, coalesce: Option<String>) -> Self {
        Self {
            label: applied.label,
            redo: applied.redo,
            undo: applied.undo,
            coalesce,
        }
    }

    /// Folds a later edit into this step: redo this then that; undo that then this.
    fn absorb(&mut self, later: Applied) {
        // Typing: only the latest value of a field matters going forward, only the first old
        // value going back, so the step stays small however long the typing lasts.
        if let (
            [Change::SetShotField { shot: a, field: fa }],
            [Change::SetShotField { shot: b, field: fb }],
        ) = (self.redo.as_slice(), later.redo.as_slice())
            && a == b
            && fa.kind() == fb.kind()
        {
            self.redo = later.redo;
            return;
        }
        self.redo.extend(later.redo);
        let mut undo = later.undo;
        undo.append(&mut self.undo);
        self.undo = undo;
    }
}

/// The undo and redo stacks of one open project.
#[derive(Debug, Clone)]
pub struct History {
    undo: Vec<Step>,
    redo: Vec<Step>,
    group: Option<(Step, usize)>,
    limit: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// Keeps up to 1000 steps.
    #[must_use]
    pub fn new() -> Self {
        Self::with_limit(1000)
    }

    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        Self {
            undo: Vec::new(),
            redo: Vec::new(),
            group: None,
            limit: limit.max(1),
        }
    }

    /// Applies a command as its own undo step (or as part of the open group). Returns the
    /// changes made, for the autosave journal.
    pub fn apply(
        &mut self,
        doc: &mut Project,
        command: &EditCommand,
    ) -> Result<Vec<Change>, EditError> {
        let applied = doc.apply(command)?;
        let changes = applied.redo.clone();
        self.push(applied, None);
        Ok(changes)
    }

    /// Applies a command that merges into the previous step when that step has the same key
    /// and was not sealed: every keystroke in one field, every mouse move of one drag.
    pub fn apply_coalescing(
        &mut self,
        doc: &mut Project,
        command: &EditCommand,
        key: &str,
    ) -> Result<Vec<Change>, EditError> {
        let applied = doc.apply(command)?;
        let changes = applied.redo.clone();
        self.push(applied, Some(key.to_owned()));
        Ok(changes)
    }

    /// Records a step applied elsewhere (changes replayed from the journal after a crash).
    pub fn record(&mut self, applied: Applied) {
        self.push(applied, None);
    }

    /// Records a step the caller applied itself (to check it before it counts), merging into
    /// the previous step like [`History::apply_coalescing`] when `coalesce` is given.
    pub fn record_step(&mut self, applied: Applied, coalesce: Option<&str>) {
        self.push(applied, coalesce.map(str::to_owned));
    }

    fn push(&mut self, applied: Applied, coalesce: Option<String>) {
        if applied.redo.is_empty() {
            return;
        }
        self.redo.clear();
        if let Some((group, _)) = &mut self.group {
            group.absorb(applied);
            return;
        }
        if let (Some(key), Some(last)) = (&coalesce, self.undo.last_mut())
            && last.coalesce.as_ref() == Some(key)
        {
            last.absorb(applied);
            return;
        }
        self.undo.push(Step::from_applied(applied, coalesce));
        if self.undo.len() > self.limit {
            let excess = self.undo.len() - self.limit;
            self.undo.drain(..excess);
        }
    }

    /// Ends the current gesture: the next edit starts a new step even with the same key.
    pub fn seal(&mut self) {
        if let Some(last) = self.undo.last_mut() {
            last.coalesce = None;
        }
    }

    /// Starts a group: commands until the matching [`History::end_group`] form one step.
    /// Groups nest; only the outermost makes a step.
    pub fn begin_group(&mut self, label: impl Into<String>) {
        match &mut self.group {
            Some((_, depth)) => *depth += 1,
            None => {
                self.group = Some((
                    Step {
                        label: label.into(),
                        redo: Vec::new(),
                        undo: Vec::new(),
                        coalesce: None,
                    },
                    1,
                ));
            }
        }
    }

    /// Closes a group; the outermost close pushes the step (if it changed anything).
    pub fn end_group(&mut self) {
        let Some((step, depth)) = self.group.take() else {
            return;
        };
        if depth > 1 {
            self.group = Some((step, depth - 1));
            return;
        }
        if !step.redo.is_empty() {
            self.undo.push(step);
        }
    }

    /// Abandons the open group, undoing what it did (an Escape during a drag). Returns the
    /// changes applied, for the journal.
    pub fn cancel_group(&mut self, doc: &mut Project) -> Result<Vec<Change>, EditError> {
        let Some((step, _)) = self.group.take() else {
            return Ok(Vec::new());
        };
        doc.apply_changes(&step.undo)?;
        Ok(step.undo)
    }

    /// Undoes the last step. Returns the changes applied (none when there was nothing to undo).
    pub fn undo(&mut self, doc: &mut Project) -> Result<Vec<Change>, EditError> {
        self.end_group_if_open();
        let Some(step) = self.undo.pop() else {
            return Ok(Vec::new());
        };
        if let Err(e) = doc.apply_changes(&step.undo) {
            self.undo.push(step);
            return Err(e);
        }
        let changes = step.undo.clone();
        self.redo.push(Step {
            coalesce: None,
            ..step
        });
        Ok(changes)
    }

    /// Redoes the last undone step. Returns the changes applied.
    pub fn redo(&mut self, doc: &mut Project) -> Result<Vec<Change>, EditError> {
        let Some(step) = self.redo.pop() else {
            return Ok(Vec::new());
        };
        if let Err(e) = doc.apply_changes(&step.redo) {
            self.redo.push(step);
            return Err(e);
        }
        let changes = step.redo.clone();
        self.undo.push(step);
        Ok(changes)
    }

    fn end_group_if_open(&mut self) {
        while self.group.is_some() {
            self.end_group();
        }
    }

    #[must_use]
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    #[must_use]
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// What Undo would undo.
    #[must_use]
    pub fn undo_label(&self) -> Option<&str> {
        self.undo.last().map(|s| s.label.as_str())
    }

    /// What Redo would redo.
    #[must_use]
    pub fn redo_label(&self) -> Option<&str> {
        self.redo.last().map(|s| s.label.as_str())
    }

    /// Number of undo steps.
    #[must_use]
    pub fn len(&self) -> usize {
        self.undo.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.undo.is_empty()
    }
}
