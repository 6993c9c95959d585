//! The animatic: the timeline composed into frames, its audio mixed, and both encoded.
//!
//! * [`compose`]: a [`Compositor`] that makes the picture of any timeline frame (the topmost
//!   unmuted video track's clip, its still decoded and scaled once, letterboxed into the output
//!   size; slugs as text on black; a "MEDIA OFFLINE" card for a take whose file is missing) with
//!   optional [`BurnIns`] (shot, scene, timecode, dialogue subtitles).
//! * [`mix`]: the audio mix: every unmuted audio track's clips (audio assets, dialogue through
//!   their voice takes) decoded, converted to stereo at the project's rate, placed sample-exactly,
//!   with per-track / per-clip gain (`extra["gain_db"]`) and short fades at clip edges, softly
//!   limited; one stem per track besides.
//! * [`encode`]: [`encode_mp4`]: H.264 + AAC in an MP4 through the system's `ffmpeg`, fed raw
//!   frames on its stdin while the next frames are composed.
//! * [`sequence`]: [`export_sequence`]: one PNG per frame plus WAV stems.
//!
//! Nothing here panics on a damaged project: missing media becomes a visible card or silence
//! and a warning in the report; impossible sizes and lengths are errors that say what to do.

pub mod compose;
pub mod encode;
pub mod mix;
pub mod sequence;

use std::path::PathBuf;

use previz_core::{Item, Settings, Timeline};

pub use compose::{BurnIns, ComposeOptions, Compositor, FrameSize, Rect, fit_rect};
pub use encode::{EncodeReport, Mp4Options, encode_mp4};
pub use mix::{AudioMix, Limiter, MixOptions, TrackMix, mix_timeline};
pub use sequence::{SequenceMode, SequenceOptions, SequenceReport, WavFormat, export_sequence};

/// Why an animatic could not be made. Each message names the file or the value at fault and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the timeline is empty (no clip or gap lasts a frame): there is nothing to export")]
    EmptyTimeline,
    #[error(
        "the timeline lasts {frames} frames ({seconds:.0} s); an animatic export holds at most {limit_seconds} s: shorten the edit or export it in parts"
    )]
    TooLong {
        frames: i64,
        seconds: f64,
        limit_seconds: u64,
    },
    #[error("an output size of {width}×{height} cannot be encoded: {why}")]
    InvalidSize {
        width: u32,
        height: u32,
        why: String,
    },
    #[error("{why}")]
    InvalidOption { why: String },
    #[error(
        "ffmpeg was not found {where_}; install it (Debian: apt-get install ffmpeg) or set PREVIZ_FFMPEG to its path"
    )]
    FfmpegMissing { where_: String },
    #[error(
        "{} does not work as ffmpeg (`-version` ended with {status}); reinstall ffmpeg or point PREVIZ_FFMPEG at a working one",
        program.display()
    )]
    FfmpegUnusable { program: PathBuf, status: String },
    #[error("ffmpeg ({}) could not be started: {source}", program.display())]
    FfmpegStart {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ffmpeg failed ({status}) writing {}: {stderr}", output.display())]
    FfmpegFailed {
        status: String,
        output: PathBuf,
        /// The last lines ffmpeg wrote to stderr.
        stderr: String,
    },
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write the frame {}: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("could not write the WAV {}: {source}", path.display())]
    Wav {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

impl RenderError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RenderError {
        let path = path.into();
        move |source| RenderError::Io {
            action,
            path,
            source,
        }
    }

    /// Whether the work stopped because it was asked to.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, RenderError::Cancelled)
    }
}

/// Where an export is: `done` of `total` units of its current stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub done: u64,
    pub total: u64,
}

impl Progress {
    /// The whole export's fraction (mixing counts for a tenth, frames for the rest).
    #[must_use]
    pub fn fraction(&self) -> f32 {
        #[allow(clippy::cast_precision_loss)] // a progress bar
        let part = if self.total == 0 {
            1.0
        } else {
            self.done as f32 / self.total as f32
        };
        match self.stage {
            Stage::Mixing => 0.1 * part,
            Stage::Frames => 0.1 + 0.9 * part,
            Stage::Finishing => 1.0,
        }
    }
}

/// What an export is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decoding and mixing the audio (`done` / `total` in clips).
    Mixing,
    /// Composing and writing frames (`done` / `total` in frames).
    Frames,
    /// Waiting for the encoder to finish and moving the file into place.
    Finishing,
}

/// The longest timeline an export takes: three hours (the mix is held in memory, 2.1 GB of
/// stereo floats at 48 kHz).
pub const MAX_SECONDS: u64 = 3 * 3600;

/// One item of a track as the animatic reads it: items with no positive duration are skipped
/// (a damaged file must not make later items overlap earlier ones), so starts are the running
/// sum of positive durations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span<'a> {
    pub start: i64,
    pub end: i64,
    pub item: &'a Item,
}

/// A track's items with positive durations, with their starts.
pub(crate) fn spans(track: &previz_core::Track) -> Vec<Span<'_>> {
    let mut start = 0i64;
    track
        .items
        .iter()
        .filter(|item| item.duration_frames() > 0)
        .map(|item| {
            let end = start.saturating_add(item.duration_frames());
            let span = Span { start, end, item };
            start = end;
            span
        })
        .collect()
}

/// The span of `spans` covering `frame`, by binary search.
pub(crate) fn span_at<'s, 'a>(spans: &'s [Span<'a>], frame: i64) -> Option<&'s Span<'a>> {
    let i = spans.partition_point(|s| s.end <= frame);
    spans.get(i).filter(|s| s.start <= frame)
}

/// The animatic's length in frames: the longest track, counting positive durations only.
#[must_use]
pub fn duration_frames(timeline: &Timeline) -> i64 {
    timeline
        .tracks
        .iter()
        .map(|t| {
            t.items
                .iter()
                .map(Item::duration_frames)
                .filter(|d| *d > 0)
                .fold(0i64, i64::saturating_add)
        })
        .max()
        .unwrap_or(0)
}

/// Checks the timeline can be exported and returns its length in frames.
pub(crate) fn checked_duration(timeline: &Timeline) -> Result<i64, RenderError> {
    let frames = duration_frames(timeline);
    if frames <= 0 {
        return Err(RenderError::EmptyTimeline);
    }
    let seconds = previz_core::RationalTime::new(frames, timeline.rate).seconds_f64();
    #[allow(clippy::cast_precision_loss)]
    if seconds > MAX_SECONDS as f64 {
        return Err(RenderError::TooLong {
            frames,
            seconds,
            limit_seconds: MAX_SECONDS,
        });
    }
    Ok(frames)
}

/// The default output size for a project: its frame size scaled down (never up) so the height
/// is at most `max_height`, both sides even (H.264's 4:2:0 needs them even) and at most 8192.
#[must_use]
pub fn default_size(settings: &Settings, max_height: u32) -> FrameSize {
    FrameSize::fitting(settings.frame_width, settings.frame_height, max_height)
}

#[cfg(test)]
mod tests {
    use previz_core::{Clip, ClipSource, Gap, Rate, Track, TrackKind};

    use super::*;

    #[test]
    fn spans_skip_non_positive_items_and_search_finds_the_covering_one() {
        let mut track = Track::new("V1", TrackKind::Video);
        track.items = vec![
            Item::Gap(Gap::new(10)),
            Item::Gap(Gap::new(-50)),
            Item::Clip(Clip::new(
                "a",
                ClipSource::Slug {
                    text: "A".to_owned(),
                },
                0,
            )),
            Item::Gap(Gap::new(5)),
        ];
        let spans = spans(&track);
        assert_eq!(
            spans.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
            vec![(0, 10), (10, 15)]
        );
        assert_eq!(span_at(&spans, 0).map(|s| s.start), Some(0));
        assert_eq!(span_at(&spans, 9).map(|s| s.start), Some(0));
        assert_eq!(span_at(&spans, 10).map(|s| s.start), Some(10));
        assert!(span_at(&spans, 15).is_none());
        assert!(span_at(&spans, -1).is_none());
        let mut timeline = Timeline::new("t", Rate::FPS_24);
        timeline.tracks[0] = track;
        assert_eq!(duration_frames(&timeline), 15);
        assert!(matches!(
            checked_duration(&Timeline::new("empty", Rate::FPS_24)),
            Err(RenderError::EmptyTimeline)
        ));
        timeline.tracks[1].items = vec![Item::Gap(Gap::new(24 * 3600 * 4))];
        let err = checked_duration(&timeline).unwrap_err().to_string();
        assert!(err.contains("at most 10800 s"), "{err}");
    }
}
