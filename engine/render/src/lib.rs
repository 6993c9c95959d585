//! The animatic and the exports editors open.
//!
//! * [`interchange`]: the project's edit as editorial tools read it — OpenTimelineIO, CMX3600
//!   EDL, FCP 7 XML (xmeml), FCPXML 1.10 — a CSV shot list, and conform: an edited cut read back
//!   and applied to the project as edit commands, with a report.
//! * [`animatic`]: the timeline composed into frames (active takes letterboxed, burn-ins), the
//!   audio mix, and the MP4 encode through the system's ffmpeg; image sequences with WAV stems.
//! * [`storyboard`]: the PDF storyboard (N panels a page, or a contact sheet).
//! * [`export`]: one entry point for all of these, with progress and cancellation, shared by
//!   the CLI and the studio; [`audio`] (WAV, resampling, the mixer) and [`text`] (the embedded
//!   font) serve them and the studio.

pub mod animatic;
pub mod audio;
pub mod export;
pub mod ingest;
pub mod interchange;
pub mod storyboard;
pub mod text;
