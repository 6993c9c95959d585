//! Storyboard frames for shots.
//!
//! * [`sketch`]: the built-in storyboard sketch, drawn from a shot's fields alone (size,
//!   angle, movement, lens, who is in frame, the action, the scene heading). It is the frame
//!   every shot has when no diffusion model is installed, and it never fails.

//! * [`prompt`]: a shot's prompt from the style, the character bible and its fields.
//! * [`run`]: the job over a project: takes, provenance, progress with previews, cancellation.

pub mod prompt;
pub mod run;
pub mod sketch;

pub use prompt::{ShotPrompt, shot_prompt};
pub use run::{
    DiffusionEngine, FrameEngine, FramesError, FramesOptions, FramesSummary, ShotOutcome,
    StepProgress, frame_inputs, frame_up_to_date, generation_size, parse_lora, run_frames,
};
pub use sketch::{SketchInput, draw_sketch};
