//! Audio decoding for the studio: WAV to interleaved `f32` samples, and the conversions playback
//! needs (channel layout, sample rate). The engine's ([`previz_render::audio::wav`]), shared with
//! the animatic export; re-exported here so the studio's media code reads as before.

pub use previz_render::audio::wav::{
    AudioDecodeError, MAX_SAMPLES, Pcm, decode_wav, encode_wav_f32, encode_wav_i16, remix,
    resample, resampled_len,
};
