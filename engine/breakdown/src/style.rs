//! The look every storyboard frame is drawn in: a named preset or the user's own words.
//!
//! Until core's `Settings` carries the style (see the report of issue #4), it is read from the
//! project settings' unknown-field map under `"style"`: a preset name or `{"custom": "..."}`.

use previz_core::Project;
use serde::{Deserialize, Serialize};

/// A style preset; its text is appended to every image prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StylePreset {
    #[default]
    PencilStoryboard,
    InkAndWash,
    CinematicColour,
    Noir,
    Custom(String),
}

impl StylePreset {
    /// The named presets, in menu order.
    pub const NAMED: [StylePreset; 4] = [
        StylePreset::PencilStoryboard,
        StylePreset::InkAndWash,
        StylePreset::CinematicColour,
        StylePreset::Noir,
    ];

    /// What is added to every image prompt.
    #[must_use]
    pub fn prompt_text(&self) -> &str {
        match self {
            StylePreset::PencilStoryboard => {
                "pencil storyboard sketch, loose graphite lines, grey shading"
            }
            StylePreset::InkAndWash => "ink and wash storyboard, bold brush lines, grey washes",
            StylePreset::CinematicColour => {
                "cinematic colour frame, film still, natural light, 35mm film"
            }
            StylePreset::Noir => "film noir, high-contrast black and white, hard shadows",
            StylePreset::Custom(text) => text.trim(),
        }
    }

    /// The project's style (the default when none is set or it cannot be read).
    #[must_use]
    pub fn of(project: &Project) -> Self {
        project
            .settings
            .extra
            .get("style")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_reads_from_the_project_and_defaults_to_pencil() {
        let mut project = Project::new("t");
        assert_eq!(StylePreset::of(&project), StylePreset::PencilStoryboard);
        project
            .settings
            .extra
            .insert("style".into(), serde_json::json!("noir"));
        assert_eq!(StylePreset::of(&project), StylePreset::Noir);
        project
            .settings
            .extra
            .insert("style".into(), serde_json::json!({"custom": "crayon"}));
        assert_eq!(StylePreset::of(&project).prompt_text(), "crayon");
    }
}
