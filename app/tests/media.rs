//! The media pipeline end to end: assets in a real store, decoded by real jobs on a real queue,
//! delivered to `Media` as the studio delivers them; the mixer's sample arithmetic.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use previz_core::{
    Asset, AssetKind, Clip, ClipSource, ContentHash, Extra, Gap, Item, MediaInfo, Project, Rate,
    Track, TrackKind,
};
use previz_jobs::{JobKind, JobQueue, JobState, QueueConfig};
use previz_storage::AssetStore;
use previz_studio::media::audio::{MixClip, mix_into, placements};
use previz_studio::media::decode::{Pcm, encode_wav_f32, encode_wav_i16};
use previz_studio::media::{Media, Peaks};

struct Fixture {
    _dir: tempfile::TempDir,
    store: AssetStore,
    jobs: JobQueue,
    media: Media,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let jobs = JobQueue::new(QueueConfig::default());
    let media = Media::with_jobs(jobs.clone());
    Fixture {
        _dir: dir,
        store,
        jobs,
        media,
    }
}

impl Fixture {
    /// Waits for the queue and hands every result to the media, as `Studio::tick` does.
    fn settle(&mut self) {
        assert!(self.jobs.wait_idle(Duration::from_secs(30)), "jobs hung");
        for mut finished in self.jobs.drain_finished() {
            assert!(
                self.media.deliver(&mut finished),
                "{} was not media's",
                finished.name
            );
        }
    }

    fn jobs_of(&self, kind: JobKind) -> Vec<previz_jobs::JobSnapshot> {
        self.jobs
            .snapshot()
            .into_iter()
            .filter(|j| j.kind == kind)
            .collect()
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            u8::try_from(x * 255 / width).unwrap(),
            u8::try_from(y * 255 / height).unwrap(),
            128,
        ])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

#[test]
fn a_png_in_the_store_becomes_a_bounded_thumbnail_and_a_full_frame() {
    let mut f = fixture();
    let ctx = egui::Context::default();
    let hash = f.store.put(&png(1024, 512)).unwrap();

    assert!(f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).is_none());
    // Asked every frame while decoding: still one job.
    assert!(f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).is_none());
    assert!(f.media.is_pending(&hash));
    f.settle();
    assert_eq!(f.jobs_of(JobKind::Thumbnail).len(), 1);

    let thumbnail = f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).unwrap();
    assert_eq!(
        thumbnail.size(),
        [512, 256],
        "long side bounded, aspect kept"
    );
    let again = f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).unwrap();
    assert_eq!(again.id(), thumbnail.id(), "cached, not uploaded twice");
    assert_eq!(f.jobs_of(JobKind::Thumbnail).len(), 1);

    assert!(f.media.frame(&ctx, &f.store, hash, &f.jobs).is_none());
    f.settle();
    let frame = f.media.frame(&ctx, &f.store, hash, &f.jobs).unwrap();
    assert_eq!(frame.size(), [1024, 512], "full resolution for the viewer");
    assert_ne!(frame.id(), thumbnail.id());
    assert_eq!(f.media.failure(&hash), None);
}

#[test]
fn a_corrupt_png_fails_once_with_a_reason_and_is_not_retried() {
    let mut f = fixture();
    let ctx = egui::Context::default();
    let mut bytes = png(64, 64);
    // Keep the signature and header, break the image data.
    for b in &mut bytes[40..] {
        *b ^= 0x5A;
    }
    let broken = f.store.put(&bytes).unwrap();
    let garbage = f.store.put(b"this is not an image at all").unwrap();
    let missing = ContentHash([7; 32]);
    for hash in [broken, garbage, missing] {
        assert!(f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).is_none());
    }
    f.settle();
    for hash in [broken, garbage, missing] {
        assert!(f.media.thumbnail(&ctx, &f.store, hash, &f.jobs).is_none());
    }
    let broken_reason = f.media.failure(&broken).unwrap();
    assert!(
        broken_reason.contains("damaged or unreadable PNG image"),
        "{broken_reason}"
    );
    let garbage_reason = f.media.failure(&garbage).unwrap();
    assert!(
        garbage_reason.contains("not an image the studio reads"),
        "{garbage_reason}"
    );
    assert!(f.media.failure(&missing).unwrap().contains("missing"));
    // The job panel shows the same failures; asking again queued nothing new.
    let jobs = f.jobs_of(JobKind::Thumbnail);
    assert_eq!(jobs.len(), 3);
    assert!(
        jobs.iter()
            .all(|j| matches!(j.state, JobState::Failed { .. })),
        "{jobs:?}"
    );
    assert_eq!(f.jobs.stats().queued + f.jobs.stats().running, 0);

    f.media.forget_failures();
    assert!(f.media.thumbnail(&ctx, &f.store, broken, &f.jobs).is_none());
    assert!(f.media.is_pending(&broken), "retried after forgetting");
    f.settle();
}

fn sine_i16(rate: u32, channels: u16, hz: f64, amplitude: f64, frames: usize) -> Vec<i16> {
    (0..frames)
        .flat_map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f64 / f64::from(rate);
            #[allow(clippy::cast_possible_truncation)]
            let s = (amplitude * 32_767.0 * (std::f64::consts::TAU * hz * t).sin()).round() as i16;
            std::iter::repeat_n(s, usize::from(channels))
        })
        .collect()
}

#[test]
fn peaks_of_a_sine_wav_bound_the_wave_and_silence_is_flat() {
    let mut f = fixture();
    let tone = f
        .store
        .put(&encode_wav_i16(
            48_000,
            2,
            &sine_i16(48_000, 2, 440.0, 0.5, 48_000),
        ))
        .unwrap();
    let silence = f
        .store
        .put(&encode_wav_f32(44_100, 1, &vec![0.0; 44_100 / 2]))
        .unwrap();
    let mp3 = f
        .store
        .put(b"ID3\x04\0\0\0\0\0\x0fsome mp3 frames")
        .unwrap();
    for hash in [tone, silence, mp3] {
        assert!(f.media.peaks(&f.store, hash, &f.jobs).is_none());
    }
    f.settle();

    let peaks = f.media.peaks(&f.store, tone, &f.jobs).unwrap();
    assert_eq!(peaks.sample_rate_hz, 48_000);
    assert_eq!(peaks.bucket, 240);
    assert_eq!(peaks.values.len(), 200, "one second in 5 ms buckets");
    for (lo, hi) in &peaks.values {
        assert!(
            (-0.501..=-0.45).contains(lo) && (0.45..=0.501).contains(hi),
            "{lo} {hi}"
        );
    }
    let (lo, hi) = peaks.envelope(0, 48_000).unwrap();
    assert!(
        (lo + 0.5).abs() < 1e-3 && (hi - 0.5).abs() < 1e-3,
        "{lo} {hi}"
    );

    let flat = f.media.peaks(&f.store, silence, &f.jobs).unwrap();
    assert_eq!(flat.bucket, 220);
    assert_eq!(flat.values.len(), 22_050_usize.div_ceil(220));
    assert!(flat.values.iter().all(|v| *v == (0.0, 0.0)));

    assert!(f.media.peaks(&f.store, mp3, &f.jobs).is_none());
    let reason = f.media.failure(&mp3).unwrap();
    assert!(reason.contains("unsupported audio format: MP3"), "{reason}");
    assert_eq!(f.jobs_of(JobKind::Waveform).len(), 3);
    let _: Arc<Peaks> = peaks;
}

fn audio_asset(doc: &mut Project, hash: ContentHash) {
    doc.assets.insert(
        hash,
        Asset {
            hash,
            kind: AssetKind::Audio,
            media: MediaInfo::default(),
            extra: Extra::new(),
        },
    );
}

fn asset_clip(hash: ContentHash, source_in_frames: i64, duration_frames: i64) -> Item {
    let mut clip = Clip::new("sound", ClipSource::Asset { asset: hash }, duration_frames);
    clip.source_in_frames = source_in_frames;
    Item::Clip(clip)
}

/// A document with two audible clips that overlap, a muted track and a video track.
fn two_clip_doc(rate: Rate) -> (Project, ContentHash, ContentHash) {
    let a = ContentHash([1; 32]);
    let b = ContentHash([2; 32]);
    let mut doc = Project::new("mix");
    doc.timeline.rate = rate;
    audio_asset(&mut doc, a);
    audio_asset(&mut doc, b);
    let mut a1 = Track::new("A1", TrackKind::Audio);
    a1.items = vec![Item::Gap(Gap::new(24)), asset_clip(a, 12, 24)];
    let mut a2 = Track::new("A2", TrackKind::Audio);
    a2.items = vec![Item::Gap(Gap::new(30)), asset_clip(b, 0, 12)];
    let mut muted = Track::new("A3", TrackKind::Audio);
    muted.muted = true;
    muted.items = vec![asset_clip(a, 0, 100)];
    let mut video = Track::new("V1", TrackKind::Video);
    video.items = vec![asset_clip(a, 0, 100)];
    doc.timeline.tracks = vec![video, a1, a2, muted];
    (doc, a, b)
}

#[test]
fn clips_land_on_exact_samples_at_film_and_ntsc_rates() {
    let (doc, a, b) = two_clip_doc(Rate::FPS_24);
    let placed = placements(&doc, 48_000);
    assert_eq!(
        placed.len(),
        2,
        "muted tracks and video tracks are not mixed"
    );
    assert_eq!(placed[0].asset, a);
    assert_eq!(
        (
            placed[0].start_sample,
            placed[0].end_sample,
            placed[0].source_in_sample
        ),
        (48_000, 96_000, 24_000)
    );
    assert_eq!(placed[1].asset, b);
    assert_eq!(
        (placed[1].start_sample, placed[1].end_sample),
        (60_000, 84_000)
    );

    // One frame at 23.976 is exactly 2002 samples at 48 kHz.
    let (ntsc, _, _) = two_clip_doc(Rate::FPS_23_976);
    let placed = placements(&ntsc, 48_000);
    assert_eq!(
        (
            placed[0].start_sample,
            placed[0].end_sample,
            placed[0].source_in_sample
        ),
        (24 * 2002, 48 * 2002, 12 * 2002)
    );
}

/// Mono audio whose sample n is a value unique to (asset, n), exactly representable.
fn ramp(tag: f32, frames: usize) -> Arc<Pcm> {
    Arc::new(Pcm {
        sample_rate_hz: 48_000,
        channels: 1,
        samples: (0..frames)
            .map(|n| {
                #[allow(clippy::cast_precision_loss)]
                let n = (n % 4096) as f32;
                tag + n / 8192.0
            })
            .collect(),
    })
}

#[test]
fn the_mix_puts_every_clip_sample_at_its_timeline_sample() {
    let (doc, a, _) = two_clip_doc(Rate::FPS_24);
    let placed = placements(&doc, 48_000);
    // A has 1.5 s of audio: its clip (source in 0.5 s, 1 s long) runs to its last sample.
    // B has only 0.25 s for a 0.5 s clip: silence after.
    let a_pcm = ramp(0.25, 72_000);
    let b_pcm = ramp(-0.5, 12_000);
    let clips: Vec<MixClip> = placed
        .iter()
        .map(|p| MixClip {
            placement: p.clone(),
            pcm: if p.asset == a {
                Arc::clone(&a_pcm)
            } else {
                Arc::clone(&b_pcm)
            },
        })
        .collect();
    // From frame 20 (sample 40,000) for 60,000 samples, in uneven pieces as a device asks.
    let start = 40_000i64;
    let mut out = vec![0.0f32; 60_000];
    let mut at = 0usize;
    for piece in [1usize, 999, 17_000, 2_000, 40_000] {
        let first = start + i64::try_from(at).unwrap();
        mix_into(&clips, 1, first, &mut out[at..at + piece]);
        at += piece;
    }
    for (i, got) in out.iter().enumerate() {
        let t = start + i64::try_from(i).unwrap();
        let mut expected = 0.0f32;
        if (48_000..96_000).contains(&t) {
            expected += a_pcm.samples[usize::try_from(t - 48_000 + 24_000).unwrap()];
        }
        if (60_000..72_000).contains(&t) {
            expected += b_pcm.samples[usize::try_from(t - 60_000).unwrap()];
        }
        assert_eq!(got.to_bits(), expected.to_bits(), "sample {t}");
    }
    // Sanity of the fixture: both clips sound, overlap included.
    assert_ne!(
        out[(60_000 - start) as usize],
        out[(59_999 - start) as usize]
    );
    assert_eq!(out[(47_999 - start) as usize], 0.0);
    assert_eq!(out[(72_000 - start) as usize], a_pcm.samples[48_000]);
}

#[test]
fn a_clip_with_the_wrong_channel_count_is_left_out_not_misread() {
    let (doc, _, _) = two_clip_doc(Rate::FPS_24);
    let placed = placements(&doc, 48_000);
    let stereo = Arc::new(Pcm {
        sample_rate_hz: 48_000,
        channels: 2,
        samples: vec![0.5; 200_000],
    });
    let clips = vec![MixClip {
        placement: placed[0].clone(),
        pcm: stereo,
    }];
    let mut out = vec![0.0f32; 1_000];
    mix_into(&clips, 1, 50_000, &mut out);
    assert!(out.iter().all(|s| *s == 0.0));
}

// ---------------------------------------------------------------------------------------------
// The panels draw through the media

mod panels {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use egui_kittest::Harness;
    use previz_core::{
        Asset, AssetKind, ContentHash, EditCommand, Extra, MediaInfo, Provenance, Take, TakeId,
    };
    use previz_jobs::{JobKind, JobQueue, JobState, QueueConfig};
    use previz_studio::settings::StudioSettings;
    use previz_studio::{Studio, StudioApp};

    /// A studio on the sample screenplay's rough cut, as File → New project from screenplay
    /// makes it.
    fn sample(dir: &Path) -> Studio {
        let script = dir.join("short-action.fountain");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../assets/screenplays/short-action.fountain"),
            &script,
        )
        .unwrap();
        let mut studio = Studio::new(
            JobQueue::new(QueueConfig::default()),
            StudioSettings::default(),
        );
        studio.new_project_from_screenplay(script, dir.join("sample.previz"));
        studio.settle(Duration::from_secs(60));
        assert!(studio.project.is_some(), "{:?}", studio.toasts.log);
        studio
    }

    /// Stores `bytes` and makes them the active take of the first and second shots' (good,
    /// broken) takes.
    fn attach(studio: &mut Studio, shot_index: usize, bytes: &[u8]) -> ContentHash {
        let store = studio.project.as_ref().unwrap().session.assets();
        let hash = store.put(bytes).unwrap();
        let shot = studio.doc().unwrap().shots[shot_index].id;
        let applied = studio.apply(&EditCommand::AttachTake {
            shot,
            take: Box::new(Take {
                id: TakeId::new(),
                asset: hash,
                provenance: Provenance {
                    generator: "import".into(),
                    ..Provenance::default()
                },
                created: jiff::Timestamp::now(),
                note: String::new(),
                extra: Extra::new(),
            }),
            asset: Some(Box::new(Asset {
                hash,
                kind: AssetKind::Image,
                media: MediaInfo::default(),
                extra: Extra::new(),
            })),
            make_active: true,
        });
        assert!(applied, "{:?}", studio.toasts.log);
        hash
    }

    #[test]
    fn the_storyboard_and_the_viewer_ask_for_the_take_images_and_survive_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut studio = sample(dir.path());
        let good = attach(&mut studio, 0, &super::png(640, 360));
        let broken = attach(&mut studio, 1, b"\x89PNG\r\n\x1a\nnot really");
        // Every scene's shots on the storyboard, not just the first scene's.
        studio.selection.scene = None;
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1600.0, 900.0))
            .build_ui_state(
                |ui, app: &mut StudioApp| app.frame_ui(ui),
                StudioApp::new(studio, None),
            );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            harness.step();
            let media = &harness.state().studio.media;
            if media.failure(&broken).is_some() && !media.is_pending(&good) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the decodes never landed: {:?} {:?}",
                media,
                harness.state().studio.jobs.snapshot()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        harness.run_steps(2);

        let state = harness.state();
        let jobs = state.studio.jobs.snapshot();
        let thumbnails: Vec<_> = jobs
            .iter()
            .filter(|j| j.kind == JobKind::Thumbnail)
            .collect();
        // The storyboard's two thumbnails and the viewer's full frame (playhead on shot 1).
        assert!(
            thumbnails.iter().any(|j| j.name.starts_with("Frame ")),
            "{thumbnails:?}"
        );
        assert_eq!(
            thumbnails
                .iter()
                .filter(|j| j.state == JobState::Succeeded)
                .count(),
            2,
            "{thumbnails:?}"
        );
        assert_eq!(state.studio.media.failure(&good), None);
        let reason = state.studio.media.failure(&broken).unwrap();
        assert!(reason.contains("PNG"), "{reason}");
        // Delivered to the media, not shown as toasts one per broken card.
        assert!(
            state
                .studio
                .toasts
                .log
                .iter()
                .all(|t| !t.title.contains("Thumbnail"))
        );

        let ctx = harness.ctx.clone();
        let studio = &mut harness.state_mut().studio;
        let store = studio.project.as_ref().unwrap().session.assets();
        let texture = studio
            .media
            .thumbnail(&ctx, &store, good, &studio.jobs)
            .expect("the storyboard's thumbnail is cached");
        assert_eq!(texture.size(), [512, 288]);
    }
}
