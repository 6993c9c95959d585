//! Previz Studio: the window a director or an editor lives in all day.
//!
//! [`StudioApp`] is the whole UI; `main.rs` only starts eframe with it, and tests build it in
//! egui_kittest. The state lives in [`Studio`]: panels read the project from it and change the
//! project only through `EditCommand`s, so every change is undoable and journaled. Long work
//! (opening, importing, decoding thumbnails, generating) runs on the job queue; the UI thread
//! never waits on a model, the disk or the network.

pub mod app;
pub mod breakdown;
pub mod cast;
pub mod export;
pub mod files;
pub mod frames;
pub mod import;
pub mod media;
pub mod panels;
pub mod playback;
pub mod scripts;
pub mod settings;
pub mod studio;
pub mod toasts;
pub mod voices;

pub use app::{Pane, StudioApp};
pub use studio::{Selection, ShotStatus, Studio};
