//! The animatic as an image sequence with WAV stems, for editors and compositors that take
//! frames rather than a movie.
//!
//! Files, in the chosen folder (created if needed), named after `name`:
//!
//! * [`SequenceMode::EveryFrame`] (the default): `NAME.000000.png` … one PNG per timeline
//!   frame, numbered from 0. Frames identical to the one before (a still held for its shot)
//!   are hard links to that file (a copy where the file system has no links), so a 200-shot
//!   cut costs 200 PNG encodes, not 20,000, unless a timecode burn-in makes every frame new.
//! * [`SequenceMode::Changes`]: one PNG per change of picture, numbered by the frame it starts
//!   on, and `NAME.changes.csv` listing `frame,timecode,duration_frames,file` for each.
//! * `NAME.<track>.wav`: one stem per unmuted audio track (its clips gained and faded, not
//!   limited), and `NAME.mix.wav`, the limited mix; 24-bit PCM (or 32-bit float) at the
//!   project's audio rate, exactly the timeline's length.
//!
//! Every file is written under a temporary name and renamed when complete. A cancelled or
//! failed export removes the files it wrote.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};
use previz_core::{Project, RationalTime};
use previz_jobs::CancelToken;
use previz_storage::AssetStore;

use super::compose::{BurnIns, ComposeOptions, ComposeStats, Compositor, FrameSize};
use super::mix::{MixOptions, mix_timeline, output_rate};
use super::{Progress, RenderError, Stage, checked_duration};

/// Which frames become files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SequenceMode {
    /// A PNG per frame (repeats hard-linked).
    #[default]
    EveryFrame,
    /// A PNG per change of picture, plus a CSV of where each starts.
    Changes,
}

/// How WAVs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WavFormat {
    /// 24-bit integer PCM (what every editor reads); samples beyond full scale are clipped.
    #[default]
    Pcm24,
    /// 32-bit float (keeps overs in stems).
    Float32,
}

/// How the sequence is made.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceOptions {
    pub folder: PathBuf,
    /// The files' common prefix (`NAME.000000.png`); `frame` when empty.
    pub name: String,
    pub size: Option<FrameSize>,
    /// The largest height of the default size (1080).
    pub max_height: u32,
    pub burn_ins: BurnIns,
    pub mode: SequenceMode,
    /// Write the stems and the mix.
    pub audio: bool,
    pub wav_format: WavFormat,
    pub mix: MixOptions,
}

impl SequenceOptions {
    /// Defaults for writing into `folder`.
    #[must_use]
    pub fn new(folder: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Self {
            folder: folder.into(),
            name: name.into(),
            size: None,
            max_height: 1080,
            burn_ins: BurnIns::default(),
            mode: SequenceMode::default(),
            audio: true,
            wav_format: WavFormat::default(),
            mix: MixOptions::default(),
        }
    }
}

/// What a sequence export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceReport {
    pub folder: PathBuf,
    /// Timeline frames covered.
    pub frames: u64,
    /// Image files in the folder (links included).
    pub images: u64,
    /// Of them, PNGs encoded (the rest are links or copies of the one before).
    pub encoded: u64,
    pub size: FrameSize,
    /// The stems, in track order.
    pub stems: Vec<PathBuf>,
    pub mix: Option<PathBuf>,
    /// `NAME.changes.csv` in [`SequenceMode::Changes`].
    pub changes: Option<PathBuf>,
    pub compose: ComposeStats,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

/// A name safe on every file system: letters, digits, `-`, `_`, `.`, spaces as `_`.
fn file_safe(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('.').to_owned();
    if cleaned.is_empty() {
        "track".to_owned()
    } else {
        cleaned
    }
}

/// Files this export has written (removed unless the export completes).
struct Written(Vec<PathBuf>, bool);

impl Written {
    fn push(&mut self, path: PathBuf) {
        self.0.push(path);
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        if !self.1 {
            for path in &self.0 {
                let _ = fs::remove_file(path);
            }
        }
    }
}

fn temp_of(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes a WAV of interleaved stereo (or any channel count) samples, atomically.
fn write_wav(
    path: &Path,
    channels: u16,
    rate_hz: u32,
    samples: &[f32],
    format: WavFormat,
) -> Result<(), RenderError> {
    let temp = temp_of(path);
    let wav = |source| RenderError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let result = (|| {
        let spec = match format {
            WavFormat::Pcm24 => hound::WavSpec {
                channels,
                sample_rate: rate_hz,
                bits_per_sample: 24,
                sample_format: hound::SampleFormat::Int,
            },
            WavFormat::Float32 => hound::WavSpec {
                channels,
                sample_rate: rate_hz,
                bits_per_sample: 32,
                sample_format: hound::SampleFormat::Float,
            },
        };
        let mut writer = hound::WavWriter::create(&temp, spec).map_err(wav)?;
        match format {
            WavFormat::Pcm24 => {
                for s in samples {
                    #[allow(clippy::cast_possible_truncation)] // clamped to 24 bits
                    let v = (f64::from(s.clamp(-1.0, 1.0)) * 8_388_607.0).round() as i32;
                    writer.write_sample(v).map_err(wav)?;
                }
            }
            WavFormat::Float32 => {
                for s in samples {
                    writer.write_sample(*s).map_err(wav)?;
                }
            }
        }
        writer.finalize().map_err(wav)?;
        fs::rename(&temp, path).map_err(RenderError::io("move into place", path.to_path_buf()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes a PNG atomically (fast compression: frames are many).
fn write_png(path: &Path, image: &RgbImage) -> Result<(), RenderError> {
    let temp = temp_of(path);
    let result = (|| {
        let file = fs::File::create(&temp).map_err(RenderError::io("create", temp.clone()))?;
        let mut out = BufWriter::new(file);
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|source| RenderError::Image {
                path: path.to_path_buf(),
                source,
            })?;
        out.flush()
            .map_err(RenderError::io("write", temp.clone()))?;
        drop(out);
        fs::rename(&temp, path).map_err(RenderError::io("move into place", path.to_path_buf()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `to` as the same file as `from` (a hard link, else a copy), replacing what was there.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), RenderError> {
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(RenderError::io("copy a frame to", to.to_path_buf()))
}

/// Writes the image sequence (and the stems and mix) of `project`'s animatic. `progress` is
/// called through the mix and once per frame; `cancel` stops within a frame and removes what
/// was written.
pub fn export_sequence(
    project: &Project,
    store: &AssetStore,
    options: &SequenceOptions,
    mut progress: impl FnMut(Progress),
    cancel: &CancelToken,
) -> Result<SequenceReport, RenderError> {
    let started = Instant::now();
    let frames = checked_duration(&project.timeline)?;
    let total = u64::try_from(frames).unwrap_or(0);
    let size = match options.size {
        Some(size) => FrameSize::new(size.width, size.height)?,
        None => super::default_size(&project.settings, options.max_height),
    };
    let name = if options.name.trim().is_empty() {
        "frame".to_owned()
    } else {
        file_safe(&options.name)
    };
    let folder = &options.folder;
    fs::create_dir_all(folder).map_err(RenderError::io("create the folder", folder.clone()))?;
    let mut written = Written(Vec::new(), false);
    let mut warnings = Vec::new();
    let mut stems = Vec::new();
    let mut mix_path = None;

    if options.audio {
        let rate_hz = output_rate(project, &options.mix)?;
        let mut used_names: Vec<String> = vec!["mix".to_owned()];
        let mix = mix_timeline(
            project,
            store,
            &options.mix,
            |t| {
                let base = file_safe(&t.track.name);
                let mut stem_name = base.clone();
                let mut n = 2;
                while used_names
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&stem_name))
                {
                    stem_name = format!("{base}-{n}");
                    n += 1;
                }
                used_names.push(stem_name.clone());
                let path = folder.join(format!("{name}.{stem_name}.wav"));
                write_wav(
                    &path,
                    super::mix::CHANNELS,
                    rate_hz,
                    t.samples,
                    options.wav_format,
                )?;
                written.push(path.clone());
                stems.push(path);
                Ok(())
            },
            |done, total| {
                progress(Progress {
                    stage: Stage::Mixing,
                    done,
                    total,
                });
            },
            cancel,
        )?;
        let path = folder.join(format!("{name}.mix.wav"));
        // The mix is limited already (unless the limiter is off); 24-bit clips what is left.
        write_wav(
            &path,
            mix.channels,
            mix.sample_rate_hz,
            &mix.samples,
            options.wav_format,
        )?;
        written.push(path.clone());
        mix_path = Some(path);
        warnings.extend(mix.warnings);
    }

    let compose_options = ComposeOptions {
        size,
        burn_ins: options.burn_ins,
        cache_entries: 8,
    };
    let timeline = &project.timeline;
    let frame_path = |frame: i64| folder.join(format!("{name}.{frame:06}.png"));
    let mut images = 0u64;
    let mut encoded = 0u64;
    let mut changes: Vec<(i64, i64, PathBuf)> = Vec::new();
    let outcome: Result<(ComposeStats, Vec<String>), RenderError> = std::thread::scope(|scope| {
        let (sender, frames_in) = mpsc::sync_channel::<(i64, Arc<RgbImage>)>(4);
        let composer = scope.spawn(move || {
            let mut compositor = Compositor::new(project, store, compose_options);
            for frame in 0..frames {
                if cancel.is_cancelled() || sender.send((frame, compositor.frame(frame))).is_err() {
                    break;
                }
            }
            (compositor.stats(), compositor.warnings().to_vec())
        });
        let mut previous: Option<(Arc<RgbImage>, PathBuf)> = None;
        let mut result = Ok(());
        for (frame, image) in &frames_in {
            if cancel.is_cancelled() {
                result = Err(RenderError::Cancelled);
                break;
            }
            let same = previous
                .as_ref()
                .is_some_and(|(p, _)| Arc::ptr_eq(p, &image));
            let step = match options.mode {
                SequenceMode::EveryFrame => {
                    let path = frame_path(frame);
                    let r = match (&previous, same) {
                        (Some((_, from)), true) => link_or_copy(from, &path),
                        _ => {
                            encoded += 1;
                            write_png(&path, &image)
                        }
                    };
                    r.map(|()| {
                        written.push(path.clone());
                        images += 1;
                        previous = Some((Arc::clone(&image), path));
                    })
                }
                SequenceMode::Changes => {
                    if same {
                        if let Some(last) = changes.last_mut() {
                            last.1 += 1;
                        }
                        Ok(())
                    } else {
                        let path = frame_path(frame);
                        encoded += 1;
                        write_png(&path, &image).map(|()| {
                            written.push(path.clone());
                            images += 1;
                            changes.push((frame, 1, path.clone()));
                            previous = Some((Arc::clone(&image), path));
                        })
                    }
                }
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
            progress(Progress {
                stage: Stage::Frames,
                done: u64::try_from(frame + 1).unwrap_or(0),
                total,
            });
        }
        drop(frames_in);
        let joined = composer.join().unwrap_or_default();
        result.map(|()| joined)
    });
    let (compose, compose_warnings) = outcome?;
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    let changes_path = if options.mode == SequenceMode::Changes {
        let path = folder.join(format!("{name}.changes.csv"));
        let mut csv = String::from("frame,timecode,duration_frames,file\n");
        for (frame, duration, file) in &changes {
            let tc = RationalTime::new(timeline.start_frame.saturating_add(*frame), timeline.rate)
                .to_timecode(options.burn_ins.drop_frame);
            let file = file.file_name().unwrap_or_default().to_string_lossy();
            csv.push_str(&format!("{frame},{tc},{duration},{file}\n"));
        }
        let temp = temp_of(&path);
        fs::write(&temp, csv).map_err(RenderError::io("write", temp.clone()))?;
        fs::rename(&temp, &path).map_err(RenderError::io("move into place", path.clone()))?;
        written.push(path.clone());
        Some(path)
    } else {
        None
    };
    progress(Progress {
        stage: Stage::Finishing,
        done: total,
        total,
    });
    written.1 = true;
    warnings.extend(compose_warnings);
    Ok(SequenceReport {
        folder: folder.clone(),
        frames: total,
        images,
        encoded,
        size,
        stems,
        mix: mix_path,
        changes: changes_path,
        compose,
        warnings,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_names_become_safe_file_names() {
        assert_eq!(file_safe("A1"), "A1");
        assert_eq!(file_safe("Dialogue / Mara"), "Dialogue___Mara");
        assert_eq!(file_safe("../.."), "_");
        assert_eq!(file_safe("  "), "track");
        assert_eq!(file_safe("Musique été"), "Musique_été");
    }
}
