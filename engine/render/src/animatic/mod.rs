//! Composed frames, the audio mix and the encode (see the crate docs).
