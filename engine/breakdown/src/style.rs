//! The look every storyboard frame is drawn in: core's [`Style`](previz_core::Style) (a named
//! preset or the user's own words, in the project settings); its text ends every image prompt.

pub use previz_core::Style as StylePreset;
