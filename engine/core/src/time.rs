//! Rational time, as in OpenTimelineIO: integer counts at an exact rate, never float seconds.
//!
//! A [`Rate`] is an exact fraction (`24/1`, `24000/1001`, `48000/1`). A [`RationalTime`] is an
//! integer number of units at a rate. Conversions between rates are exact rational arithmetic
//! with an explicit rounding rule, so a 3-hour animatic at 48 kHz stays sample accurate.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An exact rate in units per second (frames per second, samples per second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    num: u32,
    den: u32,
}

/// Why a rate could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("a rate needs a positive numerator and denominator, got {num}/{den}")]
    NotPositive { num: u64, den: u64 },
    #[error("'{text}' is not a rate; expected an integer like 24 or a fraction like 24000/1001")]
    Syntax { text: String },
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rate {
    /// 24 frames per second.
    pub const FPS_24: Rate = Rate { num: 24, den: 1 };
    /// 23.976 frames per second (24000/1001).
    pub const FPS_23_976: Rate = Rate {
        num: 24000,
        den: 1001,
    };
    /// 25 frames per second.
    pub const FPS_25: Rate = Rate { num: 25, den: 1 };
    /// 29.97 frames per second (30000/1001).
    pub const FPS_29_97: Rate = Rate {
        num: 30000,
        den: 1001,
    };
    /// 30 frames per second.
    pub const FPS_30: Rate = Rate { num: 30, den: 1 };
    /// 48 kHz audio.
    pub const HZ_48000: Rate = Rate { num: 48000, den: 1 };

    /// A rate of `num / den` units per second, reduced to lowest terms.
    pub fn new(num: u32, den: u32) -> Result<Self, RateError> {
        if num == 0 || den == 0 {
            return Err(RateError::NotPositive {
                num: u64::from(num),
                den: u64::from(den),
            });
        }
        let g = gcd(u64::from(num), u64::from(den));
        // Dividing by a common divisor cannot overflow u32.
        Ok(Self {
            num: u32::try_from(u64::from(num) / g).unwrap_or(num),
            den: u32::try_from(u64::from(den) / g).unwrap_or(den),
        })
    }

    #[must_use]
    pub const fn numerator(self) -> u32 {
        self.num
    }

    #[must_use]
    pub const fn denominator(self) -> u32 {
        self.den
    }

    /// The rate as a float, for display only.
    #[must_use]
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The nominal integer frame count per second used by timecode (30 for 29.97).
    #[must_use]
    pub fn timecode_base(self) -> u32 {
        self.num.div_ceil(self.den)
    }

    /// Whether SMPTE drop-frame timecode applies (29.97 and 59.94).
    #[must_use]
    pub fn is_ntsc_drop_candidate(self) -> bool {
        self.den == 1001 && (self.num == 30000 || self.num == 60000)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || RateError::Syntax {
            text: text.to_owned(),
        };
        let (num, den) = match text.trim().split_once('/') {
            Some((n, d)) => (n.trim(), d.trim()),
            None => (text.trim(), "1"),
        };
        let num: u32 = num.parse().map_err(|_| syntax())?;
        let den: u32 = den.parse().map_err(|_| syntax())?;
        Rate::new(num, den)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Whole(u32),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Repr::Whole(n) => Rate::new(n, 1).map_err(serde::de::Error::custom),
        }
    }
}

/// How to round when a time does not fall exactly on a unit of the target rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Towards negative infinity (the unit that contains the instant).
    Floor,
    /// To the nearest unit, halves away from zero.
    Nearest,
    /// Towards positive infinity.
    Ceil,
}

/// An integer count of units at a rate.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RationalTime {
    pub value: i64,
    pub rate: Rate,
}

impl RationalTime {
    #[must_use]
    pub const fn new(value: i64, rate: Rate) -> Self {
        Self { value, rate }
    }

    #[must_use]
    pub const fn zero(rate: Rate) -> Self {
        Self { value: 0, rate }
    }

    /// The same instant counted at another rate, rounded as asked.
    #[must_use]
    pub fn rescaled(self, to: Rate, rounding: Rounding) -> Self {
        Self {
            value: rescale(self.value, self.rate, to, rounding),
            rate: to,
        }
    }

    /// Seconds as a float, for display only.
    #[must_use]
    pub fn seconds_f64(self) -> f64 {
        // Precision loss is acceptable for display.
        #[allow(clippy::cast_precision_loss)]
        let v = self.value as f64;
        v / self.rate.as_f64()
    }

    /// SMPTE timecode (`HH:MM:SS:FF`, or `HH:MM:SS;FF` drop-frame at 29.97 / 59.94 when asked).
    #[must_use]
    pub fn to_timecode(self, drop_frame: bool) -> String {
        timecode(self.value, self.rate, drop_frame)
    }
}

impl PartialEq for RationalTime {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for RationalTime {}

impl PartialOrd for RationalTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RationalTime {
    /// Compares instants exactly: 1 s at 24 fps equals 48000 at 48 kHz.
    fn cmp(&self, other: &Self) -> Ordering {
        let lhs = i128::from(self.value) * i128::from(self.rate.den) * i128::from(other.rate.num);
        let rhs = i128::from(other.value) * i128::from(other.rate.den) * i128::from(self.rate.num);
        lhs.cmp(&rhs)
    }
}

/// Converts `value` units at `from` to units at `to`, exactly then rounded.
#[must_use]
pub fn rescale(value: i64, from: Rate, to: Rate, rounding: Rounding) -> i64 {
    if from == to {
        return value;
    }
    // value / from = value * from.den / from.num seconds; times to.num / to.den units.
    let num = i128::from(value) * i128::from(from.den) * i128::from(to.num);
    let den = i128::from(from.num) * i128::from(to.den);
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    let rounded = match rounding {
        Rounding::Floor => q,
        Rounding::Ceil => {
            if r == 0 {
                q
            } else {
                q + 1
            }
        }
        Rounding::Nearest => {
            // r in [0, den): round half away from zero.
            let twice = 2 * r;
            if twice > den || (twice == den && num >= 0) {
                q + 1
            } else {
                q
            }
        }
    };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

fn timecode(frames: i64, rate: Rate, drop_frame: bool) -> String {
    let sign = if frames < 0 { "-" } else { "" };
    let mut frames = frames.unsigned_abs();
    let base = u64::from(rate.timecode_base());
    let drop = drop_frame && rate.is_ntsc_drop_candidate();
    if drop {
        // SMPTE 12M: drop 2 frame numbers (4 at 59.94) every minute except every tenth.
        let drop_per_minute = base / 15; // 2 at 30, 4 at 60
        let frames_per_10_min = base * 600 - drop_per_minute * 9;
        let frames_per_minute = base * 60 - drop_per_minute;
        let tens = frames / frames_per_10_min;
        let rest = frames % frames_per_10_min;
        let extra = if rest > drop_per_minute {
            drop_per_minute * ((rest - drop_per_minute) / frames_per_minute)
        } else {
            0
        };
        frames += drop_per_minute * 9 * tens + extra;
    }
    let ff = frames % base;
    let total_seconds = frames / base;
    let ss = total_seconds % 60;
    let mm = (total_seconds / 60) % 60;
    let hh = total_seconds / 3600;
    let sep = if drop { ';' } else { ':' };
    format!("{sign}{hh:02}:{mm:02}:{ss:02}{sep}{ff:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rates_parse_print_and_reduce() {
        assert_eq!("24".parse::<Rate>().unwrap(), Rate::FPS_24);
        assert_eq!("48/2".parse::<Rate>().unwrap(), Rate::FPS_24);
        assert_eq!(
            "24000/1001".parse::<Rate>().unwrap().to_string(),
            "24000/1001"
        );
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        let json = serde_json::to_string(&Rate::FPS_29_97).unwrap();
        assert_eq!(json, "\"30000/1001\"");
        assert_eq!(serde_json::from_str::<Rate>("25").unwrap(), Rate::FPS_25);
    }

    #[test]
    fn rescale_is_exact_for_common_pairs() {
        // One frame at 23.976 is exactly 2002 samples at 48 kHz.
        assert_eq!(
            rescale(1, Rate::FPS_23_976, Rate::HZ_48000, Rounding::Floor),
            2002
        );
        // Three hours of 24 fps at 48 kHz, sample exact.
        let frames = 3 * 3600 * 24;
        assert_eq!(
            rescale(frames, Rate::FPS_24, Rate::HZ_48000, Rounding::Floor),
            3 * 3600 * 48000
        );
        assert_eq!(
            rescale(1, Rate::FPS_29_97, Rate::HZ_48000, Rounding::Floor),
            1601
        );
        assert_eq!(
            rescale(1, Rate::FPS_29_97, Rate::HZ_48000, Rounding::Ceil),
            1602
        );
        assert_eq!(
            rescale(1, Rate::FPS_29_97, Rate::HZ_48000, Rounding::Nearest),
            1602
        );
        assert_eq!(rescale(-1, Rate::FPS_24, Rate::FPS_25, Rounding::Floor), -2);
    }

    #[test]
    fn times_compare_as_instants() {
        let a = RationalTime::new(24, Rate::FPS_24);
        let b = RationalTime::new(48000, Rate::HZ_48000);
        assert_eq!(a, b);
        assert!(RationalTime::new(25, Rate::FPS_24) > b);
    }

    #[test]
    fn timecode_non_drop_and_drop_frame() {
        assert_eq!(
            RationalTime::new(86400, Rate::FPS_24).to_timecode(false),
            "01:00:00:00"
        );
        assert_eq!(
            RationalTime::new(1799, Rate::FPS_29_97).to_timecode(true),
            "00:00:59;29"
        );
        // Frame 1800 is 00:01:00;02 in drop-frame: ;00 and ;01 are skipped.
        assert_eq!(
            RationalTime::new(1800, Rate::FPS_29_97).to_timecode(true),
            "00:01:00;02"
        );
        // Every tenth minute keeps its first frame numbers.
        assert_eq!(
            RationalTime::new(17982, Rate::FPS_29_97).to_timecode(true),
            "00:10:00;00"
        );
        assert_eq!(
            RationalTime::new(107892, Rate::FPS_29_97).to_timecode(true),
            "01:00:00;00"
        );
        assert_eq!(
            RationalTime::new(-25, Rate::FPS_25).to_timecode(false),
            "-00:00:01:00"
        );
    }

    proptest! {
        #[test]
        fn rescale_round_trip_through_a_finer_rate(v in -10_000_000i64..10_000_000) {
            let samples = rescale(v, Rate::FPS_24, Rate::HZ_48000, Rounding::Floor);
            prop_assert_eq!(rescale(samples, Rate::HZ_48000, Rate::FPS_24, Rounding::Floor), v);
        }

        #[test]
        fn floor_le_nearest_le_ceil(v in any::<i32>(), n in 1u32..100_000, d in 1u32..2000) {
            let from = Rate::new(n, d).unwrap();
            let f = rescale(i64::from(v), from, Rate::FPS_24, Rounding::Floor);
            let r = rescale(i64::from(v), from, Rate::FPS_24, Rounding::Nearest);
            let c = rescale(i64::from(v), from, Rate::FPS_24, Rounding::Ceil);
            prop_assert!(f <= r && r <= c && c - f <= 1);
        }
    }
}
