//! Storyboard frames for shots.
//!
//! * [`sketch`]: the built-in storyboard sketch, drawn from a shot's fields alone (size,
//!   angle, movement, lens, who is in frame, the action, the scene heading). It is the frame
//!   every shot has when no diffusion model is installed, and it never fails.

pub mod sketch;

pub use sketch::{SketchInput, draw_sketch};
