//! The animatic as an MP4 (H.264 + AAC) through the system's `ffmpeg` program.
//!
//! ffmpeg is run as a separate program (as espeak-ng is for voices), fed raw RGB frames on its
//! stdin; the mix goes to it as a float WAV written beside the output. The video is exactly
//! the timeline's frame count at its exact rate (`-framerate 24000/1001`), the audio exactly
//! its length in samples, so no `-shortest` is needed and the file's duration is the
//! timeline's (AAC's last packet is padded to 1024 samples: under a frame).
//!
//! Frames are composed on a thread of their own while the writer feeds ffmpeg, so composing,
//! the pipe and x264's threads overlap. The file is written under a temporary name beside the
//! output and renamed into place when ffmpeg succeeds; on failure or cancellation the partial
//! file and the WAV are removed and ffmpeg is killed.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use previz_core::{Project, Rate};
use previz_jobs::CancelToken;
use previz_storage::AssetStore;

use super::compose::{BurnIns, ComposeOptions, ComposeStats, Compositor, FrameSize};
use super::mix::{AudioMix, MixOptions, mix_timeline};
use super::{Progress, RenderError, Stage, checked_duration};

/// How the MP4 is made.
#[derive(Clone, Debug, PartialEq)]
pub struct Mp4Options {
    /// The file to write (replaced if it exists, only once the new one is complete).
    pub output: PathBuf,
    /// The frame size; by default the project's, scaled down to `max_height`.
    pub size: Option<FrameSize>,
    /// The largest height of the default size (1080).
    pub max_height: u32,
    pub burn_ins: BurnIns,
    /// x264's preset (`ultrafast` … `veryslow`); `veryfast` by default.
    pub preset: String,
    /// x264's constant rate factor (0–51, lower is better); 20 by default.
    pub crf: u8,
    /// AAC bit rate in kbit/s (192).
    pub audio_kbps: u32,
    /// The ffmpeg program; else `PREVIZ_FFMPEG`, else `ffmpeg` on `PATH`.
    pub ffmpeg: Option<PathBuf>,
    pub mix: MixOptions,
}

impl Mp4Options {
    /// Defaults for writing `output`.
    #[must_use]
    pub fn new(output: impl Into<PathBuf>) -> Self {
        Self {
            output: output.into(),
            size: None,
            max_height: 1080,
            burn_ins: BurnIns::default(),
            preset: "veryfast".to_owned(),
            crf: 20,
            audio_kbps: 192,
            ffmpeg: None,
            mix: MixOptions::default(),
        }
    }
}

/// What an encode made.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeReport {
    pub output: PathBuf,
    pub frames: u64,
    pub size: FrameSize,
    pub rate: Rate,
    /// The timeline's length in seconds (frames / rate).
    pub seconds: f64,
    pub audio_sample_rate_hz: u32,
    /// Sample frames of audio encoded.
    pub audio_frames: u64,
    pub compose: ComposeStats,
    /// The ffmpeg program used.
    pub ffmpeg: PathBuf,
    /// Missing media and the like, one line each.
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

impl EncodeReport {
    /// Frames encoded per second of wall time.
    #[must_use]
    pub fn frames_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let frames = self.frames as f64;
        frames / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The ffmpeg program to run and how it was chosen (for the error when it is missing).
#[must_use]
pub fn ffmpeg_program(explicit: Option<&Path>) -> (PathBuf, String) {
    if let Some(path) = explicit {
        return (path.to_path_buf(), format!("at {}", path.display()));
    }
    match std::env::var_os("PREVIZ_FFMPEG").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            let where_ = format!("at {} (from PREVIZ_FFMPEG)", path.display());
            (path, where_)
        }
        None => (PathBuf::from("ffmpeg"), "on PATH".to_owned()),
    }
}

/// Checks ffmpeg can be run (`ffmpeg -version`).
pub fn check_ffmpeg(explicit: Option<&Path>) -> Result<PathBuf, RenderError> {
    let (program, where_) = ffmpeg_program(explicit);
    match Command::new(&program)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(program),
        Ok(status) => Err(RenderError::FfmpegUnusable {
            program,
            status: status.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(RenderError::FfmpegMissing { where_ })
        }
        Err(source) => Err(RenderError::FfmpegStart { program, source }),
    }
}

/// A file removed when dropped unless kept.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// A name beside `output` that no other export is using.
fn beside(output: &Path, suffix: &str) -> Result<PathBuf, RenderError> {
    let name = output
        .file_name()
        .ok_or_else(|| RenderError::InvalidOption {
            why: format!(
                "{} is not a file name to write the animatic to",
                output.display()
            ),
        })?;
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.{suffix}", std::process::id()));
    Ok(output.with_file_name(temp))
}

/// Writes the mix as a 32-bit float WAV.
pub(crate) fn write_float_wav(path: &Path, mix: &AudioMix) -> Result<(), RenderError> {
    let spec = hound::WavSpec {
        channels: mix.channels,
        sample_rate: mix.sample_rate_hz,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let wav = |source| RenderError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(wav)?;
    for s in &mix.samples {
        writer.write_sample(*s).map_err(wav)?;
    }
    writer.finalize().map_err(wav)
}

/// The last lines a child wrote to stderr.
type Tail = Arc<Mutex<VecDeque<String>>>;

const TAIL_LINES: usize = 20;

fn tail_text(tail: &Tail) -> String {
    let lines = tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>());
    let text = lines.unwrap_or_default().join("\n");
    if text.trim().is_empty() {
        "ffmpeg wrote nothing to stderr".to_owned()
    } else {
        text
    }
}

/// Encodes the animatic of `project` (media from `store`) as an MP4. `progress` is called
/// through the mix (clips) and once per frame; `cancel` stops the encode within a frame,
/// kills ffmpeg and removes the partial file (the result is [`RenderError::Cancelled`]).
pub fn encode_mp4(
    project: &Project,
    store: &AssetStore,
    options: &Mp4Options,
    mut progress: impl FnMut(Progress),
    cancel: &CancelToken,
) -> Result<EncodeReport, RenderError> {
    let started = Instant::now();
    let frames = checked_duration(&project.timeline)?;
    let total = u64::try_from(frames).unwrap_or(0);
    let size = match options.size {
        Some(size) => FrameSize::new(size.width, size.height)?,
        None => super::default_size(&project.settings, options.max_height),
    };
    if options.crf > 51 {
        return Err(RenderError::InvalidOption {
            why: format!("a CRF of {} is out of x264's range 0–51", options.crf),
        });
    }
    if options.preset.is_empty() || !options.preset.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(RenderError::InvalidOption {
            why: format!(
                "'{}' is not an x264 preset; use ultrafast, superfast, veryfast, faster, fast, medium, slow, slower or veryslow",
                options.preset
            ),
        });
    }
    let program = check_ffmpeg(options.ffmpeg.as_deref())?;
    let output = options.output.clone();
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(RenderError::io("create the folder", dir))?;
    }
    let partial = TempFile(Some(beside(&output, "partial.mp4")?));
    let wav = TempFile(Some(beside(&output, "mix.wav")?));

    let mix = mix_timeline(
        project,
        store,
        &options.mix,
        |_| Ok(()),
        |done, total| {
            progress(Progress {
                stage: Stage::Mixing,
                done,
                total,
            });
        },
        cancel,
    )?;
    write_float_wav(wav.path(), &mix)?;
    let audio_frames = mix.frames() as u64;
    let audio_rate = mix.sample_rate_hz;
    let mut warnings = mix.warnings;
    drop(mix.samples);

    let rate = project.timeline.rate;
    let mut command = Command::new(&program);
    command
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg("-s:v")
        .arg(format!("{}x{}", size.width, size.height))
        .arg("-framerate")
        .arg(format!("{}/{}", rate.numerator(), rate.denominator()))
        .args(["-i", "pipe:0"])
        .arg("-i")
        .arg(wav.path())
        .args(["-map", "0:v:0", "-map", "1:a:0"])
        // Rec. 709 (HD) matrix and limited range, tagged, as players expect of H.264.
        .args([
            "-vf",
            "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        ])
        .args(["-c:v", "libx264", "-preset", &options.preset])
        .arg("-crf")
        .arg(options.crf.to_string())
        .args([
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ])
        .args(["-c:a", "aac", "-b:a"])
        .arg(format!("{}k", options.audio_kbps.clamp(32, 512)))
        .args(["-movflags", "+faststart", "-f", "mp4"])
        .arg(partial.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            RenderError::FfmpegMissing {
                where_: ffmpeg_program(options.ffmpeg.as_deref()).1,
            }
        } else {
            RenderError::FfmpegStart {
                program: program.clone(),
                source,
            }
        }
    })?;
    let tail: Tail = Arc::default();
    let mut stdin = child.stdin.take();
    let stderr = child.stderr.take();
    // Shared with the watcher that kills ffmpeg on cancel, even while a write is blocked.
    let child = Mutex::new(child);
    let finished = AtomicBool::new(false);

    let compose_options = ComposeOptions {
        size,
        burn_ins: options.burn_ins,
        cache_entries: 8,
    };
    let (compose_stats, compose_warnings, fed, write_failed) = std::thread::scope(|scope| {
        if let Some(stderr) = stderr {
            let tail = Arc::clone(&tail);
            scope.spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        scope.spawn(|| {
            while !finished.load(Ordering::Acquire) {
                if cancel.is_cancelled() {
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let (sender, frames_in) = mpsc::sync_channel::<Arc<RgbImage>>(8);
        let composer = scope.spawn(move || {
            let mut compositor = Compositor::new(project, store, compose_options);
            for frame in 0..frames {
                if cancel.is_cancelled() || sender.send(compositor.frame(frame)).is_err() {
                    break;
                }
            }
            (compositor.stats(), compositor.warnings().to_vec())
        });
        let mut fed = 0u64;
        let mut write_failed = None;
        for image in &frames_in {
            if cancel.is_cancelled() {
                break;
            }
            let Some(pipe) = stdin.as_mut() else { break };
            if let Err(e) = pipe.write_all(image.as_raw()) {
                // ffmpeg stopped reading: it failed; its status and stderr say why.
                write_failed = Some(e);
                break;
            }
            fed += 1;
            progress(Progress {
                stage: Stage::Frames,
                done: fed,
                total,
            });
        }
        drop(frames_in);
        // End of input: ffmpeg finishes the file (or, cancelled, has been killed).
        drop(stdin.take());
        finished.store(true, Ordering::Release);
        let (stats, warnings) = composer.join().unwrap_or_default();
        (stats, warnings, fed, write_failed)
    });
    progress(Progress {
        stage: Stage::Finishing,
        done: fed,
        total,
    });
    let mut child = child.into_inner().map_err(|_| RenderError::Io {
        action: "wait for ffmpeg writing",
        path: output.clone(),
        source: std::io::Error::other("the cancel watcher panicked"),
    })?;
    if cancel.is_cancelled() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(RenderError::io("wait for ffmpeg writing", output.clone()))?;
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    if !status.success() || fed != total {
        let mut stderr = tail_text(&tail);
        if let Some(e) = write_failed {
            stderr = format!("{stderr}\n(the frame pipe closed: {e})");
        }
        return Err(RenderError::FfmpegFailed {
            status: status.to_string(),
            output,
            stderr,
        });
    }
    fs::File::open(partial.path())
        .and_then(|f| f.sync_all())
        .map_err(RenderError::io("sync", partial.path().to_path_buf()))?;
    fs::rename(partial.path(), &output)
        .map_err(RenderError::io("move into place", output.clone()))?;
    partial.keep();
    drop(wav);
    warnings.extend(compose_warnings);
    Ok(EncodeReport {
        output,
        frames: total,
        size,
        rate,
        seconds: previz_core::RationalTime::new(frames, rate).seconds_f64(),
        audio_sample_rate_hz: audio_rate,
        audio_frames,
        compose: compose_stats,
        ffmpeg: program,
        warnings,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_sit_beside_the_output_and_are_hidden() {
        let p = beside(Path::new("/a/b/cut.mp4"), "partial.mp4").unwrap();
        assert_eq!(p.parent(), Some(Path::new("/a/b")));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".cut.mp4.") && name.ends_with(".partial.mp4"),
            "{name}"
        );
        assert!(beside(Path::new("/"), "x").is_err());
    }

    #[test]
    fn an_explicit_program_that_is_not_there_is_named_in_the_error() {
        let err = check_ffmpeg(Some(Path::new("/nonexistent/ffmpeg"))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("ffmpeg was not found at /nonexistent/ffmpeg; install it (Debian: apt-get install ffmpeg) or set PREVIZ_FFMPEG"),
            "{text}"
        );
    }
}
