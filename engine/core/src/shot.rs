//! Shots, their takes, and the content-addressed assets takes point at.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Extra;
use crate::ids::{LineId, SceneId, ShotId, TakeId};
use crate::time::{Rate, RationalTime};

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in a sensible menu order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case name used in files and on the command line.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let key = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == key)
                    .ok_or_else(|| format!(
                        "'{s}' is not a {}; expected one of: {}",
                        stringify!($name),
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    ))
            }
        }
    };
}

vocabulary!(
    /// How much of the subject the frame holds.
    ShotSize {
        ExtremeWide => "extreme_wide",
        Wide => "wide",
        Full => "full",
        MediumWide => "medium_wide",
        Medium => "medium",
        MediumCloseUp => "medium_close_up",
        CloseUp => "close_up",
        ExtremeCloseUp => "extreme_close_up",
        Insert => "insert",
    }
);

vocabulary!(
    /// Where the camera looks from.
    CameraAngle {
        EyeLevel => "eye_level",
        High => "high",
        Low => "low",
        Overhead => "overhead",
        WormsEye => "worms_eye",
        Dutch => "dutch",
        OverTheShoulder => "over_the_shoulder",
        Pov => "pov",
    }
);

vocabulary!(
    /// How the camera moves during the shot.
    CameraMovement {
        Static => "static",
        Pan => "pan",
        Tilt => "tilt",
        Zoom => "zoom",
        DollyIn => "dolly_in",
        DollyOut => "dolly_out",
        Tracking => "tracking",
        Truck => "truck",
        Pedestal => "pedestal",
        Crane => "crane",
        Handheld => "handheld",
        Steadicam => "steadicam",
        Drone => "drone",
    }
);

/// A planned shot of a scene.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    pub id: ShotId,
    pub scene: SceneId,
    /// A locked shot number (`12A`) once the list is published; otherwise derived from order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ShotSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angle: Option<CameraAngle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement: Option<CameraMovement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lens_mm: Option<f32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// The speeches this shot covers, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogue: Vec<LineId>,
    pub duration: RationalTime,
    /// The image prompt for storyboard frames.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub negative_prompt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub takes: Vec<Take>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_take: Option<TakeId>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Shot {
    /// An empty shot of a scene lasting `duration`.
    #[must_use]
    pub fn new(scene: SceneId, duration: RationalTime) -> Self {
        Self {
            id: ShotId::new(),
            scene,
            label: None,
            size: None,
            angle: None,
            movement: None,
            lens_mm: None,
            subject: String::new(),
            action: String::new(),
            dialogue: Vec::new(),
            duration,
            prompt: String::new(),
            negative_prompt: String::new(),
            notes: String::new(),
            takes: Vec::new(),
            active_take: None,
            extra: Extra::new(),
        }
    }

    /// The take shown for this shot.
    #[must_use]
    pub fn active(&self) -> Option<&Take> {
        let id = self.active_take?;
        self.takes.iter().find(|t| t.id == id)
    }

    /// Reads one editable field.
    #[must_use]
    pub fn field(&self, kind: ShotFieldKind) -> ShotField {
        match kind {
            ShotFieldKind::Label => ShotField::Label(self.label.clone()),
            ShotFieldKind::Size => ShotField::Size(self.size),
            ShotFieldKind::Angle => ShotField::Angle(self.angle),
            ShotFieldKind::Movement => ShotField::Movement(self.movement),
            ShotFieldKind::LensMm => ShotField::LensMm(self.lens_mm),
            ShotFieldKind::Subject => ShotField::Subject(self.subject.clone()),
            ShotFieldKind::Action => ShotField::Action(self.action.clone()),
            ShotFieldKind::Dialogue => ShotField::Dialogue(self.dialogue.clone()),
            ShotFieldKind::Duration => ShotField::Duration(self.duration),
            ShotFieldKind::Prompt => ShotField::Prompt(self.prompt.clone()),
            ShotFieldKind::NegativePrompt => {
                ShotField::NegativePrompt(self.negative_prompt.clone())
            }
            ShotFieldKind::Notes => ShotField::Notes(self.notes.clone()),
            ShotFieldKind::Scene => ShotField::Scene(self.scene),
        }
    }

    /// Writes one editable field and returns the previous value.
    pub fn set_field(&mut self, field: ShotField) -> ShotField {
        let old = self.field(field.kind());
        match field {
            ShotField::Label(v) => self.label = v,
            ShotField::Size(v) => self.size = v,
            ShotField::Angle(v) => self.angle = v,
            ShotField::Movement(v) => self.movement = v,
            ShotField::LensMm(v) => self.lens_mm = v,
            ShotField::Subject(v) => self.subject = v,
            ShotField::Action(v) => self.action = v,
            ShotField::Dialogue(v) => self.dialogue = v,
            ShotField::Duration(v) => self.duration = v,
            ShotField::Prompt(v) => self.prompt = v,
            ShotField::NegativePrompt(v) => self.negative_prompt = v,
            ShotField::Notes(v) => self.notes = v,
            ShotField::Scene(v) => self.scene = v,
        }
        old
    }
}

/// One editable field of a shot with its new value (what the shot list's cells edit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum ShotField {
    Label(Option<String>),
    Size(Option<ShotSize>),
    Angle(Option<CameraAngle>),
    Movement(Option<CameraMovement>),
    LensMm(Option<f32>),
    Subject(String),
    Action(String),
    Dialogue(Vec<LineId>),
    Duration(RationalTime),
    Prompt(String),
    NegativePrompt(String),
    Notes(String),
    Scene(SceneId),
}

/// Which field a [`ShotField`] edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShotFieldKind {
    Label,
    Size,
    Angle,
    Movement,
    LensMm,
    Subject,
    Action,
    Dialogue,
    Duration,
    Prompt,
    NegativePrompt,
    Notes,
    Scene,
}

impl ShotFieldKind {
    /// The field's name as people read it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ShotFieldKind::Label => "shot number",
            ShotFieldKind::Size => "size",
            ShotFieldKind::Angle => "angle",
            ShotFieldKind::Movement => "movement",
            ShotFieldKind::LensMm => "lens",
            ShotFieldKind::Subject => "subject",
            ShotFieldKind::Action => "action",
            ShotFieldKind::Dialogue => "dialogue",
            ShotFieldKind::Duration => "duration",
            ShotFieldKind::Prompt => "prompt",
            ShotFieldKind::NegativePrompt => "negative prompt",
            ShotFieldKind::Notes => "notes",
            ShotFieldKind::Scene => "scene",
        }
    }
}

impl ShotField {
    #[must_use]
    pub fn kind(&self) -> ShotFieldKind {
        match self {
            ShotField::Label(_) => ShotFieldKind::Label,
            ShotField::Size(_) => ShotFieldKind::Size,
            ShotField::Angle(_) => ShotFieldKind::Angle,
            ShotField::Movement(_) => ShotFieldKind::Movement,
            ShotField::LensMm(_) => ShotFieldKind::LensMm,
            ShotField::Subject(_) => ShotFieldKind::Subject,
            ShotField::Action(_) => ShotFieldKind::Action,
            ShotField::Dialogue(_) => ShotFieldKind::Dialogue,
            ShotField::Duration(_) => ShotFieldKind::Duration,
            ShotField::Prompt(_) => ShotFieldKind::Prompt,
            ShotField::NegativePrompt(_) => ShotFieldKind::NegativePrompt,
            ShotField::Notes(_) => ShotFieldKind::Notes,
            ShotField::Scene(_) => ShotFieldKind::Scene,
        }
    }
}

/// What made a take, so it can be reproduced and audited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `diffusion`, `tts`, `import`, `plugin`...
    pub generator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// blake3 of the model file(s), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub negative_prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The original file name, for imported media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One version of a shot's picture (or of a line's voice).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Take {
    pub id: TakeId,
    pub asset: ContentHash,
    pub provenance: Provenance,
    pub created: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The voice takes of one line of dialogue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LineTakes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub takes: Vec<Take>,
    /// The take the animatic plays (clips with no pinned take follow it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<TakeId>,
}

impl LineTakes {
    /// The take played for this line.
    #[must_use]
    pub fn active(&self) -> Option<&Take> {
        let id = self.active?;
        self.takes.iter().find(|t| t.id == id)
    }
}

/// A blake3 content hash: the address of an asset in the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

const HASH_PREFIX: &str = "blake3:";

impl ContentHash {
    /// Lower-case hex of the 32 bytes.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{}", self.to_hex())
    }
}

impl FromStr for ContentHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix(HASH_PREFIX).unwrap_or(s);
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(format!(
                "'{s}' is not a content hash; expected {HASH_PREFIX} and 64 hex digits"
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("'{s}' has a character that is not a hex digit"))?;
        }
        Ok(Self(out))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of media an asset holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Image,
    Audio,
    Video,
    Other,
}

/// What is known about an asset's media.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// MIME type (`image/png`, `audio/wav`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate_hz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<RationalTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<Rate>,
}

/// A piece of media in the content-addressed store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub hash: ContentHash,
    pub kind: AssetKind,
    pub media: MediaInfo,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_parse_leniently_and_reject_with_the_choices() {
        assert_eq!("Close-Up".parse::<ShotSize>().unwrap(), ShotSize::CloseUp);
        assert_eq!(
            "dolly in".parse::<CameraMovement>().unwrap(),
            CameraMovement::DollyIn
        );
        let err = "giant".parse::<ShotSize>().unwrap_err();
        assert!(
            err.contains("extreme_wide") && err.contains("giant"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&CameraAngle::WormsEye).unwrap(),
            "\"worms_eye\""
        );
    }

    #[test]
    fn content_hash_round_trips_and_rejects_garbage() {
        let h = ContentHash([0xab; 32]);
        let text = h.to_string();
        assert!(text.starts_with("blake3:abab"));
        assert_eq!(text.parse::<ContentHash>().unwrap(), h);
        assert_eq!(
            serde_json::from_str::<ContentHash>(&serde_json::to_string(&h).unwrap()).unwrap(),
            h
        );
        assert!("blake3:12".parse::<ContentHash>().is_err());
        assert!(
            format!("blake3:{}", "zz".repeat(32))
                .parse::<ContentHash>()
                .is_err()
        );
        assert!(
            format!("blake3:{}", "é".repeat(32))
                .parse::<ContentHash>()
                .is_err()
        );
    }

    #[test]
    fn set_field_returns_the_old_value() {
        let mut shot = Shot::new(SceneId::new(), RationalTime::new(48, Rate::FPS_24));
        let old = shot.set_field(ShotField::Prompt("a lighthouse at dusk".into()));
        assert_eq!(old, ShotField::Prompt(String::new()));
        assert_eq!(
            shot.field(ShotFieldKind::Prompt),
            ShotField::Prompt("a lighthouse at dusk".into())
        );
        let json = serde_json::to_value(ShotField::LensMm(Some(35.0))).unwrap();
        assert_eq!(json, serde_json::json!({"field": "lens_mm", "value": 35.0}));
    }
}
