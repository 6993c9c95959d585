//! WAV in and out: RIFF/WAVE files to interleaved `f32` samples and back, and the two
//! conversions a mix needs (channel layout, sample rate). The studio's playback and the
//! animatic's mix both decode through here.
//!
//! WAV is read by hand rather than through rodio's decoder (symphonia) or `hound`: the format
//! is small, a reader of our own gives exact sample values (the mixer tests compare samples
//! bit for bit), tolerates the "unknown length" headers that recorders and pipes write
//! (`0` or `0xFFFF_FFFF` data sizes), names the exact reason a file is refused, and has no
//! path that panics on damaged input (it is property-tested on random bytes).

use std::fmt;

/// Decoded audio: interleaved samples in -1..=1 (floats may exceed it, as float WAVs can).
#[derive(Clone, PartialEq)]
pub struct Pcm {
    pub sample_rate_hz: u32,
    pub channels: u16,
    /// `frames() * channels` samples, channel-interleaved.
    pub samples: Vec<f32>,
}

impl fmt::Debug for Pcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pcm")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("channels", &self.channels)
            .field("frames", &self.frames())
            .finish()
    }
}

impl Pcm {
    /// Sample frames (one sample per channel each).
    #[must_use]
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Bytes of memory the samples take (for cache budgets).
    #[must_use]
    pub fn byte_size(&self) -> usize {
        self.samples.len() * size_of::<f32>()
    }
}

/// Why an audio file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioDecodeError {
    /// A format (or a WAV encoding) this reader does not read.
    #[error("unsupported audio format: {0}")]
    Unsupported(String),
    /// A WAV file whose structure is broken.
    #[error("damaged WAV file: {0}")]
    Damaged(String),
}

fn unsupported(what: impl Into<String>) -> AudioDecodeError {
    AudioDecodeError::Unsupported(what.into())
}

fn damaged(what: impl Into<String>) -> AudioDecodeError {
    AudioDecodeError::Damaged(what.into())
}

/// What the first bytes say a non-WAV file is, for the error message.
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [b'I', b'D', b'3', ..] | [0xFF, 0xE0..=0xFF, ..] => "MP3; convert it to WAV",
        [b'f', b'L', b'a', b'C', ..] => "FLAC; convert it to WAV",
        [b'O', b'g', b'g', b'S', ..] => "Ogg; convert it to WAV",
        [b'F', b'O', b'R', b'M', ..] => "AIFF; convert it to WAV",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "MP4/AAC; convert it to WAV",
        [0x89, b'P', b'N', b'G', ..] | [0xFF, 0xD8, ..] => "an image, not audio",
        _ => "not a WAV file (no RIFF/WAVE header)",
    }
}

/// The common WAVE format tags, named for error messages.
fn tag_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => "MS ADPCM",
        0x0006 => "A-law",
        0x0007 => "µ-law",
        0x0011 => "IMA ADPCM",
        0x0050 => "MPEG",
        0x0055 => "MP3",
        0x00FF | 0x1610 => "AAC",
        _ => "unknown encoding",
    }
}

const FORMAT_PCM: u16 = 0x0001;
const FORMAT_FLOAT: u16 = 0x0003;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// A sanity bound: WAV allows 65535 channels, nothing we play has more than this.
const MAX_CHANNELS: u16 = 64;
/// Sample rates outside this range are refused: a damaged header saying 1 Hz would otherwise
/// make resampling to the device's rate ask for tens of gigabytes.
const SAMPLE_RATES_HZ: std::ops::RangeInclusive<u32> = 1_000..=768_000;
/// At most this many decoded samples (4 GiB of `f32`: over three hours of 48 kHz stereo).
pub const MAX_SAMPLES: usize = 1 << 30;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[derive(Clone, Copy, Debug)]
enum Encoding {
    /// Unsigned 8-bit.
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::I16 => 2,
            Encoding::I24 => 3,
            Encoding::I32 | Encoding::F32 => 4,
            Encoding::F64 => 8,
        }
    }

    /// One sample from exactly `self.bytes()` little-endian bytes.
    #[allow(clippy::cast_possible_truncation)] // f64 samples narrow to f32 on purpose
    fn read(self, b: &[u8]) -> f32 {
        let sample = match (self, b) {
            (Encoding::U8, [x]) => (f32::from(*x) - 128.0) / 128.0,
            (Encoding::I16, [a, c]) => f32::from(i16::from_le_bytes([*a, *c])) / 32_768.0,
            (Encoding::I24, [a, c, d]) => {
                // Sign-extend through the top byte of an i32.
                let v = i32::from_le_bytes([0, *a, *c, *d]) >> 8;
                (f64::from(v) / 8_388_608.0) as f32
            }
            (Encoding::I32, [a, c, d, e]) => {
                (f64::from(i32::from_le_bytes([*a, *c, *d, *e])) / 2_147_483_648.0) as f32
            }
            (Encoding::F32, [a, c, d, e]) => f32::from_le_bytes([*a, *c, *d, *e]),
            (Encoding::F64, [a, c, d, e, f, g, h, i]) => {
                f64::from_le_bytes([*a, *c, *d, *e, *f, *g, *h, *i]) as f32
            }
            _ => 0.0,
        };
        // NaN and infinities would poison every mix they touch.
        if sample.is_finite() { sample } else { 0.0 }
    }
}

struct Format {
    channels: u16,
    sample_rate_hz: u32,
    encoding: Encoding,
}

fn parse_fmt(chunk: &[u8]) -> Result<Format, AudioDecodeError> {
    let (Some(mut tag), Some(channels), Some(sample_rate_hz), Some(block_align), Some(bits)) = (
        u16_at(chunk, 0),
        u16_at(chunk, 2),
        u32_at(chunk, 4),
        u16_at(chunk, 12),
        u16_at(chunk, 14),
    ) else {
        return Err(damaged("the fmt chunk is shorter than 16 bytes"));
    };
    if tag == FORMAT_EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
        tag = u16_at(chunk, 24)
            .ok_or_else(|| damaged("WAVE_FORMAT_EXTENSIBLE without its 40-byte fmt chunk"))?;
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8) => Encoding::U8,
        (FORMAT_PCM, 16) => Encoding::I16,
        (FORMAT_PCM, 24) => Encoding::I24,
        (FORMAT_PCM, 32) => Encoding::I32,
        (FORMAT_FLOAT, 32) => Encoding::F32,
        (FORMAT_FLOAT, 64) => Encoding::F64,
        (FORMAT_PCM, _) => return Err(unsupported(format!("{bits}-bit integer WAV"))),
        (FORMAT_FLOAT, _) => return Err(unsupported(format!("{bits}-bit float WAV"))),
        _ => {
            return Err(unsupported(format!(
                "WAV with {} (format tag 0x{tag:04X}); only PCM and float WAV are read",
                tag_name(tag)
            )));
        }
    };
    if channels == 0 {
        return Err(damaged("the fmt chunk says 0 channels"));
    }
    if channels > MAX_CHANNELS {
        return Err(unsupported(format!(
            "WAV with {channels} channels (at most {MAX_CHANNELS})"
        )));
    }
    if sample_rate_hz == 0 {
        return Err(damaged("the fmt chunk says a sample rate of 0 Hz"));
    }
    if !SAMPLE_RATES_HZ.contains(&sample_rate_hz) {
        return Err(unsupported(format!(
            "WAV at {sample_rate_hz} Hz (1 kHz to 768 kHz are read)"
        )));
    }
    let frame_bytes = usize::from(channels) * encoding.bytes();
    if usize::from(block_align) != frame_bytes {
        return Err(damaged(format!(
            "block align {block_align} does not match {channels} channels of {bits}-bit samples"
        )));
    }
    Ok(Format {
        channels,
        sample_rate_hz,
        encoding,
    })
}

/// Decodes a RIFF/WAVE file: 8/16/24/32-bit integer PCM and 32/64-bit float, any channel
/// count up to 64, plain or WAVE_FORMAT_EXTENSIBLE, RIFF or RF64. A data chunk that claims more
/// bytes than the file has (a recording that was never finalised) is read up to the end of the
/// file; a trailing partial frame is dropped.
pub fn decode_wav(bytes: &[u8]) -> Result<Pcm, AudioDecodeError> {
    let riff = bytes.get(0..4);
    if riff == Some(b"RIFX") {
        return Err(unsupported("big-endian WAV (RIFX)"));
    }
    if !(riff == Some(b"RIFF") || riff == Some(b"RF64")) || bytes.get(8..12) != Some(b"WAVE") {
        return Err(unsupported(sniff(bytes)));
    }
    let mut format = None;
    let mut data: Option<&[u8]> = None;
    let mut at = 12usize;
    while let (Some(id), Some(size)) = (
        bytes.get(at..at.saturating_add(4)),
        u32_at(bytes, at.saturating_add(4)),
    ) {
        // Both reads succeeding means `at + 8 <= bytes.len()`.
        let body_start = at + 8;
        let declared = usize::try_from(size).unwrap_or(usize::MAX);
        let available = bytes.len().saturating_sub(body_start);
        match id {
            b"fmt " => {
                if declared > available {
                    return Err(damaged("the fmt chunk runs past the end of the file"));
                }
                format = Some(parse_fmt(&bytes[body_start..body_start + declared])?);
            }
            b"data" => {
                // 0 and 0xFFFF_FFFF are what streaming writers put before they know the length
                // (RF64 keeps the real one in its ds64 chunk): read to the end of the file.
                let length = if declared == 0 || size == u32::MAX {
                    available
                } else {
                    declared.min(available)
                };
                data = Some(&bytes[body_start..body_start + length]);
                if format.is_some() {
                    break;
                }
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        let Some(next) = body_start
            .checked_add(declared)
            .and_then(|n| n.checked_add(declared & 1))
        else {
            break;
        };
        at = next;
    }
    let format = format.ok_or_else(|| damaged("no fmt chunk"))?;
    let data = data.ok_or_else(|| damaged("no data chunk"))?;
    let width = format.encoding.bytes();
    let frame_bytes = width * usize::from(format.channels);
    let whole = data.len() - data.len() % frame_bytes;
    if whole / width > MAX_SAMPLES {
        return Err(unsupported("WAV longer than three hours at 48 kHz stereo"));
    }
    let samples = data[..whole]
        .chunks_exact(width)
        .map(|b| format.encoding.read(b))
        .collect();
    Ok(Pcm {
        sample_rate_hz: format.sample_rate_hz,
        channels: format.channels,
        samples,
    })
}

/// Writes 16-bit PCM WAV bytes (for tests, fixtures and exports of short previews).
#[must_use]
pub fn encode_wav_i16(sample_rate_hz: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate_hz.to_le_bytes());
    let block = channels.saturating_mul(2);
    out.extend_from_slice(
        &sample_rate_hz
            .saturating_mul(u32::from(block))
            .to_le_bytes(),
    );
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Writes 32-bit float WAV bytes (format tag 3).
#[must_use]
pub fn encode_wav_f32(sample_rate_hz: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 4).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(46 + samples.len() * 4);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(38).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_FLOAT.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate_hz.to_le_bytes());
    let block = channels.saturating_mul(4);
    out.extend_from_slice(
        &sample_rate_hz
            .saturating_mul(u32::from(block))
            .to_le_bytes(),
    );
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The same audio with `channels` channels: mono goes to every channel, many to one is their
/// average, otherwise channel `c` comes from source channel `c` (silence where there is none).
#[must_use]
pub fn remix(pcm: &Pcm, channels: u16) -> Pcm {
    let from = usize::from(pcm.channels.max(1));
    let to = usize::from(channels.max(1));
    if from == to {
        return pcm.clone();
    }
    let frames = pcm.frames();
    let mut samples = Vec::with_capacity(frames * to);
    #[allow(clippy::cast_precision_loss)] // at most 64 channels
    let scale = 1.0 / from as f32;
    for frame in pcm.samples.chunks_exact(from) {
        if to == 1 {
            samples.push(frame.iter().sum::<f32>() * scale);
        } else if from == 1 {
            samples.extend(std::iter::repeat_n(frame[0], to));
        } else {
            samples.extend((0..to).map(|c| frame.get(c).copied().unwrap_or(0.0)));
        }
    }
    Pcm {
        sample_rate_hz: pcm.sample_rate_hz,
        channels: channels.max(1),
        samples,
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zero crossings of the sinc kernel on each side of the centre (at the passband's rate).
const KERNEL_HALF_WIDTH: usize = 16;
/// At most this many kernel phases are tabulated; ratios needing more round the phase.
const MAX_PHASES: u64 = 2048;

/// The dot product of two equally long slices, written as a plain loop over pairs of four:
/// workspace crates are built without optimisation in dev builds, where iterator chains cost a
/// call per element.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0.0f32; 4];
    let mut k = 0;
    while k + 4 <= n {
        sums[0] += a[k] * b[k];
        sums[1] += a[k + 1] * b[k + 1];
        sums[2] += a[k + 2] * b[k + 2];
        sums[3] += a[k + 3] * b[k + 3];
        k += 4;
    }
    while k < n {
        sums[0] += a[k] * b[k];
        k += 1;
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3])
}

/// How many samples [`resample`] would make of `pcm` at `to_hz` (to refuse absurd requests
/// before allocating them).
#[must_use]
pub fn resampled_len(pcm: &Pcm, to_hz: u32) -> u64 {
    if pcm.sample_rate_hz == 0 {
        return 0;
    }
    (pcm.frames() as u64)
        .saturating_mul(u64::from(to_hz))
        .div_ceil(u64::from(pcm.sample_rate_hz))
        .saturating_mul(u64::from(pcm.channels.max(1)))
}

/// The same audio at `to_hz`, by band-limited (windowed-sinc) interpolation: a Blackman-windowed
/// sinc with 16 zero crossings a side, its cut-off lowered when downsampling so nothing aliases.
/// Phases are exact for rate pairs whose reduced ratio has at most 2048 steps (44.1 ↔ 48 kHz,
/// 22.05 / 24 / 16 kHz → 48 kHz all do). `check` is called between blocks and may stop the
/// work (a cancelled job).
pub fn resample<E>(
    pcm: &Pcm,
    to_hz: u32,
    mut check: impl FnMut() -> Result<(), E>,
) -> Result<Pcm, E> {
    let from_hz = pcm.sample_rate_hz;
    if from_hz == to_hz || from_hz == 0 || to_hz == 0 {
        return Ok(pcm.clone());
    }
    let channels = usize::from(pcm.channels.max(1));
    let in_frames = pcm.frames();
    let g = gcd(u64::from(from_hz), u64::from(to_hz));
    // Output frame n sits at input position n * step / up.
    let up = u64::from(to_hz) / g;
    let step = u64::from(from_hz) / g;
    let phases = up.min(MAX_PHASES);
    // Passband as a fraction of the input's Nyquist.
    let cutoff = (f64::from(to_hz) / f64::from(from_hz)).min(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
    let half = ((KERNEL_HALF_WIDTH as f64 / cutoff).ceil() as usize).max(1);
    let taps = 2 * half;
    // table[p * taps + j] weighs input sample (i0 + 1 - half + j) for phase p.
    #[allow(clippy::cast_possible_truncation)] // at most 2048 phases
    let table: Vec<f32> = (0..phases)
        .flat_map(|p| {
            #[allow(clippy::cast_precision_loss)]
            let frac = p as f64 / phases as f64;
            (0..taps).map(move |j| {
                #[allow(clippy::cast_precision_loss)]
                let t = (j as f64 + 1.0 - half as f64) - frac;
                let x = std::f64::consts::PI * t * cutoff;
                let sinc = if x.abs() < 1e-12 { 1.0 } else { x.sin() / x };
                #[allow(clippy::cast_precision_loss)]
                let w = t / (half as f64); // -1..=1 across the window
                let window = if w.abs() >= 1.0 {
                    0.0
                } else {
                    let a = std::f64::consts::PI * (w + 1.0);
                    0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos()
                };
                (cutoff * sinc * window) as f32
            })
        })
        .collect();
    let out_frames_u64 = (in_frames as u64).saturating_mul(up).div_ceil(step);
    let out_frames = usize::try_from(out_frames_u64).unwrap_or(usize::MAX);
    // Each channel on its own, zero-padded so every output's window of taps is in range:
    // input sample i sits at padded[half - 1 + i], so the window of output frame n starts
    // at its i0.
    let planar: Vec<Vec<f32>> = (0..channels)
        .map(|c| {
            let mut padded = vec![0.0f32; half.saturating_sub(1)];
            padded.extend(pcm.samples.iter().skip(c).step_by(channels));
            padded.resize(padded.len() + taps + 1, 0.0);
            padded
        })
        .collect();
    let mut samples = vec![0.0f32; out_frames.saturating_mul(channels)];
    for (n, frame) in samples.chunks_exact_mut(channels).enumerate() {
        if n % 65_536 == 0 {
            check()?;
        }
        let position = n as u64 * step;
        let i0 = usize::try_from(position / up).unwrap_or(usize::MAX);
        let p = usize::try_from((position % up) * phases / up).unwrap_or(0);
        let kernel = table.get(p * taps..(p + 1) * taps).unwrap_or(&[]);
        for (out, input) in frame.iter_mut().zip(&planar) {
            let window = input.get(i0..i0.saturating_add(taps)).unwrap_or(&[]);
            *out = dot(window, kernel);
        }
    }
    Ok(Pcm {
        sample_rate_hz: to_hz,
        channels: pcm.channels.max(1),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_wav(&bytes);
            let mut riff = b"RIFF\0\0\0\0WAVE".to_vec();
            riff.extend_from_slice(&bytes);
            let _ = decode_wav(&riff);
        }

        #[test]
        fn damaged_wavs_never_panic(
            edits in proptest::collection::vec((0usize..120, any::<u8>()), 1..8),
            cut in 0usize..140,
            float in any::<bool>(),
        ) {
            let mut bytes = if float {
                encode_wav_f32(48_000, 2, &[0.5; 24])
            } else {
                encode_wav_i16(48_000, 2, &[1_000; 48])
            };
            for (at, value) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            bytes.truncate(cut);
            if let Ok(pcm) = decode_wav(&bytes) {
                prop_assert!(pcm.channels > 0 && pcm.sample_rate_hz > 0);
                prop_assert_eq!(pcm.samples.len() % usize::from(pcm.channels), 0);
                prop_assert!(pcm.samples.iter().all(|s| s.is_finite()));
            }
        }
    }

    fn never() -> Result<(), ()> {
        Ok(())
    }

    #[test]
    fn reads_16_bit_stereo_exactly() {
        let bytes = encode_wav_i16(48_000, 2, &[0, 16_384, -32_768, 32_767]);
        let pcm = decode_wav(&bytes).unwrap();
        assert_eq!(
            (pcm.sample_rate_hz, pcm.channels, pcm.frames()),
            (48_000, 2, 2)
        );
        assert_eq!(pcm.samples, vec![0.0, 0.5, -1.0, 32_767.0 / 32_768.0]);
    }

    #[test]
    fn reads_float_and_sanitises_non_finite_samples() {
        let bytes = encode_wav_f32(22_050, 1, &[0.25, -0.75, f32::NAN, 1.5]);
        let pcm = decode_wav(&bytes).unwrap();
        assert_eq!(pcm.samples, vec![0.25, -0.75, 0.0, 1.5]);
    }

    #[test]
    fn reads_24_bit_extensible() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        bytes.extend_from_slice(&40u32.to_le_bytes());
        bytes.extend_from_slice(&FORMAT_EXTENSIBLE.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&44_100u32.to_le_bytes());
        bytes.extend_from_slice(&(44_100u32 * 3).to_le_bytes());
        bytes.extend_from_slice(&3u16.to_le_bytes());
        bytes.extend_from_slice(&24u16.to_le_bytes());
        bytes.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        bytes.extend_from_slice(&24u16.to_le_bytes()); // valid bits
        bytes.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        bytes.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        bytes.extend_from_slice(&[0; 14]); // rest of the GUID
        bytes.extend_from_slice(b"LIST");
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(b"abc\0"); // odd chunk, padded
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // streamed: length unknown
        bytes.extend_from_slice(&[0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F, 0x01]); // + partial frame
        let pcm = decode_wav(&bytes).unwrap();
        assert_eq!(pcm.samples, vec![-1.0, 8_388_607.0 / 8_388_608.0]);
    }

    #[test]
    fn refuses_other_formats_by_name() {
        let err = decode_wav(b"ID3\x04\0\0\0\0\0\0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported audio format: MP3; convert it to WAV"
        );
        assert!(
            decode_wav(b"fLaC\0\0\0\x22")
                .unwrap_err()
                .to_string()
                .contains("FLAC")
        );
        let mut adpcm = encode_wav_i16(8_000, 1, &[0; 4]);
        adpcm[20] = 0x11;
        let err = decode_wav(&adpcm).unwrap_err().to_string();
        assert!(
            err.starts_with("unsupported audio format: WAV with IMA ADPCM"),
            "{err}"
        );
        assert!(matches!(
            decode_wav(b""),
            Err(AudioDecodeError::Unsupported(_))
        ));
        let err = decode_wav(&encode_wav_i16(1, 1, &[0; 4]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unsupported audio format: WAV at 1 Hz (1 kHz to 768 kHz are read)"
        );
        let truncated = &encode_wav_i16(8_000, 1, &[0; 4])[..30];
        assert!(matches!(
            decode_wav(truncated),
            Err(AudioDecodeError::Damaged(_))
        ));
    }

    #[test]
    fn remix_mono_stereo() {
        let mono = Pcm {
            sample_rate_hz: 8,
            channels: 1,
            samples: vec![0.5, -0.5],
        };
        let stereo = remix(&mono, 2);
        assert_eq!(stereo.samples, vec![0.5, 0.5, -0.5, -0.5]);
        let back = remix(
            &Pcm {
                samples: vec![1.0, 0.0, 0.5, 0.5],
                ..stereo
            },
            1,
        );
        assert_eq!(back.samples, vec![0.5, 0.5]);
    }

    fn sine(rate: u32, hz: f64, frames: usize) -> Pcm {
        Pcm {
            sample_rate_hz: rate,
            channels: 1,
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            samples: (0..frames)
                .map(|i| {
                    (0.5 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as f32
                })
                .collect(),
        }
    }

    #[test]
    fn resampling_keeps_a_tone_and_its_length() {
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (22_050, 48_000),
            (48_000, 16_000),
        ] {
            let input = sine(from, 440.0, from as usize / 2);
            let output = resample(&input, to, never).unwrap();
            assert_eq!(output.sample_rate_hz, to);
            assert_eq!(output.frames(), (to as usize / 2));
            let expected = sine(to, 440.0, to as usize / 2);
            // Away from the edges (where the kernel runs off the input) the tone is intact.
            let margin = 64;
            let worst = output.samples[margin..output.frames() - margin]
                .iter()
                .zip(&expected.samples[margin..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 2e-3, "{from} -> {to}: error {worst}");
        }
    }

    #[test]
    fn resampling_removes_what_the_new_rate_cannot_hold() {
        // 20 kHz at 48 kHz cannot exist at 16 kHz (Nyquist 8 kHz): it must not alias down.
        let input = sine(48_000, 20_000.0, 48_000);
        let output = resample(&input, 16_000, never).unwrap();
        let rms = (output.samples[200..15_800]
            .iter()
            .map(|s| s * s)
            .sum::<f32>()
            / 15_600.0)
            .sqrt();
        assert!(rms < 0.01, "aliasing left {rms} RMS");
    }
}
