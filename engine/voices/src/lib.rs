//! Dialogue to audio (issue #5).
//!
//! Every speaking character is cast a voice (kept in the character bible: voice, speaker,
//! speed, pitch); every line of dialogue becomes a WAV take at the project's audio rate, stored
//! content-addressed with its provenance (voice, model hash, seed, the words spoken); and the
//! edit is re-timed to the *measured* length of each take: the line's clip takes the take's
//! length, the shot across it stretches, everything after it moves. All of it lands as one
//! undoable batch.
//!
//! * [`delivery`]: parentheticals to delivery (whispering, shouting, beats).
//! * [`engine`]: the voices on this machine (Piper, espeak-ng, silent timing) and rendering.
//! * [`audio`]: resampling, levels, WAV.
//! * [`catalogue`]: what can be cast here, and previewing a casting.
//! * [`run`]: the job over a project: casting, takes, re-timing, progress, cancellation.

pub mod audio;
pub mod catalogue;
pub mod delivery;
pub mod engine;
pub mod run;

pub use catalogue::{Catalogue, VoiceFamily, VoiceOption, preview};
pub use engine::{EngineKind, Rendered, VoiceBank};
pub use run::{
    LineOutcome, LineStatus, VoicesOptions, VoicesSummary, casting_commands, line_inputs,
    line_seed, line_up_to_date, retime_command, run_voices,
};

/// What can go wrong voicing dialogue, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum VoicesError {
    #[error(
        "espeak-ng is not installed: neural voices need its phonemes and its own voices need the program; install it (Debian: apt install espeak-ng), or cast the characters as 'silent' for timing only"
    )]
    NoEspeak,
    #[error("voice: {0}")]
    Voice(String),
    #[error("audio: {0}")]
    Audio(String),
    #[error("asset store: {0}")]
    Store(String),
    #[error("the edit refused the voices: {0}")]
    Edit(String),
}
