//! The audio output against ALSA configurations made for the test.
//!
//! ALSA reads its configuration from `ALSA_CONFIG_PATH`, which is process-wide (and setting
//! an environment variable is `unsafe` in this edition): each test runs its body in a child
//! process of this test binary, started with the variable set, and checks that the child
//! passed. The parent never touches audio.
//!
//! `the_mix_reaches_a_real_device` plays through ALSA's `file` plugin, a real PCM device that
//! writes what it is given to a WAV file (its `null` slave takes samples as fast as they come,
//! about 200× real time, so the test takes well under a second). It is ignored by default, as
//! it needs alsa-lib's plugins (`libasound2`): run it with
//! `PREVIZ_AUDIO_TEST=1 cargo test -p previz-studio --test media_device -- --include-ignored`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use previz_core::{
    Asset, AssetKind, Clip, ClipSource, ContentHash, Extra, Gap, Item, MediaInfo, Project, Track,
    TrackKind,
};
use previz_jobs::{JobQueue, QueueConfig};
use previz_storage::AssetStore;
use previz_studio::media::Media;
use previz_studio::media::decode::{decode_wav, encode_wav_i16};
use previz_studio::playback::Transport;

const CHILD: &str = "PREVIZ_MEDIA_DEVICE_CHILD";

/// Runs `test` in a child process with ALSA configured by `asound_conf`; true in the child.
fn in_child(test: &str, dir: &Path, asound_conf: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let conf = dir.join("asound.conf");
    std::fs::write(&conf, asound_conf).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir)
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{stderr}"
    );
    false
}

/// The folder the parent made for the child.
fn child_dir() -> std::path::PathBuf {
    std::env::var_os(CHILD).unwrap().into()
}

/// A document whose A1 track plays `asset` from frame 12 for 24 frames, at 24 fps.
fn doc_with_tone(asset: ContentHash) -> Project {
    let mut doc = Project::new("tone");
    doc.assets.insert(
        asset,
        Asset {
            hash: asset,
            kind: AssetKind::Audio,
            media: MediaInfo::default(),
            extra: Extra::new(),
        },
    );
    let mut a1 = Track::new("A1", TrackKind::Audio);
    a1.items = vec![
        Item::Gap(Gap::new(12)),
        Item::Clip(Clip::new("tone", ClipSource::Asset { asset }, 24)),
        Item::Gap(Gap::new(12)),
    ];
    doc.timeline.tracks = vec![a1];
    doc
}

/// 1 s of 440 Hz at half scale, 48 kHz mono 16-bit.
fn tone_wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..48_000)
        .map(|i| {
            let t = f64::from(i) / 48_000.0;
            #[allow(clippy::cast_possible_truncation)]
            let s = (0.5 * 32_767.0 * (std::f64::consts::TAU * 440.0 * t).sin()).round() as i16;
            s
        })
        .collect();
    encode_wav_i16(48_000, 1, &samples)
}

#[test]
fn with_no_audio_device_the_status_says_why_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    // A default device on a sound card that does not exist.
    if !in_child(
        "with_no_audio_device_the_status_says_why_and_nothing_panics",
        dir.path(),
        "pcm.!default { type hw; card 99 }\nctl.!default { type hw; card 99 }\n",
    ) {
        return;
    }
    let store = AssetStore::new(child_dir().join("assets"));
    let asset = store.put(&tone_wav()).unwrap();
    let doc = doc_with_tone(asset);
    let mut media = Media::default();
    let mut transport = Transport::default();
    assert_eq!(media.audio_status(), "");
    media.sync_audio(&transport, &doc, &store);
    let status = media.audio_status().to_owned();
    assert!(
        status.starts_with("No audio device (ALSA: ") && status.ends_with("): playback is silent"),
        "{status}"
    );
    assert!(!status.contains('\n'), "one line: {status}");
    // The picture plays on regardless.
    transport.toggle(0.0, 48);
    for step in 1..10 {
        transport.advance(f64::from(step) / 24.0, doc.timeline.rate, 48);
        media.sync_audio(&transport, &doc, &store);
    }
    assert_eq!(transport.playhead, 9);
    assert!(!media.is_sounding());
    assert_eq!(media.audio_status(), status);
}

/// Whether the real-device tests should run: in their child, or when asked for.
fn audio_tests_wanted() -> bool {
    std::env::var_os(CHILD).is_some() || std::env::var("PREVIZ_AUDIO_TEST").as_deref() == Ok("1")
}

/// An ALSA configuration whose default device records to `recording`. `plug` converts
/// whatever the studio opens to 16-bit stereo 48 kHz, which the file plugin writes with a
/// correct WAV header (given floats, it labels them integer PCM).
fn recording_conf(recording: &Path) -> String {
    format!(
        "</usr/share/alsa/alsa.conf>\n\
         pcm.previz_record {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}\n\
         pcm.!default {{ type plug; slave {{ pcm \"previz_record\"; format S16_LE; rate 48000; channels 2 }} }}\n",
        recording.display()
    )
}

/// Opens the device on `doc` and lets the prefetch decode its clips, as the studio does
/// before anyone presses play.
fn ready(doc: &Project, store: &AssetStore) -> Media {
    let jobs = JobQueue::new(QueueConfig::default());
    let mut media = Media::with_jobs(jobs.clone());
    media.sync_audio(&Transport::default(), doc, store);
    assert!(
        media.audio_status().starts_with("Audio: "),
        "{}",
        media.audio_status()
    );
    assert!(media.audio_format().is_some());
    assert!(jobs.wait_idle(Duration::from_secs(30)));
    for mut finished in jobs.drain_finished() {
        assert!(media.deliver(&mut finished));
        assert!(finished.succeeded(), "{:?}", finished.result.err());
    }
    media
}

/// Plays `transport` for `wall` of real time, syncing every 16 ms like the UI.
fn play_for(
    media: &mut Media,
    transport: &mut Transport,
    doc: &Project,
    store: &AssetStore,
    from_s: f64,
    wall: Duration,
) {
    let started = Instant::now();
    let end = doc.timeline.duration_frames();
    while started.elapsed() < wall {
        std::thread::sleep(Duration::from_millis(16));
        transport.advance(
            from_s + started.elapsed().as_secs_f64(),
            doc.timeline.rate,
            end,
        );
        media.sync_audio(transport, doc, store);
        if transport.is_playing() {
            assert!(media.is_sounding());
        }
        assert!(
            !media.audio_status().contains("decoding"),
            "{}",
            media.audio_status()
        );
    }
}

#[test]
#[ignore = "needs alsa-lib's file plugin: PREVIZ_AUDIO_TEST=1 ... -- --include-ignored"]
fn the_mix_reaches_a_real_device() {
    if !audio_tests_wanted() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("out.wav");
    if !in_child(
        "the_mix_reaches_a_real_device",
        dir.path(),
        &recording_conf(&recording),
    ) {
        let bytes = std::fs::read(&recording).unwrap();
        check_recording(&bytes);
        return;
    }
    let dir = child_dir();
    let store = AssetStore::new(dir.join("assets"));
    let asset = store.put(&tone_wav()).unwrap();
    let doc = doc_with_tone(asset);
    let end = doc.timeline.duration_frames();
    let mut media = ready(&doc, &store);
    let mut transport = Transport::default();

    transport.toggle(0.0, end);
    play_for(
        &mut media,
        &mut transport,
        &doc,
        &store,
        0.0,
        Duration::from_millis(400),
    );
    // The null device runs far faster than real time: no drift correction there.
    assert!(
        media.audio_status().contains("not real-time"),
        "{}",
        media.audio_status()
    );
    transport.stop();
    media.sync_audio(&transport, &doc, &store);
    assert!(!media.is_sounding());
    // Closing the device finalises the WAV header.
    drop(media);
}

/// The recording holds the tone once: 1 s of 440 Hz at half scale on both channels, after the
/// 0.5 s of silence before the clip (and whatever silence the device had before the mix
/// started), then silence.
fn check_recording(bytes: &[u8]) {
    let pcm = decode_wav(bytes).unwrap();
    assert_eq!((pcm.sample_rate_hz, pcm.channels), (48_000, 2));
    let left: Vec<f32> = pcm.samples.chunks_exact(2).map(|f| f[0]).collect();
    let right: Vec<f32> = pcm.samples.chunks_exact(2).map(|f| f[1]).collect();
    assert_eq!(left, right, "mono is played on both channels");
    let onset = left
        .iter()
        .position(|s| s.abs() > 0.01)
        .expect("the tone is in the recording");
    // Less up to a frame (the picture moved on since it was anchored) and a device buffer
    // (the mix renders for when it is heard).
    assert!(
        onset >= 24_000 - 2_000 - 4_096,
        "0.5 s of silence first: {onset}"
    );
    let tone = &left[onset..onset + 48_000];
    let crossings = tone
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    assert!(
        (876..=884).contains(&crossings),
        "440 Hz: {crossings} crossings"
    );
    let rms = (tone.iter().map(|s| s * s).sum::<f32>() / 48_000.0).sqrt();
    assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {rms}");
    let after = &left[onset + 48_000 + 10..];
    assert!(
        after.iter().all(|s| s.abs() < 0.01),
        "silence after the clip (played once)"
    );
}

/// Noise (a fixed LCG) so that any stretch of it is found at exactly one place.
fn noise(frames: usize) -> Vec<i16> {
    let mut state = 0x2545_F491_u32;
    (0..frames)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let [_, _, hi, lo] = state.to_be_bytes();
            i16::from_be_bytes([hi, lo]) / 4
        })
        .collect()
}

#[test]
#[ignore = "needs alsa-lib's file plugin: PREVIZ_AUDIO_TEST=1 ... -- --include-ignored"]
fn a_seek_while_playing_restarts_the_sound_at_the_new_sample() {
    if !audio_tests_wanted() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("out.wav");
    let samples = noise(48_000);
    if !in_child(
        "a_seek_while_playing_restarts_the_sound_at_the_new_sample",
        dir.path(),
        &recording_conf(&recording),
    ) {
        let pcm = decode_wav(&std::fs::read(&recording).unwrap()).unwrap();
        let left: Vec<i16> = pcm
            .samples
            .chunks_exact(2)
            .map(|f| {
                #[allow(clippy::cast_possible_truncation)]
                let s = (f[0] * 32_768.0).round() as i16;
                s
            })
            .collect();
        // The first play starts with the clip's first sample; after the seek to frame 24
        // (half a second into the clip) the noise starts over from about sample 24,000 of
        // the asset: where exactly says where the restarted mix began.
        let runs = find_runs(&left, &samples);
        assert_eq!(runs.len(), 2, "one run per play: {runs:?}");
        assert_eq!(
            runs[0].1, 0,
            "the first play starts at the clip's first sample"
        );
        let offset = runs[1].1;
        // The new mix starts at the seek frame's sample (24,000 into the asset), plus under
        // a frame (2,000 samples) the picture moved since, plus the device buffer rendered
        // ahead (a power of two up to 4,096).
        assert!(
            (24_000..24_000 + 2_000 + 4_096).contains(&offset),
            "the second play started at sample {offset} of the clip"
        );
        return;
    }
    let dir = child_dir();
    let store = AssetStore::new(dir.join("assets"));
    let asset = store.put(&encode_wav_i16(48_000, 1, &samples)).unwrap();
    let doc = doc_with_tone(asset);
    let end = doc.timeline.duration_frames();
    let mut media = ready(&doc, &store);
    let mut transport = Transport::default();
    transport.toggle(0.0, end);
    play_for(
        &mut media,
        &mut transport,
        &doc,
        &store,
        0.0,
        Duration::from_millis(200),
    );
    transport.seek(24, 1.0);
    assert!(transport.is_playing());
    play_for(
        &mut media,
        &mut transport,
        &doc,
        &store,
        1.0,
        Duration::from_millis(200),
    );
    transport.stop();
    media.sync_audio(&transport, &doc, &store);
    drop(media);
}

/// Runs of the recording that match the asset sample for sample: (where in the recording,
/// which asset sample it starts at, how long).
fn find_runs(recording: &[i16], asset: &[i16]) -> Vec<(usize, usize, usize)> {
    // Index the asset by windows of 4 samples (noise: unique).
    let mut index = std::collections::HashMap::new();
    for (at, w) in asset.windows(4).enumerate() {
        index.entry(w.to_vec()).or_insert(at);
    }
    let mut runs = Vec::new();
    let mut i = 0;
    while i + 4 <= recording.len() {
        let Some(&start) = index.get(&recording[i..i + 4]) else {
            i += 1;
            continue;
        };
        let length = recording[i..]
            .iter()
            .zip(&asset[start..])
            .take_while(|(a, b)| a == b)
            .count();
        if length >= 1_000 {
            runs.push((i, start, length));
        }
        i += length.max(1);
    }
    runs
}
