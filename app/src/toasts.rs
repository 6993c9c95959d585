//! Notifications: short messages that fade, errors that stay until dismissed, each with detail
//! to expand.

use std::time::{Duration, Instant};

/// How loud a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// One notification.
#[derive(Clone, Debug)]
pub struct Toast {
    pub level: Level,
    pub title: String,
    pub detail: String,
    pub created: Instant,
}

/// The notifications on screen, newest last; the full history stays in `log`.
#[derive(Debug, Default)]
pub struct Toasts {
    pub visible: Vec<Toast>,
    pub log: Vec<Toast>,
}

/// Information fades after this long; errors stay until dismissed.
pub const INFO_LIFETIME: Duration = Duration::from_secs(6);

impl Toasts {
    pub fn info(&mut self, title: impl Into<String>) {
        self.push(Level::Info, title.into(), String::new());
    }

    pub fn error(&mut self, title: impl Into<String>, detail: impl Into<String>) {
        self.push(Level::Error, title.into(), detail.into());
    }

    fn push(&mut self, level: Level, title: String, detail: String) {
        let toast = Toast {
            level,
            title,
            detail,
            created: Instant::now(),
        };
        self.log.push(toast.clone());
        if self.log.len() > 500 {
            self.log.remove(0);
        }
        self.visible.push(toast);
        if self.visible.len() > 6 {
            self.visible.remove(0);
        }
    }

    /// Drops faded information toasts.
    pub fn expire(&mut self, now: Instant) {
        self.visible
            .retain(|t| t.level == Level::Error || now.duration_since(t.created) < INFO_LIFETIME);
    }

    pub fn dismiss(&mut self, index: usize) {
        if index < self.visible.len() {
            self.visible.remove(index);
        }
    }

    /// The newest error on screen, for tests and the status bar.
    #[must_use]
    pub fn last_error(&self) -> Option<&Toast> {
        self.visible.iter().rev().find(|t| t.level == Level::Error)
    }
}
