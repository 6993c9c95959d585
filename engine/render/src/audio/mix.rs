//! Where the audio clips of the timeline fall in samples, and the mixer that sums them from any
//! start sample. Frames become samples by exact rational rescaling (`Floor`), so adjacent clips
//! tile sample-exactly at 24, 25 and 24000/1001 fps alike.

use std::sync::Arc;

use previz_core::time::{Rounding, rescale};
use previz_core::{AssetKind, ClipSource, ContentHash, Project, Rate, TrackKind};

use super::wav::Pcm;

/// Where one audio clip of the timeline falls, in samples at the output rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub asset: ContentHash,
    /// First sample of the clip on the timeline (frame 0 is sample 0).
    pub start_sample: i64,
    /// One past its last sample.
    pub end_sample: i64,
    /// The sample of the asset that plays at `start_sample`.
    pub source_in_sample: i64,
}

impl Placement {
    /// A clip starting at timeline frame `start`, `duration` frames long, `source_in` frames
    /// into its asset, at `sample_rate`.
    #[must_use]
    pub fn of_frames(
        asset: ContentHash,
        start: i64,
        duration: i64,
        source_in: i64,
        frame_rate: Rate,
        sample_rate: Rate,
    ) -> Self {
        let at = |frames: i64| rescale(frames, frame_rate, sample_rate, Rounding::Floor);
        Self {
            asset,
            start_sample: at(start),
            end_sample: at(start.saturating_add(duration)),
            source_in_sample: at(source_in),
        }
    }
}

/// What a clip on an audio track plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipAudio {
    Asset(ContentHash),
    /// A line of dialogue not voiced yet (or whose pinned take is gone).
    NoVoiceYet,
    /// Nothing audible (a still, a slug, a shot).
    None,
}

/// The sound a clip plays: an audio asset, or a line's voice take (the pinned one, else the
/// line's active take). Playback in the studio and the animatic's mix agree through this.
#[must_use]
pub fn clip_audio(doc: &Project, source: &ClipSource) -> ClipAudio {
    match source {
        ClipSource::Asset { asset } => {
            let kind = doc.assets.get(asset).map(|a| a.kind);
            if kind.is_none() || kind == Some(AssetKind::Audio) {
                ClipAudio::Asset(*asset)
            } else {
                ClipAudio::None
            }
        }
        ClipSource::Dialogue { line, take } => {
            let takes = doc.voices.get(line);
            let chosen = match take {
                Some(id) => takes.and_then(|v| v.takes.iter().find(|t| t.id == *id)),
                None => takes.and_then(previz_core::LineTakes::active),
            };
            chosen.map_or(ClipAudio::NoVoiceYet, |t| ClipAudio::Asset(t.asset))
        }
        _ => ClipAudio::None,
    }
}

/// The audio clips the studio plays: clips of unmuted audio tracks that sound ([`clip_audio`]:
/// audio assets and voiced lines of dialogue), in samples at `sample_rate_hz`. Empty for a rate
/// of 0.
#[must_use]
pub fn placements(doc: &Project, sample_rate_hz: u32) -> Vec<Placement> {
    let Ok(output) = Rate::new(sample_rate_hz, 1) else {
        return Vec::new();
    };
    let rate = doc.timeline.rate;
    doc.timeline
        .tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Audio && !t.muted)
        .flat_map(previz_core::Track::items_with_start)
        .filter_map(|(start, item)| {
            let clip = item.as_clip()?;
            let ClipAudio::Asset(asset) = clip_audio(doc, &clip.source) else {
                return None;
            };
            (clip.duration_frames > 0).then(|| {
                Placement::of_frames(
                    asset,
                    start,
                    clip.duration_frames,
                    clip.source_in_frames,
                    rate,
                    output,
                )
            })
        })
        .collect()
}

/// A placed clip with its audio, at the output's rate and channel count.
#[derive(Clone, Debug)]
pub struct MixClip {
    pub placement: Placement,
    pub pcm: Arc<Pcm>,
}

/// How a clip's samples are shaped as they are summed: a linear gain, and linear fades at its
/// edges (so a cut in the middle of a waveform does not click).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Envelope {
    pub gain: f32,
    /// Samples over which the clip rises from silence at its start.
    pub fade_in_samples: u32,
    /// Samples over which it falls to silence at its end.
    pub fade_out_samples: u32,
}

impl Envelope {
    /// Unity gain, no fades: samples are summed exactly.
    pub const UNITY: Envelope = Envelope {
        gain: 1.0,
        fade_in_samples: 0,
        fade_out_samples: 0,
    };

    /// The factor applied at `offset` samples from the clip's start, for a clip `length`
    /// samples long. Fades longer than half the clip are shortened to half, so a short clip
    /// still reaches its gain in the middle. Sample `k` of an `n`-sample fade in is weighed
    /// `(k + 0.5) / n` (symmetric with the fade out; never exactly 0 or 1 inside a fade).
    #[must_use]
    pub fn factor(&self, offset: i64, length: i64) -> f32 {
        let half = (length / 2).max(0);
        let fade_in = i64::from(self.fade_in_samples).min(half);
        let fade_out = i64::from(self.fade_out_samples).min(half);
        let mut f = self.gain;
        if offset < fade_in {
            #[allow(clippy::cast_precision_loss)] // fades are short
            let x = (offset as f32 + 0.5) / fade_in as f32;
            f *= x.clamp(0.0, 1.0);
        }
        let from_end = length - 1 - offset;
        if from_end < fade_out {
            #[allow(clippy::cast_precision_loss)]
            let x = (from_end as f32 + 0.5) / fade_out as f32;
            f *= x.clamp(0.0, 1.0);
        }
        f
    }

    fn is_unity(&self) -> bool {
        self.gain == 1.0 && self.fade_in_samples == 0 && self.fade_out_samples == 0
    }
}

/// Adds the clips into `out`, which holds `out.len() / channels` frames of the timeline from
/// sample `first_sample` on. Sums exactly (no limiting: the player clamps what it plays); a
/// clip's samples outside its asset are silence. `pcm` must have `channels` channels (others
/// are skipped).
pub fn mix_into(clips: &[MixClip], channels: u16, first_sample: i64, out: &mut [f32]) {
    for clip in clips {
        mix_clip_into(clip, Envelope::UNITY, channels, first_sample, out);
    }
}

/// Adds one clip into `out` (laid out as in [`mix_into`]) shaped by `envelope`; the fades are
/// at the clip's placed edges, wherever the buffer cuts it.
pub fn mix_clip_into(
    clip: &MixClip,
    envelope: Envelope,
    channels: u16,
    first_sample: i64,
    out: &mut [f32],
) {
    let ch = usize::from(channels.max(1));
    let frames = i64::try_from(out.len() / ch).unwrap_or(i64::MAX);
    let last = first_sample.saturating_add(frames);
    if clip.pcm.channels != channels {
        return;
    }
    // The part of the clip inside the buffer and inside the asset, in i128 so no value a
    // damaged project file holds can overflow.
    let p = &clip.placement;
    let offset = i128::from(p.source_in_sample) - i128::from(p.start_sample);
    let asset_frames = i128::try_from(clip.pcm.frames()).unwrap_or(i128::MAX);
    let from = i128::from(p.start_sample.max(first_sample)).max(-offset);
    let to = i128::from(p.end_sample.min(last)).min(asset_frames - offset);
    if from >= to {
        return;
    }
    let (Ok(out_at), Ok(src_at), Ok(count)) = (
        usize::try_from(from - i128::from(first_sample)),
        usize::try_from(from + offset),
        usize::try_from(to - from),
    ) else {
        return;
    };
    let (Some(dst), Some(src)) = (
        out.get_mut(out_at * ch..(out_at + count) * ch),
        clip.pcm.samples.get(src_at * ch..(src_at + count) * ch),
    ) else {
        return;
    };
    if envelope.is_unity() {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += s;
        }
        return;
    }
    let length =
        i64::try_from(i128::from(p.end_sample) - i128::from(p.start_sample)).unwrap_or(i64::MAX);
    let Ok(first_offset) = i64::try_from(from - i128::from(p.start_sample)) else {
        return;
    };
    let gain_only = envelope.gain;
    let fade_in_end = i64::from(envelope.fade_in_samples).min(length / 2);
    let fade_out_start = length - i64::from(envelope.fade_out_samples).min(length / 2);
    for (k, (d, s)) in dst
        .chunks_exact_mut(ch)
        .zip(src.chunks_exact(ch))
        .enumerate()
    {
        let offset = first_offset + i64::try_from(k).unwrap_or(i64::MAX);
        let f = if offset >= fade_in_end && offset < fade_out_start {
            gain_only
        } else {
            envelope.factor(offset, length)
        };
        for (d, s) in d.iter_mut().zip(s) {
            *d += s * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(start: i64, end: i64, source_in: i64, samples: Vec<f32>) -> MixClip {
        MixClip {
            placement: Placement {
                asset: ContentHash([0; 32]),
                start_sample: start,
                end_sample: end,
                source_in_sample: source_in,
            },
            pcm: Arc::new(Pcm {
                sample_rate_hz: 8_000,
                channels: 1,
                samples,
            }),
        }
    }

    #[test]
    fn placements_from_a_damaged_project_cannot_overflow_the_mixer() {
        let mut out = vec![0.0f32; 64];
        for (start, end, source_in) in [
            (0, i64::MAX, i64::MIN),
            (i64::MIN, i64::MAX, i64::MAX),
            (-5, 5, 0),
            (i64::MAX - 1, i64::MAX, 0),
        ] {
            let c = clip(start, end, source_in, vec![0.5; 10]);
            mix_into(std::slice::from_ref(&c), 1, 0, &mut out);
            mix_into(&[], 1, i64::MAX - 3, &mut out);
            let shaped = Envelope {
                gain: 0.5,
                fade_in_samples: 4,
                fade_out_samples: 4,
            };
            let mut scratch = vec![0.0f32; 64];
            mix_clip_into(&c, shaped, 1, 0, &mut scratch);
            mix_clip_into(&c, shaped, 1, i64::MAX - 3, &mut scratch);
        }
        // Only (-5, 5, 0) sounds: asset samples 5..10 at timeline samples 0..5.
        assert_eq!(&out[..6], &[0.5, 0.5, 0.5, 0.5, 0.5, 0.0]);
    }

    #[test]
    fn fades_rise_and_fall_at_the_placed_edges_wherever_the_buffer_cuts() {
        let c = clip(10, 30, 0, vec![1.0; 100]);
        let env = Envelope {
            gain: 0.5,
            fade_in_samples: 4,
            fade_out_samples: 2,
        };
        let mut whole = vec![0.0f32; 40];
        mix_clip_into(&c, env, 1, 0, &mut whole);
        assert!(whole[..10].iter().all(|s| *s == 0.0));
        assert_eq!(&whole[10..14], &[0.0625, 0.1875, 0.3125, 0.4375]);
        assert!(whole[14..28].iter().all(|s| *s == 0.5));
        assert_eq!(&whole[28..30], &[0.375, 0.125]);
        assert!(whole[30..].iter().all(|s| *s == 0.0));
        // The same in pieces.
        let mut pieces = vec![0.0f32; 40];
        for (a, b) in [(0, 11), (11, 12), (12, 29), (29, 40)] {
            mix_clip_into(&c, env, 1, a as i64, &mut pieces[a..b]);
        }
        assert_eq!(pieces, whole);
        // A clip shorter than its fades still peaks in the middle.
        let short = Envelope {
            gain: 1.0,
            fade_in_samples: 100,
            fade_out_samples: 100,
        };
        assert_eq!(short.factor(0, 4), 0.25);
        assert_eq!(short.factor(1, 4), 0.75);
        assert_eq!(short.factor(2, 4), 0.75);
        assert_eq!(short.factor(3, 4), 0.25);
    }

    #[test]
    fn voiced_lines_play_and_unvoiced_ones_are_told_apart() {
        use previz_core::{Clip, Extra, Item, LineId, LineTakes, Provenance, Take, TakeId, Track};
        let mut doc = Project::new("t");
        let line = LineId::new();
        let silent = LineId::new();
        let take = Take {
            id: TakeId::new(),
            asset: ContentHash([7; 32]),
            provenance: Provenance::default(),
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: Extra::new(),
        };
        doc.voices.insert(
            line,
            LineTakes {
                active: Some(take.id),
                takes: vec![take],
            },
        );
        let mut track = Track::new("A1", TrackKind::Audio);
        track.items = vec![
            Item::Clip(Clip::new(
                "said",
                ClipSource::Dialogue { line, take: None },
                24,
            )),
            Item::Clip(Clip::new(
                "unsaid",
                ClipSource::Dialogue {
                    line: silent,
                    take: None,
                },
                24,
            )),
        ];
        doc.timeline.tracks = vec![track];
        assert_eq!(
            clip_audio(
                &doc,
                &ClipSource::Dialogue {
                    line: silent,
                    take: None
                }
            ),
            ClipAudio::NoVoiceYet
        );
        let placed = placements(&doc, 48_000);
        assert_eq!(placed.len(), 1, "the studio plays the voiced line");
        assert_eq!(placed[0].asset, ContentHash([7; 32]));
        assert_eq!(placed[0].end_sample - placed[0].start_sample, 48_000);
    }
}
