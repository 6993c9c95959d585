//! SMPTE timecode in, and frame rates written as floats (OTIO, FCP 7) read back exactly.

use previz_core::time::Rate;

/// Frames counted by a timecode `HH:MM:SS:FF` (or `HH:MM:SS;FF`, drop-frame, at 29.97 / 59.94)
/// at `rate`. `None` when the text is not a timecode or a field is out of range.
#[must_use]
pub fn parse_timecode(text: &str, rate: Rate) -> Option<i64> {
    let text = text.trim();
    let drop = text.contains(';') && rate.is_ntsc_drop_candidate();
    let fields: Vec<&str> = text.split([':', ';', '.']).collect();
    let [hh, mm, ss, ff] = fields.as_slice() else {
        return None;
    };
    let number = |s: &str, limit: u64| -> Option<u64> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u64>().ok().filter(|v| *v < limit)
    };
    let base = u64::from(rate.timecode_base());
    let (h, m, s, f) = (
        number(hh, 100)?,
        number(mm, 60)?,
        number(ss, 60)?,
        number(ff, base)?,
    );
    let mut frames = ((h * 60 + m) * 60 + s) * base + f;
    if drop {
        let per_minute = base / 15;
        let minutes = h * 60 + m;
        // Frame numbers 0 and 1 (0-3 at 59.94) do not exist in minutes not divisible by ten.
        if m % 10 != 0 && s == 0 && f < per_minute {
            return None;
        }
        frames -= per_minute * (minutes - minutes / 10);
    }
    i64::try_from(frames).ok()
}

/// The exact rate a float names: 24, 25, 23.976 as 24000/1001, 29.97 as 30000/1001...
#[must_use]
pub fn rate_from_f64(value: f64) -> Option<Rate> {
    if !value.is_finite() || value <= 0.0 || value > 1_000_000.0 {
        return None;
    }
    let whole = value.round();
    if (value - whole).abs() < 1e-6 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked range
        return Rate::new(whole as u32, 1).ok();
    }
    // 23.976, 23.98, 29.97, 59.94...: written with two or three decimals by different tools.
    let ntsc = (value * 1.001).round();
    if (value - ntsc / 1.001).abs() < 0.006 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Rate::new(ntsc as u32 * 1000, 1001).ok();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Rate::new((value * 1000.0).round() as u32, 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use previz_core::time::RationalTime;
    use proptest::prelude::*;

    #[test]
    fn timecodes_parse() {
        assert_eq!(parse_timecode("01:00:00:00", Rate::FPS_24), Some(86_400));
        assert_eq!(parse_timecode("00:00:01:23", Rate::FPS_24), Some(47));
        assert_eq!(parse_timecode("00:00:01:24", Rate::FPS_24), None);
        assert_eq!(parse_timecode("00:01:00;02", Rate::FPS_29_97), Some(1800));
        assert_eq!(parse_timecode("00:01:00;00", Rate::FPS_29_97), None);
        assert_eq!(parse_timecode("garbage", Rate::FPS_24), None);
        assert_eq!(parse_timecode("1:2:3", Rate::FPS_24), None);
    }

    #[test]
    fn float_rates_come_back_exact() {
        assert_eq!(rate_from_f64(24.0), Some(Rate::FPS_24));
        assert_eq!(rate_from_f64(23.976), Some(Rate::FPS_23_976));
        assert_eq!(rate_from_f64(24000.0 / 1001.0), Some(Rate::FPS_23_976));
        assert_eq!(rate_from_f64(29.97), Some(Rate::FPS_29_97));
        assert_eq!(rate_from_f64(23.98), Some(Rate::FPS_23_976));
        assert_eq!(rate_from_f64(59.94), Rate::new(60_000, 1001).ok());
        assert_eq!(rate_from_f64(12.5), Rate::new(25, 2).ok());
        assert_eq!(rate_from_f64(0.0), None);
        assert_eq!(rate_from_f64(f64::NAN), None);
    }

    proptest! {
        #[test]
        fn timecode_round_trips(frames in 0i64..(24 * 3600 * 30), drop in any::<bool>(), pick in 0usize..4) {
            let rate = [Rate::FPS_24, Rate::FPS_25, Rate::FPS_29_97, Rate::FPS_23_976][pick];
            let text = RationalTime::new(frames, rate).to_timecode(drop);
            prop_assert_eq!(parse_timecode(&text, rate), Some(frames), "{}", text);
        }

        #[test]
        fn timecode_parsing_never_panics(text in ".{0,24}") {
            let _ = parse_timecode(&text, Rate::FPS_29_97);
        }
    }
}
