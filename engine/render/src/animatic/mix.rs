//! The animatic's audio mix.
//!
//! Every unmuted audio track is mixed on its own (its stem), then summed into the mix:
//!
//! * sources: audio assets, and dialogue clips through their voice take (the pinned take, else
//!   the line's active one); picture sources on an audio track are silence;
//! * each asset is read and decoded once per track, converted to stereo and resampled to the
//!   output rate (band-limited), then placed at every clip that uses it, sample-exactly
//!   ([`Placement::of_frames`]: `Floor` of the exact rational time, so clips tile);
//! * gain: `extra["gain_db"]` of the track plus that of the clip (dB, default 0, clamped to
//!   −96…+24);
//! * fades: [`MixOptions::fade_ms`] in and out at every clip edge (10 ms by default) so cuts
//!   do not click;
//! * the sum is limited ([`Limiter`]; a soft knee above −1 dBFS by default), stems are not.
//!
//! The output is interleaved stereo `f32` at the project's audio rate (or the one asked),
//! exactly `round(duration_frames / frame_rate × sample_rate)` frames long.

use std::collections::BTreeMap;
use std::sync::Arc;

use previz_core::time::{Rounding, rescale};
use previz_core::{ContentHash, Extra, Item, Project, Rate, Track, TrackKind};
use previz_jobs::CancelToken;
use previz_storage::AssetStore;

use super::{RenderError, checked_duration, spans};
use crate::audio::{self, ClipAudio, Envelope, MixClip, Pcm, Placement, clip_audio, mix_clip_into};

/// How the sum is kept inside −1…1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Limiter {
    /// Unchanged below −1 dBFS; above, a tanh knee that approaches full scale without reaching
    /// it (smooth, no hard corners).
    #[default]
    Soft,
    /// Clamped to −1…1.
    Hard,
    /// Left as summed (a float WAV keeps overs; an encoder will clip them).
    Off,
}

impl Limiter {
    /// The limited value of one sample.
    #[must_use]
    pub fn apply(self, x: f32) -> f32 {
        const KNEE: f32 = 0.891; // −1 dBFS
        match self {
            Limiter::Off => x,
            Limiter::Hard => x.clamp(-1.0, 1.0),
            Limiter::Soft => {
                let a = x.abs();
                if a <= KNEE {
                    x
                } else {
                    let room = 1.0 - KNEE;
                    (KNEE + room * ((a - KNEE) / room).tanh()).copysign(x)
                }
            }
        }
    }
}

/// How the mix is made.
#[derive(Clone, Debug, PartialEq)]
pub struct MixOptions {
    /// The output rate; the project's `audio_sample_rate` when `None`.
    pub sample_rate_hz: Option<u32>,
    /// The fade at each clip edge, in milliseconds (0: none).
    pub fade_ms: f32,
    pub limiter: Limiter,
}

impl Default for MixOptions {
    fn default() -> Self {
        Self {
            sample_rate_hz: None,
            fade_ms: 10.0,
            limiter: Limiter::Soft,
        }
    }
}

/// The mixed sound of the timeline.
#[derive(Clone, PartialEq)]
pub struct AudioMix {
    pub sample_rate_hz: u32,
    /// Always 2 (stereo).
    pub channels: u16,
    /// Interleaved, `frames() * channels` samples.
    pub samples: Vec<f32>,
    /// Audio clips that sounded.
    pub clips: usize,
    /// What was left silent and why, one line each.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for AudioMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioMix")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("channels", &self.channels)
            .field("frames", &self.frames())
            .field("clips", &self.clips)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl AudioMix {
    /// Sample frames (one sample per channel each).
    #[must_use]
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// One track's mix, handed to the caller as it is made (for stems).
#[derive(Clone, Copy, Debug)]
pub struct TrackMix<'a> {
    /// The track's index on the timeline (0 is the lowest).
    pub index: usize,
    pub track: &'a Track,
    /// Interleaved stereo at the mix's rate, gained and faded, not limited.
    pub samples: &'a [f32],
}

/// The output channel count.
pub const CHANNELS: u16 = 2;

/// Sample rates accepted.
const RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=192_000;

fn gain_db(extra: &Extra) -> f64 {
    extra
        .get("gain_db")
        .and_then(serde_json::Value::as_f64)
        .filter(|g| g.is_finite())
        .map_or(0.0, |g| g.clamp(-96.0, 24.0))
}

/// Samples of the timeline's length at `sample_rate_hz`.
fn total_frames(project: &Project, sample_rate: Rate) -> Result<usize, RenderError> {
    let frames = checked_duration(&project.timeline)?;
    let samples = rescale(
        frames,
        project.timeline.rate,
        sample_rate,
        Rounding::Nearest,
    );
    usize::try_from(samples).map_err(|_| RenderError::EmptyTimeline)
}

/// The output rate of a mix made with `options`.
pub fn output_rate(project: &Project, options: &MixOptions) -> Result<u32, RenderError> {
    let hz = options
        .sample_rate_hz
        .unwrap_or(project.settings.audio_sample_rate);
    if !RATES_HZ.contains(&hz) {
        return Err(RenderError::InvalidOption {
            why: format!(
                "an audio rate of {hz} Hz cannot be mixed (8 kHz to 192 kHz); set the project's audio rate to 48000"
            ),
        });
    }
    if !(options.fade_ms.is_finite() && (0.0..=10_000.0).contains(&options.fade_ms)) {
        return Err(RenderError::InvalidOption {
            why: format!(
                "a fade of {} ms is not possible; use 0 to 10000",
                options.fade_ms
            ),
        });
    }
    Ok(hz)
}

/// A clip of a track, resolved to the asset it plays.
struct Planned {
    asset: ContentHash,
    placement: Placement,
    envelope: Envelope,
}

/// Mixes the timeline; `on_track` sees each unmuted audio track's own mix (a stem) before it
/// joins the sum. `progress` gets (clips done, clips in all).
pub fn mix_timeline(
    project: &Project,
    store: &AssetStore,
    options: &MixOptions,
    mut on_track: impl FnMut(TrackMix<'_>) -> Result<(), RenderError>,
    mut progress: impl FnMut(u64, u64),
    cancel: &CancelToken,
) -> Result<AudioMix, RenderError> {
    let hz = output_rate(project, options)?;
    let sample_rate =
        Rate::new(hz, 1).map_err(|e| RenderError::InvalidOption { why: e.to_string() })?;
    let frames = total_frames(project, sample_rate)?;
    let ch = usize::from(CHANNELS);
    let len = frames
        .checked_mul(ch)
        .filter(|n| *n <= audio::MAX_SAMPLES)
        .ok_or(RenderError::TooLong {
            frames: super::duration_frames(&project.timeline),
            seconds: f64::from(u32::try_from(frames / hz as usize).unwrap_or(u32::MAX)),
            limit_seconds: super::MAX_SECONDS,
        })?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // <= 10 s of samples
    let fade = (f64::from(options.fade_ms) * f64::from(hz) / 1000.0).round() as u32;
    let rate = project.timeline.rate;

    let mut warnings = Vec::new();
    let mut no_voice = 0usize;
    let tracks: Vec<(usize, &Track, Vec<Planned>)> = project
        .timeline
        .tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TrackKind::Audio && !t.muted)
        .map(|(index, track)| {
            let track_db = gain_db(&track.extra);
            let planned = spans(track)
                .into_iter()
                .filter_map(|span| {
                    let Item::Clip(clip) = span.item else {
                        return None;
                    };
                    let asset = match clip_audio(project, &clip.source) {
                        ClipAudio::Asset(asset) => asset,
                        ClipAudio::NoVoiceYet => {
                            no_voice += 1;
                            return None;
                        }
                        ClipAudio::None => return None,
                    };
                    #[allow(clippy::cast_possible_truncation)] // clamped to −96…+24 dB
                    let gain = 10f64.powf((track_db + gain_db(&clip.extra)) / 20.0) as f32;
                    Some(Planned {
                        asset,
                        placement: Placement::of_frames(
                            asset,
                            span.start,
                            span.end - span.start,
                            clip.source_in_frames.max(0),
                            rate,
                            sample_rate,
                        ),
                        envelope: Envelope {
                            gain,
                            fade_in_samples: fade,
                            fade_out_samples: fade,
                        },
                    })
                })
                .collect();
            (index, track, planned)
        })
        .collect();
    if no_voice > 0 {
        warnings.push(format!(
            "{no_voice} dialogue clip(s) have no voice take yet and are silent; generate voices to hear them"
        ));
    }

    let total: u64 = tracks.iter().map(|(_, _, p)| p.len() as u64).sum();
    let mut done = 0u64;
    progress(0, total);
    let mut mix = vec![0.0f32; len];
    let mut stem = vec![0.0f32; len];
    let mut clips = 0usize;
    for (index, track, planned) in &tracks {
        stem.iter_mut().for_each(|s| *s = 0.0);
        let mut by_asset: BTreeMap<ContentHash, Vec<&Planned>> = BTreeMap::new();
        for p in planned {
            by_asset.entry(p.asset).or_default().push(p);
        }
        for (asset, uses) in by_asset {
            cancel_check(cancel)?;
            match load(store, asset, hz, cancel) {
                Ok(pcm) => {
                    for p in &uses {
                        let clip = MixClip {
                            placement: p.placement.clone(),
                            pcm: Arc::clone(&pcm),
                        };
                        mix_clip_into(&clip, p.envelope, CHANNELS, 0, &mut stem);
                        clips += 1;
                    }
                }
                Err(LoadError::Cancelled) => return Err(RenderError::Cancelled),
                Err(LoadError::Failed(why)) => warnings.push(format!(
                    "{} clip(s) on track '{}' are silent: {why}",
                    uses.len(),
                    track.name
                )),
            }
            done += uses.len() as u64;
            progress(done, total);
        }
        on_track(TrackMix {
            index: *index,
            track,
            samples: &stem,
        })?;
        for (m, s) in mix.iter_mut().zip(&stem) {
            *m += s;
        }
    }
    if options.limiter != Limiter::Off {
        for s in &mut mix {
            *s = options.limiter.apply(*s);
        }
    }
    Ok(AudioMix {
        sample_rate_hz: hz,
        channels: CHANNELS,
        samples: mix,
        clips,
        warnings,
    })
}

fn cancel_check(cancel: &CancelToken) -> Result<(), RenderError> {
    if cancel.is_cancelled() {
        Err(RenderError::Cancelled)
    } else {
        Ok(())
    }
}

enum LoadError {
    Cancelled,
    Failed(String),
}

/// An asset's audio as stereo at `hz`.
fn load(
    store: &AssetStore,
    asset: ContentHash,
    hz: u32,
    cancel: &CancelToken,
) -> Result<Arc<Pcm>, LoadError> {
    let bytes = store
        .read(&asset)
        .map_err(|e| LoadError::Failed(e.to_string()))?;
    let pcm =
        audio::decode_wav(&bytes).map_err(|e| LoadError::Failed(format!("audio {asset}: {e}")))?;
    let pcm = audio::remix(&pcm, CHANNELS);
    if audio::resampled_len(&pcm, hz) > audio::MAX_SAMPLES as u64 {
        return Err(LoadError::Failed(format!(
            "audio {asset} is too long to resample to {hz} Hz"
        )));
    }
    let pcm = audio::resample(&pcm, hz, || {
        if cancel.is_cancelled() {
            Err(LoadError::Cancelled)
        } else {
            Ok(())
        }
    })?;
    Ok(Arc::new(pcm))
}

#[cfg(test)]
mod tests {
    use previz_core::{
        Asset, AssetKind, Clip, ClipSource, Gap, LineTakes, MediaInfo, Provenance, Take, TakeId,
    };

    use super::*;
    use crate::audio::encode_wav_i16;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: AssetStore,
        project: Project,
    }

    fn fixture(rate: Rate) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = AssetStore::new(dir.path().join("assets"));
        let mut project = Project::new("mix");
        project.settings.frame_rate = rate;
        project.timeline = previz_core::Timeline::new("t", rate);
        Fixture {
            _dir: dir,
            store,
            project,
        }
    }

    /// A mono WAV of `frames` samples of a constant value at `hz`.
    fn dc(f: &mut Fixture, hz: u32, frames: usize, value: i16) -> ContentHash {
        let hash = f
            .store
            .put(&encode_wav_i16(hz, 1, &vec![value; frames]))
            .unwrap();
        f.project.assets.insert(
            hash,
            Asset {
                hash,
                kind: AssetKind::Audio,
                media: MediaInfo::default(),
                extra: Extra::new(),
            },
        );
        hash
    }

    fn run(f: &Fixture, options: &MixOptions) -> AudioMix {
        mix_timeline(
            &f.project,
            &f.store,
            options,
            |_| Ok(()),
            |_, _| {},
            &CancelToken::new(),
        )
        .unwrap()
    }

    fn no_fades() -> MixOptions {
        MixOptions {
            fade_ms: 0.0,
            limiter: Limiter::Off,
            ..MixOptions::default()
        }
    }

    #[test]
    fn clips_land_on_exact_samples_and_the_mix_has_the_timeline_length() {
        for (rate, per_frame) in [(Rate::FPS_24, 2000usize), (Rate::FPS_23_976, 2002)] {
            let mut f = fixture(rate);
            let a = dc(&mut f, 48_000, 48_000 * 10, 16_384);
            f.project.timeline.tracks[1].items = vec![
                Item::Gap(Gap::new(3)),
                Item::Clip(Clip::new("a", ClipSource::Asset { asset: a }, 5)),
                Item::Gap(Gap::new(2)),
            ];
            let mix = run(&f, &no_fades());
            assert_eq!(mix.sample_rate_hz, 48_000);
            assert_eq!(mix.frames(), 10 * per_frame, "{rate}");
            let first = 3 * per_frame;
            let last = 8 * per_frame;
            assert_eq!(mix.samples[2 * (first - 1)], 0.0);
            assert_eq!(mix.samples[2 * first], 0.5);
            assert_eq!(mix.samples[2 * first + 1], 0.5, "mono to both channels");
            assert_eq!(mix.samples[2 * (last - 1)], 0.5);
            assert_eq!(mix.samples[2 * last], 0.0);
            assert_eq!(mix.clips, 1);
        }
    }

    #[test]
    fn fades_and_gain_shape_each_clip() {
        let mut f = fixture(Rate::FPS_24);
        let a = dc(&mut f, 48_000, 48_000, 16_384);
        let mut clip = Clip::new("a", ClipSource::Asset { asset: a }, 12);
        clip.extra.insert("gain_db".into(), serde_json::json!(-6.0));
        f.project.timeline.tracks[1]
            .extra
            .insert("gain_db".into(), serde_json::json!(0.0206));
        f.project.timeline.tracks[1].items = vec![Item::Clip(clip)];
        let mix = run(
            &f,
            &MixOptions {
                fade_ms: 10.0,
                limiter: Limiter::Off,
                ..MixOptions::default()
            },
        );
        // −6 dB + 0.0206 dB ≈ ×0.5013; 480-sample fades at 48 kHz.
        let gain = 10f32.powf((-6.0 + 0.0206) / 20.0);
        let at = |n: usize| mix.samples[2 * n];
        assert!((at(0) - 0.5 * gain * 0.5 / 480.0).abs() < 1e-6, "{}", at(0));
        assert!(at(100) < at(200) && at(200) < at(479));
        assert!((at(480) - 0.5 * gain).abs() < 1e-6);
        assert!((at(10_000) - 0.5 * gain).abs() < 1e-6);
        let end = 24_000;
        assert!((at(end - 1) - 0.5 * gain * 0.5 / 480.0).abs() < 1e-6);
        assert!(at(end - 300) < at(end - 481));
    }

    #[test]
    fn resampled_dialogue_takes_play_and_muted_tracks_do_not() {
        let mut f = fixture(Rate::FPS_24);
        // 1 s at 22.05 kHz becomes 1 s at 48 kHz.
        let voice = dc(&mut f, 22_050, 22_050, 8_192);
        let line = previz_core::LineId::new();
        let take = Take {
            id: TakeId::new(),
            asset: voice,
            provenance: Provenance::default(),
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: Extra::new(),
        };
        f.project.voices.insert(
            line,
            LineTakes {
                active: Some(take.id),
                takes: vec![take],
            },
        );
        let loud = dc(&mut f, 48_000, 96_000, 30_000);
        f.project.timeline.tracks[1].items = vec![Item::Clip(Clip::new(
            "line",
            ClipSource::Dialogue { line, take: None },
            48,
        ))];
        let mut muted = Track::new("A2", TrackKind::Audio);
        muted.muted = true;
        muted.items = vec![Item::Clip(Clip::new(
            "loud",
            ClipSource::Asset { asset: loud },
            48,
        ))];
        f.project.timeline.tracks.push(muted);
        let mut stems = Vec::new();
        let mix = mix_timeline(
            &f.project,
            &f.store,
            &no_fades(),
            |t| {
                stems.push((t.track.name.clone(), t.samples.len()));
                Ok(())
            },
            |_, _| {},
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(mix.frames(), 96_000);
        assert_eq!(stems, vec![("A1".to_owned(), 192_000)]);
        // Inside the first second the voice sounds (the resampler's edges aside); after it, the
        // take has ended: silence. The muted track's 0.9 never shows.
        let mid = mix.samples[2 * 24_000];
        assert!((mid - 0.25).abs() < 1e-3, "{mid}");
        assert!(
            mix.samples[2 * 47_000..].iter().all(|s| s.abs() < 0.3),
            "a step rings by under 10 %"
        );
        assert!(mix.samples[2 * 49_000..].iter().all(|s| *s == 0.0));
    }

    #[test]
    fn missing_audio_is_silence_and_a_warning_and_the_sum_is_limited() {
        let mut f = fixture(Rate::FPS_24);
        let a = dc(&mut f, 48_000, 48_000, 32_000);
        let gone = ContentHash([3; 32]);
        let mut a2 = Track::new("A2", TrackKind::Audio);
        a2.items = vec![Item::Clip(Clip::new(
            "a",
            ClipSource::Asset { asset: a },
            24,
        ))];
        f.project.timeline.tracks[1].items = vec![
            Item::Clip(Clip::new("a", ClipSource::Asset { asset: a }, 24)),
            Item::Clip(Clip::new("gone", ClipSource::Asset { asset: gone }, 24)),
        ];
        f.project.timeline.tracks.push(a2);
        let mix = run(&f, &MixOptions::default());
        assert_eq!(mix.warnings.len(), 1, "{:?}", mix.warnings);
        assert!(mix.warnings[0].contains("A1") && mix.warnings[0].contains(&gone.to_hex()));
        // Two near-full-scale clips: ~1.95 before the limiter, under 1 after.
        let peak = mix.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak <= 1.0 && peak > 0.95, "{peak}");
        assert_eq!(Limiter::Soft.apply(0.5), 0.5);
        assert_eq!(Limiter::Hard.apply(-3.0), -1.0);
        assert!(Limiter::Soft.apply(0.9) > 0.89 && Limiter::Soft.apply(0.9) < 0.9);
    }

    #[test]
    fn refusals_say_what_to_do() {
        let f = fixture(Rate::FPS_24);
        let err = mix_timeline(
            &f.project,
            &f.store,
            &MixOptions::default(),
            |_| Ok(()),
            |_, _| {},
            &CancelToken::new(),
        )
        .unwrap_err();
        assert!(matches!(err, RenderError::EmptyTimeline), "{err}");
        let mut f = fixture(Rate::FPS_24);
        f.project.timeline.tracks[1].items = vec![Item::Gap(Gap::new(24))];
        let err = mix_timeline(
            &f.project,
            &f.store,
            &MixOptions {
                sample_rate_hz: Some(1),
                ..MixOptions::default()
            },
            |_| Ok(()),
            |_, _| {},
            &CancelToken::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("48000"), "{err}");
        let token = CancelToken::new();
        let a = {
            let mut g = f;
            let a = dc(&mut g, 48_000, 480, 1);
            g.project.timeline.tracks[1].items = vec![Item::Clip(Clip::new(
                "a",
                ClipSource::Asset { asset: a },
                24,
            ))];
            token.cancel();
            mix_timeline(
                &g.project,
                &g.store,
                &MixOptions::default(),
                |_| Ok(()),
                |_, _| {},
                &token,
            )
        };
        assert!(matches!(a, Err(RenderError::Cancelled)));
    }
}
