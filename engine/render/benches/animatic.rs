//! Animatic encode speed: a 200-shot timeline (a PNG take per shot at the project's frame size,
//! a voice take per line of dialogue at 22.05 kHz as Piper writes them) encoded to MP4 through
//! ffmpeg, in frames per second, side by side with the peer: ffmpeg alone encoding the same
//! number of frames from one still image (`-loop 1`, same size, rate, codec settings and audio
//! length), which is the floor for H.264 + AAC of a picture that never changes. No assertions,
//! numbers only.
//!
//! ```text
//! cargo bench -p previz-render --bench animatic --profile dev
//! PREVIZ_BENCH_SHOTS=50 PREVIZ_BENCH_HEIGHT=540 cargo bench …   # a smaller run
//! ```

#![expect(
    clippy::print_stdout,
    reason = "a benchmark's report is what it prints"
)]

use std::error::Error;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use previz_core::{
    Asset, AssetKind, ContentHash, Extra, LineTakes, MediaInfo, Project, Provenance, Take, TakeId,
};
use previz_jobs::CancelToken;
use previz_render::animatic::{BurnIns, Mp4Options, encode_mp4};
use previz_render::audio::encode_wav_i16;
use previz_storage::AssetStore;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A storyboard-like frame: a paper-toned gradient, a horizon, a few shapes, light grain.
fn panel(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let noise =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed.wrapping_mul(97))
                .rotate_left(seed % 31)
                % 9;
        let horizon = h * (30 + seed % 40) / 100;
        let cx = w * (20 + (seed * 7) % 60) / 100;
        let dx = i64::from(x) - i64::from(cx);
        let dy = i64::from(y) - i64::from(h / 2);
        let r = i64::from(h / 5 + seed % 40);
        let base: u32 = if dx * dx + dy * dy < r * r {
            70 + seed % 60
        } else if y < horizon {
            200 - y * 40 / h.max(1)
        } else {
            150 + (x * 30 / w.max(1))
        };
        let v = u8::try_from((base + noise).min(255)).unwrap_or(255);
        image::Rgb([v, v.saturating_sub(6), v.saturating_sub(14)])
    });
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("a PNG encodes");
    bytes
}

fn voice(seconds: f64, hz: f64) -> Vec<u8> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (22_050.0 * seconds) as usize;
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let samples: Vec<i16> = (0..n)
        .map(|i| (9_000.0 * (std::f64::consts::TAU * hz * i as f64 / 22_050.0).sin()) as i16)
        .collect();
    encode_wav_i16(22_050, 1, &samples)
}

fn register(project: &mut Project, hash: ContentHash, kind: AssetKind) {
    project.assets.insert(
        hash,
        Asset {
            hash,
            kind,
            media: MediaInfo::default(),
            extra: Extra::new(),
        },
    );
}

fn take(asset: ContentHash) -> Take {
    Take {
        id: TakeId::new(),
        asset,
        provenance: Provenance::default(),
        created: jiff::Timestamp::UNIX_EPOCH,
        note: String::new(),
        extra: Extra::new(),
    }
}

/// The synthetic feature's first `shots` shots with real media.
fn project(store: &AssetStore, shots: usize) -> Result<Project, Box<dyn Error>> {
    let mut project = previz_core::synth::project(shots, shots * 2);
    project.settings.frame_width = 2048;
    project.settings.frame_height = 858;
    project.assets.clear();
    let (w, h) = (project.settings.frame_width, project.settings.frame_height);
    for (i, shot) in project.shots.iter_mut().enumerate() {
        let hash = store.put(&panel(w, h, u32::try_from(i)?))?;
        let t = take(hash);
        shot.takes = vec![t.clone()];
        shot.active_take = Some(t.id);
    }
    for shot in project.shots.clone() {
        register(&mut project, shot.takes[0].asset, AssetKind::Image);
    }
    let lines: Vec<_> = project
        .script
        .scenes
        .iter()
        .flat_map(|s| s.dialogue().map(|d| d.id))
        .collect();
    for (i, line) in lines.into_iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let hash = store.put(&voice(
            1.5 + (i % 4) as f64 * 0.5,
            180.0 + (i % 7) as f64 * 20.0,
        ))?;
        register(&mut project, hash, AssetKind::Audio);
        let t = take(hash);
        project.voices.insert(
            line,
            LineTakes {
                active: Some(t.id),
                takes: vec![t],
            },
        );
    }
    let problems = project.validate();
    if !problems.is_empty() {
        return Err(format!("the bench project is unsound: {}", problems[0]).into());
    }
    Ok(project)
}

/// How the peer reads its still.
#[derive(Clone, Copy, Debug)]
enum Still<'a> {
    /// `-loop 1 -i still.png`: the image2 demuxer decodes the PNG again for every frame.
    Png(&'a Path),
    /// `-stream_loop -1 -f rawvideo -i still.rgb`: decoded pixels, so only the encode is timed.
    Raw(&'a Path, u32, u32),
}

/// ffmpeg alone: `frames` frames of one still with an audio file of the same length, the same
/// encoder settings as the animatic's.
fn peer(
    still: Still<'_>,
    wav: &Path,
    frames: u64,
    rate: previz_core::Rate,
    out: &Path,
) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    let rate = format!("{}/{}", rate.numerator(), rate.denominator());
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostats", "-loglevel", "error", "-y"]);
    match still {
        Still::Png(path) => {
            command
                .args(["-loop", "1", "-framerate", &rate, "-i"])
                .arg(path);
        }
        Still::Raw(path, w, h) => {
            command
                .args(["-stream_loop", "-1", "-f", "rawvideo", "-pix_fmt", "rgb24"])
                .args(["-s:v", &format!("{w}x{h}"), "-framerate", &rate, "-i"])
                .arg(path);
        }
    }
    let status = command
        .arg("-i")
        .arg(wav)
        .args(["-map", "0:v:0", "-map", "1:a:0", "-frames:v"])
        .arg(frames.to_string())
        .args([
            "-vf",
            "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        ])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        .args(["-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart"])
        .arg(out)
        .status()
        .map_err(|e| format!("`ffmpeg` could not be run ({e})"))?;
    if !status.success() {
        return Err(format!("the peer ffmpeg failed ({status})").into());
    }
    Ok(start.elapsed())
}

fn run() -> Result<(), Box<dyn Error>> {
    let shots = env_usize("PREVIZ_BENCH_SHOTS", 200);
    let height = u32::try_from(env_usize("PREVIZ_BENCH_HEIGHT", 1080))?;
    let tmp = tempfile::tempdir()?;
    let store = AssetStore::new(tmp.path().join("assets"));
    let setup = Instant::now();
    let project = project(&store, shots)?;
    let frames = previz_render::animatic::duration_frames(&project.timeline);
    println!(
        "animatic encode: {shots} shots, {frames} frames ({:.0} s at {} fps), {} voice takes; media made in {:.1} s",
        previz_core::RationalTime::new(frames, project.timeline.rate).seconds_f64(),
        project.timeline.rate,
        project.voices.len(),
        setup.elapsed().as_secs_f64()
    );

    let mut results = Vec::new();
    for (label, burn_ins) in [
        ("no burn-ins", BurnIns::default()),
        ("all burn-ins", BurnIns::all()),
    ] {
        let mut options = Mp4Options::new(tmp.path().join("animatic.mp4"));
        options.max_height = height;
        options.burn_ins = burn_ins;
        let report = encode_mp4(&project, &store, &options, |_| {}, &CancelToken::new())?;
        println!(
            "  ours, {label:<12}: {}x{} {:>7.1} frames/s ({:.1} s; composed {}, retimed {}, reused {}, stills decoded {})",
            report.size.width,
            report.size.height,
            report.frames_per_second(),
            report.elapsed.as_secs_f64(),
            report.compose.composed,
            report.compose.retimed,
            report.compose.reused,
            report.compose.decoded,
        );
        results.push((label, report));
    }

    // The peer: the first take as the still, audio of the same length.
    let (_, first) = &results[0];
    let still = tmp.path().join("still.png");
    let w = first.size.width;
    let h = first.size.height;
    std::fs::write(&still, panel(w, h, 0))?;
    let wav = tmp.path().join("peer.wav");
    #[allow(clippy::cast_possible_truncation)]
    let samples = vec![0i16; first.audio_frames as usize * 2];
    std::fs::write(
        &wav,
        encode_wav_i16(first.audio_sample_rate_hz, 2, &samples),
    )?;
    let raw = tmp.path().join("still.rgb");
    std::fs::write(&raw, image::open(&still)?.to_rgb8().into_raw())?;
    let mut peers = Vec::new();
    for (label, input) in [
        ("ffmpeg -loop 1 still.png", Still::Png(&still)),
        ("ffmpeg raw still (encode only)", Still::Raw(&raw, w, h)),
    ] {
        let time = peer(
            input,
            &wav,
            first.frames,
            first.rate,
            &tmp.path().join("peer.mp4"),
        )?;
        #[allow(clippy::cast_precision_loss)]
        let fps = first.frames as f64 / time.as_secs_f64();
        println!(
            "  peer, {label:<30}: {w}x{h} {fps:>7.1} frames/s ({:.1} s)",
            time.as_secs_f64()
        );
        peers.push((label, fps));
    }
    for (label, report) in &results {
        for (peer_label, fps) in &peers {
            println!(
                "  ours ({label}) / peer ({peer_label}): {:.2}x its speed",
                report.frames_per_second() / fps
            );
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        println!("animatic bench failed: {e}");
        std::process::exit(1);
    }
}
