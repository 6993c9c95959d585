//! Sound for every consumer: the studio's playback and the animatic's mix.
//!
//! * [`wav`]: WAV to samples and back, channel remix, band-limited resampling;
//! * [`mix`]: where the audio clips of a timeline fall in samples, and the mixer that sums
//!   them (sample-exact, with an optional gain and fades per clip).

pub mod mix;
pub mod wav;

pub use mix::{
    ClipAudio, Envelope, MixClip, Placement, clip_audio, mix_clip_into, mix_into, placements,
};
pub use wav::{
    AudioDecodeError, MAX_SAMPLES, Pcm, decode_wav, encode_wav_f32, encode_wav_i16, remix,
    resample, resampled_len,
};
