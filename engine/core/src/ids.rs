//! Stable, typed identifiers.
//!
//! Every object a user can point at (a scene, a line of dialogue, a shot, a take, a clip...) has
//! an id that never changes for the object's lifetime: re-importing a revised draft, reordering
//! shots or moving clips keeps them. Ids are random (UUID v4) so that several processes (the
//! studio, farm workers, plugins) can mint them without coordination.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// A deterministic id, for fixtures and tests.
            #[must_use]
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }

            /// The short form people see in logs and the CLI: a prefix and the first 8 hex digits.
            #[must_use]
            pub fn short(&self) -> String {
                let hex = self.0.simple().to_string();
                format!("{}-{}", $prefix, &hex[..8])
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// A project (survives renames and moves of the project folder).
    ProjectId,
    "project"
);
typed_id!(
    /// A scene of the script.
    SceneId,
    "scene"
);
typed_id!(
    /// One speech of dialogue (a character cue with its parentheticals and lines).
    LineId,
    "line"
);
typed_id!(
    /// A character of the script.
    CharacterId,
    "char"
);
typed_id!(
    /// A location of the script.
    LocationId,
    "loc"
);
typed_id!(
    /// A planned shot.
    ShotId,
    "shot"
);
typed_id!(
    /// One generated or imported take of a shot.
    TakeId,
    "take"
);
typed_id!(
    /// A timeline.
    TimelineId,
    "timeline"
);
typed_id!(
    /// A track of a timeline.
    TrackId,
    "track"
);
typed_id!(
    /// A clip or a gap on a track.
    ItemId,
    "item"
);
typed_id!(
    /// A timeline marker.
    MarkerId,
    "marker"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_json_and_text() {
        let id = ShotId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: ShotId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string().parse::<ShotId>().unwrap(), id);
        assert!(id.short().starts_with("shot-"));
        assert_ne!(ShotId::new(), ShotId::new());
    }
}
