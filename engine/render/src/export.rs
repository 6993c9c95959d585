//! One entry point for every export, shared by `previz export` and the studio's export dialog:
//! the request says what and where, [`export`] does it with progress and cancellation and
//! says what it wrote.

use std::path::{Path, PathBuf};

use previz_core::project::Project;
use previz_core::timeline::TrackKind;
use previz_jobs::CancelToken;
use previz_storage::AssetStore;

use crate::animatic::{
    BurnIns, Mp4Options, RenderError, SequenceMode, SequenceOptions, encode_mp4, export_sequence,
};
use crate::interchange::{Cut, MediaFolder, edl, fcpxml, otio, shotlist, xmeml};
use crate::storyboard::{StoryboardError, StoryboardOptions, storyboard_pdf};

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// OpenTimelineIO (.otio).
    Otio,
    /// CMX3600 EDL of one video track (.edl).
    Edl,
    /// Final Cut Pro 7 XML, what Premiere imports (.xml).
    Xmeml,
    /// FCPXML 1.10, Final Cut Pro and Resolve (.fcpxml).
    Fcpxml,
    /// The shot list for the AD department (.csv).
    Csv,
    /// The PDF storyboard (.pdf).
    Pdf,
    /// The animatic, H.264 + AAC (.mp4).
    Mp4,
    /// An image sequence with WAV stems (a folder).
    Frames,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 8] = [
        ExportFormat::Mp4,
        ExportFormat::Otio,
        ExportFormat::Edl,
        ExportFormat::Xmeml,
        ExportFormat::Fcpxml,
        ExportFormat::Pdf,
        ExportFormat::Csv,
        ExportFormat::Frames,
    ];

    /// Short name (the CLI's `--format` value).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Otio => "otio",
            ExportFormat::Edl => "edl",
            ExportFormat::Xmeml => "xmeml",
            ExportFormat::Fcpxml => "fcpxml",
            ExportFormat::Csv => "csv",
            ExportFormat::Pdf => "pdf",
            ExportFormat::Mp4 => "mp4",
            ExportFormat::Frames => "frames",
        }
    }

    /// What a menu says.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Otio => "OpenTimelineIO (.otio)",
            ExportFormat::Edl => "CMX3600 EDL (.edl)",
            ExportFormat::Xmeml => "Final Cut Pro 7 XML / Premiere (.xml)",
            ExportFormat::Fcpxml => "FCPXML 1.10 / Final Cut, Resolve (.fcpxml)",
            ExportFormat::Csv => "Shot list (.csv)",
            ExportFormat::Pdf => "Storyboard PDF (.pdf)",
            ExportFormat::Mp4 => "Animatic movie (.mp4)",
            ExportFormat::Frames => "Image sequence + WAV stems (folder)",
        }
    }

    /// The usual file extension (none for a folder).
    #[must_use]
    pub fn extension(self) -> Option<&'static str> {
        match self {
            ExportFormat::Otio => Some("otio"),
            ExportFormat::Edl => Some("edl"),
            ExportFormat::Xmeml => Some("xml"),
            ExportFormat::Fcpxml => Some("fcpxml"),
            ExportFormat::Csv => Some("csv"),
            ExportFormat::Pdf => Some("pdf"),
            ExportFormat::Mp4 => Some("mp4"),
            ExportFormat::Frames => None,
        }
    }

    /// The format a file name's extension names.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<ExportFormat> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.extension() == Some(ext.as_str()))
    }
}

/// An export to make.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    pub format: ExportFormat,
    /// The file (a folder for [`ExportFormat::Frames`]).
    pub output: PathBuf,
    /// Where an edit's media is linked (default: the output's name + `_media`, next to it).
    pub media: Option<PathBuf>,
    /// EDL: the video track by name or 1-based number among video tracks.
    pub edl_track: Option<String>,
    /// EDL and burn-ins at 29.97 / 59.94: drop-frame timecode.
    pub drop_frame: bool,
    /// MP4 and frames.
    pub burn_ins: BurnIns,
    /// MP4 and frames: the largest picture height (the project's frame size scaled down).
    pub max_height: u32,
    /// Frames: one image per picture change instead of one per frame.
    pub changes_only: bool,
    /// PDF.
    pub storyboard: StoryboardOptions,
}

impl ExportRequest {
    /// Defaults for writing `format` to `output`.
    #[must_use]
    pub fn new(format: ExportFormat, output: impl Into<PathBuf>) -> Self {
        Self {
            format,
            output: output.into(),
            media: None,
            edl_track: None,
            drop_frame: false,
            burn_ins: BurnIns::default(),
            max_height: 1080,
            changes_only: false,
            storyboard: StoryboardOptions::default(),
        }
    }

    /// The media folder an edit export links into.
    #[must_use]
    pub fn media_dir(&self) -> PathBuf {
        self.media.clone().unwrap_or_else(|| {
            let stem = self
                .output
                .file_stem()
                .map_or_else(|| "export".to_owned(), |s| s.to_string_lossy().into_owned());
            self.output.with_file_name(format!("{stem}_media"))
        })
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ExportSummary {
    pub format: &'static str,
    pub output: PathBuf,
    pub bytes: u64,
    /// How many of `unit` went in.
    pub count: u64,
    /// `clips`, `shots`, `frames`, `pages`.
    pub unit: &'static str,
    /// Edits: the folder their media was linked into, and how many files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<PathBuf>,
    pub media_files: usize,
    /// Encodes: frames per second of wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_second: Option<f64>,
    /// Missing media and the like, one line each.
    pub warnings: Vec<String>,
}

impl ExportSummary {
    /// One line for people.
    #[must_use]
    pub fn describe(&self) -> String {
        let media = self
            .media
            .as_ref()
            .map(|m| format!("; {} media files in {}", self.media_files, m.display()))
            .unwrap_or_default();
        let speed = self
            .frames_per_second
            .map(|f| format!(", {f:.0} frames/s"))
            .unwrap_or_default();
        format!(
            "Wrote {} ({} {}, {} bytes{speed}{media})",
            self.output.display(),
            self.count,
            self.unit,
            self.bytes
        )
    }
}

/// Why an export failed. Messages name the file or the option at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A request that cannot be met as asked (exit 2 in the CLI).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Storyboard(#[from] StoryboardError),
    #[error("could not write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

impl ExportError {
    /// Whether the request itself was wrong (rather than the world).
    #[must_use]
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            ExportError::Invalid(_)
                | ExportError::Storyboard(StoryboardError::NoShots)
                | ExportError::Render(
                    RenderError::EmptyTimeline
                        | RenderError::TooLong { .. }
                        | RenderError::InvalidSize { .. }
                        | RenderError::InvalidOption { .. }
                )
        )
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            ExportError::Cancelled
                | ExportError::Storyboard(StoryboardError::Cancelled)
                | ExportError::Render(RenderError::Cancelled)
        )
    }
}

/// The EDL's track: by name, or 1-based among video tracks.
fn edl_track(cut: &Cut, spec: Option<&str>) -> Result<usize, ExportError> {
    let video: Vec<usize> = cut
        .tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TrackKind::Video)
        .map(|(i, _)| i)
        .collect();
    let Some(spec) = spec else {
        return video.first().copied().ok_or_else(|| {
            ExportError::Invalid(
                "the timeline has no video track; an EDL lists picture events".into(),
            )
        });
    };
    if let Some(i) = video.iter().find(|i| cut.tracks[**i].name == spec) {
        return Ok(*i);
    }
    spec.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| video.get(n).copied())
        .ok_or_else(|| {
            ExportError::Invalid(format!(
                "EDL track '{spec}' is neither the name nor the number of a video track; the video tracks are: {}",
                video
                    .iter()
                    .map(|i| cut.tracks[*i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<u64, ExportError> {
    let error = |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    previz_storage::atomic::write_atomic(path, bytes).map_err(error)?;
    Ok(bytes.len() as u64)
}

/// Writes `request`. `progress(fraction, what)` is told as the work goes; `cancel` stops it
/// (nothing partial is left at the output).
pub fn export(
    project: &Project,
    store: &AssetStore,
    request: &ExportRequest,
    progress: &mut dyn FnMut(f32, &str),
    cancel: &CancelToken,
) -> Result<ExportSummary, ExportError> {
    let format = request.format;
    let mut summary = ExportSummary {
        format: format.name(),
        output: request.output.clone(),
        ..ExportSummary::default()
    };
    match format {
        ExportFormat::Otio | ExportFormat::Edl | ExportFormat::Xmeml | ExportFormat::Fcpxml => {
            progress(0.0, "linking media");
            let media = request.media_dir();
            let mut folder = MediaFolder::new(&media, store.clone());
            let cut = Cut::from_project(project, &mut |r| folder.resolve(r));
            if cancel.is_cancelled() {
                return Err(ExportError::Cancelled);
            }
            let text = match format {
                ExportFormat::Otio => otio::write(&cut),
                ExportFormat::Edl => edl::write(
                    &cut,
                    edl_track(&cut, request.edl_track.as_deref())?,
                    request.drop_frame,
                ),
                ExportFormat::Xmeml => xmeml::write(&cut),
                _ => fcpxml::write(&cut),
            };
            summary.bytes = write_file(&request.output, text.as_bytes())?;
            summary.count = cut.tracks.iter().map(|t| t.clips().count() as u64).sum();
            summary.unit = "clips";
            summary.media_files = folder.len();
            summary.media = Some(media);
            summary.warnings = std::mem::take(&mut folder.problems);
        }
        ExportFormat::Csv => {
            let bytes = shotlist::write_csv(project).map_err(|e| {
                ExportError::Invalid(format!("the shot list could not be written: {e}"))
            })?;
            summary.bytes = write_file(&request.output, &bytes)?;
            summary.count = project.shots.len() as u64;
            summary.unit = "shots";
        }
        ExportFormat::Pdf => {
            let (bytes, report) =
                storyboard_pdf(project, store, &request.storyboard, &mut |done, total| {
                    #[allow(clippy::cast_precision_loss)]
                    progress(done as f32 / total.max(1) as f32, "panels");
                    !cancel.is_cancelled()
                })?;
            summary.bytes = write_file(&request.output, &bytes)?;
            summary.count = report.pages as u64;
            summary.unit = "pages";
            summary.warnings = report.missing_frames;
        }
        ExportFormat::Mp4 => {
            let mut options = Mp4Options::new(&request.output);
            options.burn_ins = request.burn_ins;
            options.burn_ins.drop_frame |= request.drop_frame;
            options.max_height = request.max_height;
            let report = encode_mp4(
                project,
                store,
                &options,
                |p| progress(p.fraction(), "frames"),
                cancel,
            )?;
            summary.bytes = std::fs::metadata(&report.output).map_or(0, |m| m.len());
            summary.count = report.frames;
            summary.unit = "frames";
            summary.frames_per_second = Some(report.frames_per_second());
            summary.warnings = report.warnings;
        }
        ExportFormat::Frames => {
            let name = request.output.file_name().map_or_else(
                || "animatic".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            );
            let mut options = SequenceOptions::new(&request.output, name);
            options.burn_ins = request.burn_ins;
            options.burn_ins.drop_frame |= request.drop_frame;
            options.max_height = request.max_height;
            if request.changes_only {
                options.mode = SequenceMode::Changes;
            }
            let report = export_sequence(
                project,
                store,
                &options,
                |p| progress(p.fraction(), "frames"),
                cancel,
            )?;
            summary.count = report.frames;
            summary.unit = "frames";
            summary.bytes = 0;
            summary.warnings = report.warnings;
        }
    }
    progress(1.0, "done");
    Ok(summary)
}
