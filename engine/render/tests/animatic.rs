//! The animatic through the real ffmpeg, checked with the real ffprobe: a small project in a
//! temp dir (PNG takes and WAV voice takes in its asset store), encoded at 24 and 24000/1001,
//! then the file's duration, rate, size and streams read back. Also the errors (no ffmpeg, a
//! failing ffmpeg), cancellation, and the image sequence with its stems.
//!
//! Needs `ffmpeg` and `ffprobe` on PATH (Debian: apt-get install ffmpeg).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use previz_core::{
    Asset, AssetKind, Clip, ClipSource, ContentHash, DialogueBlock, DialoguePart, Extra, Gap, Item,
    LineId, LineTakes, MediaInfo, Project, Provenance, Rate, RationalTime, Scene, SceneHeading,
    ScriptElement, Shot, Take, TakeId, Timeline, Track, TrackKind,
};
use previz_jobs::CancelToken;
use previz_render::animatic::{
    BurnIns, FrameSize, Mp4Options, RenderError, SequenceMode, SequenceOptions, Stage, encode_mp4,
    export_sequence,
};
use previz_render::audio::encode_wav_i16;
use previz_storage::{AssetStore, ProjectPaths};

struct Fixture {
    dir: tempfile::TempDir,
    store: AssetStore,
    project: Project,
    /// The colour of each shot's take, in timeline order.
    colours: Vec<[u8; 3]>,
}

fn png(w: u32, h: u32, col: [u8; 3]) -> Vec<u8> {
    // A coloured frame with a white border, so letterboxing would be visible.
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        if x < 2 || y < 2 || x >= w - 2 || y >= h - 2 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb(col)
        }
    });
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn sine_wav(rate_hz: u32, seconds: f64, hz: f64) -> Vec<u8> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (f64::from(rate_hz) * seconds) as usize;
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            (12_000.0 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate_hz)).sin()) as i16
        })
        .collect();
    encode_wav_i16(rate_hz, 1, &samples)
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

/// Three shots with PNG takes (24 frames each), a slug (12), two lines of dialogue with WAV
/// takes (one at 22.05 kHz, one at 48 kHz) on A1: 84 frames.
fn fixture(rate: Rate) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(ProjectPaths::new(dir.path().join("film.previz")).assets());
    let mut project = Project::new("Animatic test");
    project.settings.frame_rate = rate;
    project.settings.frame_width = 320;
    project.settings.frame_height = 134;
    project.timeline = Timeline::new("Animatic", rate);
    project.timeline.start_frame = 86_400;

    let mut scene = Scene::new(SceneHeading::parse("INT. LIGHTHOUSE - NIGHT", false));
    let lines = [LineId::new(), LineId::new()];
    for (line, (cue, words)) in lines
        .iter()
        .zip([("MARA", "Who's there?"), ("OTTO", "Only the keeper.")])
    {
        scene.elements.push(ScriptElement::Dialogue(DialogueBlock {
            id: *line,
            character: None,
            cue: cue.to_owned(),
            extensions: Vec::new(),
            forced: false,
            dual: None,
            notes: Vec::new(),
            parts: vec![DialoguePart::Line(words.into())],
            extra: Extra::new(),
        }));
    }
    let scene_id = scene.id;
    project.script.scenes.push(scene);
    project.script.index_cast();

    let colours = vec![[200, 30, 30], [30, 200, 30], [30, 30, 200]];
    let mut picture = Vec::new();
    for col in &colours {
        let hash = store.put(&png(320, 134, *col)).unwrap();
        register(&mut project, hash, AssetKind::Image);
        let mut shot = Shot::new(scene_id, RationalTime::new(24, rate));
        let t = take(hash);
        shot.active_take = Some(t.id);
        shot.takes.push(t);
        picture.push(Item::Clip(Clip::new(
            "shot",
            ClipSource::Shot { shot: shot.id },
            24,
        )));
        project.shots.push(shot);
    }
    picture.push(Item::Clip(Clip::new(
        "end",
        ClipSource::Slug {
            text: "THE END".to_owned(),
        },
        12,
    )));
    project.timeline.tracks[0].items = picture;

    for (line, (rate_hz, hz)) in lines.iter().zip([(22_050, 330.0), (48_000, 440.0)]) {
        let hash = store.put(&sine_wav(rate_hz, 0.8, hz)).unwrap();
        register(&mut project, hash, AssetKind::Audio);
        let t = take(hash);
        project.voices.insert(
            *line,
            LineTakes {
                active: Some(t.id),
                takes: vec![t],
            },
        );
    }
    project.timeline.tracks[1].items = vec![
        Item::Gap(Gap::new(6)),
        Item::Clip(Clip::new(
            "mara",
            ClipSource::Dialogue {
                line: lines[0],
                take: None,
            },
            20,
        )),
        Item::Gap(Gap::new(10)),
        Item::Clip(Clip::new(
            "otto",
            ClipSource::Dialogue {
                line: lines[1],
                take: None,
            },
            20,
        )),
    ];
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    Fixture {
        dir,
        store,
        project,
        colours,
    }
}

fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height,r_frame_rate,nb_frames,sample_rate,channels:format=duration")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One decoded frame of the file, as RGB.
fn frame_at(path: &Path, seconds: f64, size: FrameSize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss"])
        .arg(format!("{seconds:.4}"))
        .arg("-i")
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), size.rgb_bytes());
    out.stdout
}

fn encode_and_probe(rate: Rate, expect_rate: &str) {
    let f = fixture(rate);
    let output = f.dir.path().join("out").join("animatic.mp4");
    std::fs::create_dir_all(output.parent().unwrap()).unwrap();
    let mut options = Mp4Options::new(&output);
    options.burn_ins = BurnIns::all();
    let mut frames_seen = Vec::new();
    let report = encode_mp4(
        &f.project,
        &f.store,
        &options,
        |p| {
            if p.stage == Stage::Frames {
                frames_seen.push(p.done);
            }
        },
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(report.frames, 84);
    assert_eq!(frames_seen, (1..=84).collect::<Vec<u64>>());
    assert_eq!(report.size, FrameSize::new(320, 134).unwrap());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // 4 pictures; with the timecode burnt in, every other frame is a copy with a new timecode.
    assert_eq!(report.compose.decoded, 3, "{:?}", report.compose);

    let probe = ffprobe(&output);
    let streams = probe["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("an audio stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], 320);
    assert_eq!(video["height"], 134);
    assert_eq!(video["r_frame_rate"], expect_rate);
    assert_eq!(video["nb_frames"], "84");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    assert_eq!(audio["channels"], 2);
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = RationalTime::new(84, rate).seconds_f64();
    let frame = 1.0 / rate.as_f64();
    assert!(
        (duration - expected).abs() <= frame,
        "duration {duration} s, timeline {expected} s (one frame is {frame} s)"
    );
    // The middle of each shot shows its take's colour (the dominant channel survives H.264).
    for (i, col) in f.colours.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let t = (i as f64 * 24.0 + 12.0) / rate.as_f64();
        let pixels = frame_at(&output, t, report.size);
        let at = (67 * 320 + 160) * 3;
        let got = &pixels[at..at + 3];
        let dominant = |p: &[u8]| (0..3).max_by_key(|&k| p[k]).unwrap();
        assert_eq!(dominant(got), dominant(col), "shot {i}: {got:?} vs {col:?}");
    }
    // Nothing left beside the output.
    let names: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("animatic.mp4")]);
}

#[test]
fn mp4_at_24_fps_has_the_timeline_duration_rate_size_and_both_streams() {
    encode_and_probe(Rate::FPS_24, "24/1");
}

#[test]
fn mp4_at_23_976_keeps_the_exact_ntsc_rate() {
    encode_and_probe(Rate::FPS_23_976, "24000/1001");
}

#[test]
fn a_missing_ffmpeg_is_a_clear_error_and_writes_nothing() {
    let f = fixture(Rate::FPS_24);
    let output = f.dir.path().join("animatic.mp4");
    let mut options = Mp4Options::new(&output);
    options.ffmpeg = Some(PathBuf::from("/nonexistent/bin/ffmpeg"));
    let err = encode_mp4(&f.project, &f.store, &options, |_| {}, &CancelToken::new()).unwrap_err();
    assert!(matches!(err, RenderError::FfmpegMissing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "ffmpeg was not found at /nonexistent/bin/ffmpeg; install it (Debian: apt-get install ffmpeg) or set PREVIZ_FFMPEG to its path"
    );
    assert!(!output.exists());
}

/// `PREVIZ_FFMPEG` chooses the program. The environment cannot be changed safely inside a
/// running test, so the test runs itself again as a child with the variable set.
#[test]
fn previz_ffmpeg_chooses_the_program_and_a_missing_one_is_named() {
    const CHILD: &str = "PREVIZ_RENDER_TEST_CHILD";
    const NAME: &str = "previz_ffmpeg_chooses_the_program_and_a_missing_one_is_named";
    if std::env::var_os(CHILD).is_some() {
        let f = fixture(Rate::FPS_24);
        let output = f.dir.path().join("animatic.mp4");
        let err = encode_mp4(
            &f.project,
            &f.store,
            &Mp4Options::new(&output),
            |_| {},
            &CancelToken::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ffmpeg was not found at /nonexistent/env/ffmpeg (from PREVIZ_FFMPEG); install it (Debian: apt-get install ffmpeg) or set PREVIZ_FFMPEG to its path"
        );
        assert!(!output.exists());
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("PREVIZ_FFMPEG", "/nonexistent/env/ffmpeg")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_program_that_is_not_ffmpeg_is_refused_before_any_work() {
    let f = fixture(Rate::FPS_24);
    let output = f.dir.path().join("animatic.mp4");
    let mut options = Mp4Options::new(&output);
    options.ffmpeg = Some(PathBuf::from("false"));
    let err = encode_mp4(&f.project, &f.store, &options, |_| {}, &CancelToken::new()).unwrap_err();
    assert!(matches!(err, RenderError::FfmpegUnusable { .. }), "{err:?}");
    assert!(err.to_string().contains("PREVIZ_FFMPEG"), "{err}");
    assert!(!output.exists());
}

#[test]
fn a_failing_ffmpeg_reports_its_stderr_and_leaves_no_file() {
    let f = fixture(Rate::FPS_24);
    let out_dir = f.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let output = out_dir.join("animatic.mp4");
    let mut options = Mp4Options::new(&output);
    options.preset = "glacial".to_owned();
    let err = encode_mp4(&f.project, &f.store, &options, |_| {}, &CancelToken::new()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RenderError::FfmpegFailed { .. }), "{err:?}");
    assert!(text.contains("glacial"), "ffmpeg's own words: {text}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

#[test]
fn cancelling_kills_ffmpeg_and_removes_the_partial_file() {
    let f = fixture(Rate::FPS_24);
    let out_dir = f.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let output = out_dir.join("animatic.mp4");
    // An older export at the same name survives a cancelled one.
    std::fs::write(&output, b"the previous export").unwrap();
    let token = CancelToken::new();
    let mut last = 0;
    let err = encode_mp4(
        &f.project,
        &f.store,
        &Mp4Options::new(&output),
        |p| {
            if p.stage == Stage::Frames {
                last = p.done;
                if p.done == 5 {
                    token.cancel();
                }
            }
        },
        &token,
    )
    .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(last, 5, "no frame after the cancel");
    assert_eq!(std::fs::read(&output).unwrap(), b"the previous export");
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        1,
        "no partial file or WAV left"
    );
}

/// An "ffmpeg" that answers `-version` and then never reads its input: the frame pipe fills
/// and the writer blocks. Cancelling must still end the encode at once.
#[cfg(unix)]
#[test]
fn cancelling_while_the_pipe_is_blocked_kills_the_encoder_at_once() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture(Rate::FPS_24);
    let stuck = f.dir.path().join("stuck-ffmpeg");
    std::fs::write(
        &stuck,
        "#!/bin/sh\nif [ \"$1\" = \"-version\" ]; then exit 0; fi\nexec sleep 30\n",
    )
    .unwrap();
    std::fs::set_permissions(&stuck, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out_dir = f.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut options = Mp4Options::new(out_dir.join("animatic.mp4"));
    options.ffmpeg = Some(stuck);
    let token = CancelToken::new();
    let started = std::time::Instant::now();
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            token.cancel();
        });
        encode_mp4(&f.project, &f.store, &options, |_| {}, &token).unwrap_err()
    });
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

fn wav_info(path: &Path) -> (hound::WavSpec, u32) {
    let reader = hound::WavReader::open(path).unwrap();
    (reader.spec(), reader.duration())
}

#[test]
fn an_image_sequence_has_a_png_per_frame_and_stems_of_the_exact_length() {
    let mut f = fixture(Rate::FPS_24);
    // A second audio track (named so it needs cleaning) makes a second stem.
    let music = f.store.put(&sine_wav(44_100, 3.0, 220.0)).unwrap();
    register(&mut f.project, music, AssetKind::Audio);
    let mut a2 = Track::new("Music / temp", TrackKind::Audio);
    a2.items = vec![Item::Clip(Clip::new(
        "music",
        ClipSource::Asset { asset: music },
        72,
    ))];
    f.project.timeline.tracks.push(a2);
    let folder = f.dir.path().join("frames");
    let report = export_sequence(
        &f.project,
        &f.store,
        &SequenceOptions::new(&folder, "cut"),
        |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(report.frames, 84);
    assert_eq!(report.images, 84);
    assert_eq!(report.encoded, 4, "one PNG per picture, links for the rest");
    let pngs = (0..84)
        .map(|n| folder.join(format!("cut.{n:06}.png")))
        .filter(|p| p.is_file())
        .count();
    assert_eq!(pngs, 84);
    let first = image::open(folder.join("cut.000000.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(first.dimensions(), (320, 134));
    assert_eq!(first.get_pixel(160, 67).0, [200, 30, 30]);
    let slug = image::open(folder.join("cut.000083.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(slug.get_pixel(1, 1).0, [0, 0, 0]);

    let names: Vec<String> = report
        .stems
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["cut.A1.wav", "cut.Music___temp.wav"]);
    let samples = 84 * 48_000 / 24;
    for path in report.stems.iter().chain(report.mix.iter()) {
        let (spec, frames) = wav_info(path);
        assert_eq!(spec.sample_rate, 48_000, "{}", path.display());
        assert_eq!(spec.channels, 2);
        assert_eq!(spec.bits_per_sample, 24);
        assert_eq!(frames, samples, "{}", path.display());
    }
    assert_eq!(
        report.mix.as_ref().unwrap().file_name().unwrap(),
        "cut.mix.wav"
    );
    // The stems carry what their tracks hold: dialogue from frame 6 (6,000 samples), music
    // until frame 72 (144,000 samples).
    let read = |name: &str| -> Vec<i32> {
        hound::WavReader::open(folder.join(name))
            .unwrap()
            .samples::<i32>()
            .map(Result::unwrap)
            .collect()
    };
    let dialogue = read("cut.A1.wav");
    assert!(dialogue[..2 * 12_000 - 2 * 200].iter().all(|s| *s == 0));
    assert!(
        dialogue[2 * 13_000..2 * 20_000]
            .iter()
            .any(|s| s.abs() > 100_000)
    );
    let music = read("cut.Music___temp.wav");
    assert!(
        music[2 * 140_000..2 * 143_000]
            .iter()
            .any(|s| s.abs() > 100_000)
    );
    assert!(music[2 * 144_000..].iter().all(|s| *s == 0));
}

#[test]
fn one_still_per_change_with_a_list_of_where_each_starts() {
    let f = fixture(Rate::FPS_24);
    let folder = f.dir.path().join("changes");
    let mut options = SequenceOptions::new(&folder, "cut");
    options.mode = SequenceMode::Changes;
    options.audio = false;
    let report =
        export_sequence(&f.project, &f.store, &options, |_| {}, &CancelToken::new()).unwrap();
    assert_eq!(report.images, 4);
    assert!(report.stems.is_empty() && report.mix.is_none());
    let csv = std::fs::read_to_string(report.changes.unwrap()).unwrap();
    assert_eq!(
        csv,
        "frame,timecode,duration_frames,file\n\
         0,01:00:00:00,24,cut.000000.png\n\
         24,01:00:01:00,24,cut.000024.png\n\
         48,01:00:02:00,24,cut.000048.png\n\
         72,01:00:03:00,12,cut.000072.png\n"
    );
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 5);
}

#[test]
fn a_cancelled_sequence_removes_what_it_wrote() {
    let f = fixture(Rate::FPS_24);
    let folder = f.dir.path().join("frames");
    let token = CancelToken::new();
    let err = export_sequence(
        &f.project,
        &f.store,
        &SequenceOptions::new(&folder, "cut"),
        |p| {
            if p.stage == Stage::Frames && p.done == 30 {
                token.cancel();
            }
        },
        &token,
    )
    .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
}
