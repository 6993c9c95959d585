//! How a parenthetical changes the delivery of the line after it.
//!
//! | parenthetical (any of these words)                              | speed | pitch | level | voice noise |
//! |-----------------------------------------------------------------|-------|-------|-------|-------------|
//! | whisper(s/ing), quietly, softly, hushed, under … breath, sotto   | 0.92× | −1 st | 0.35  | 0.4 (steadier) |
//! | shout(s/ing), yell(s/ing), scream(s/ing), angr(y/ily), furious  | 1.08× | +2 st | 1.0   | voice's own |
//! | sad(ly), tearful, crying, choked, quiet grief                    | 0.88× | −1.5 st | 0.7 | voice's own |
//! | quick(ly), fast, rapid(ly), rushed, excited(ly), nervous(ly)     | 1.15× | +0.5 st | 0.85 | voice's own |
//! | slow(ly), deliberate(ly), tired, weary, drunk(enly)              | 0.85× | −0.5 st | 0.8 | voice's own |
//! | laugh(s/ing), amused                                             | 1.05× | +1 st | 0.9   | voice's own |
//!
//! Anything else keeps the voice's own delivery (level 0.8 of full scale). `(beat)` and
//! `(pause)` between two lines of one speech become silence: a beat 0.5 s, a pause 0.8 s, a
//! long pause 1.5 s. Level is the peak level of the take, so a whisper plays quieter than the
//! lines around it whatever the voice's own loudness.

use previz_core::script::{DialogueBlock, DialoguePart};

/// How one stretch of a speech is spoken.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Speaking-rate multiplier.
    pub speed: f32,
    /// Pitch shift in semitones.
    pub pitch: f32,
    /// Peak level, 0..1 of full scale.
    pub level: f32,
    /// Override of the voice's noise scale.
    pub noise_scale: Option<f32>,
    /// The parenthetical it came from (empty for plain delivery).
    pub label: String,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            speed: 1.0,
            pitch: 0.0,
            level: 0.8,
            noise_scale: None,
            label: String::new(),
        }
    }
}

/// A speech as the voice will say it.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Say { text: String, delivery: Delivery },
    Silence { seconds: f32 },
}

fn has_any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// The delivery a parenthetical asks for.
#[must_use]
pub fn delivery_for(parenthetical: &str) -> Delivery {
    let t = parenthetical.to_lowercase();
    let label = parenthetical.trim().to_string();
    let d = |speed, pitch, level, noise_scale| Delivery {
        speed,
        pitch,
        level,
        noise_scale,
        label: label.clone(),
    };
    if has_any(
        &t,
        &["whisper", "quietly", "softly", "hushed", "breath", "sotto"],
    ) {
        d(0.92, -1.0, 0.35, Some(0.4))
    } else if has_any(&t, &["shout", "yell", "scream", "angr", "furious"]) {
        d(1.08, 2.0, 1.0, None)
    } else if has_any(&t, &["sad", "tearful", "crying", "choked", "grief"]) {
        d(0.88, -1.5, 0.7, None)
    } else if has_any(
        &t,
        &["quick", "fast", "rapid", "rushed", "excited", "nervous"],
    ) {
        d(1.15, 0.5, 0.85, None)
    } else if has_any(&t, &["slow", "deliberate", "tired", "weary", "drunk"]) {
        d(0.85, -0.5, 0.8, None)
    } else if has_any(&t, &["laugh", "amused"]) {
        d(1.05, 1.0, 0.9, None)
    } else {
        Delivery {
            label,
            ..Delivery::default()
        }
    }
}

/// A pause parenthetical's length in seconds, if it is one.
#[must_use]
pub fn pause_for(parenthetical: &str) -> Option<f32> {
    let t = parenthetical.to_lowercase();
    if t.contains("long pause") || t.contains("long beat") {
        Some(1.5)
    } else if t.contains("pause") {
        Some(0.8)
    } else if t.contains("beat") {
        Some(0.5)
    } else {
        None
    }
}

/// A speech's segments: each spoken part with the delivery of the parenthetical before it;
/// pauses between parts become silence.
#[must_use]
pub fn segments(block: &DialogueBlock) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut pending = Delivery::default();
    for part in &block.parts {
        match part {
            DialoguePart::Parenthetical(p) => {
                if let Some(seconds) = pause_for(&p.text) {
                    if !out.is_empty() {
                        out.push(Segment::Silence { seconds });
                    }
                } else {
                    pending = delivery_for(&p.text);
                }
            }
            DialoguePart::Line(t) | DialoguePart::Lyrics(t) => {
                let text = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
                if !text.is_empty() {
                    out.push(Segment::Say {
                        text,
                        delivery: pending.clone(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parentheticals_map_to_deliveries() {
        assert!(delivery_for("(whispering)").level < 0.5);
        assert!(delivery_for("(shouting)").pitch > 0.0);
        assert!(delivery_for("(under her breath)").noise_scale.is_some());
        assert_eq!(delivery_for("(to Otto)").speed, 1.0);
        assert_eq!(pause_for("(beat)"), Some(0.5));
        assert_eq!(pause_for("(long pause)"), Some(1.5));
        assert_eq!(pause_for("(smiling)"), None);
    }
}
