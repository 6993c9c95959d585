//! The transport: playhead, play / pause, J-K-L shuttle, in and out points.
//!
//! Time comes in as seconds from the UI's clock (egui's input time), so tests drive it frame by
//! frame; the playhead is a whole frame at the project rate, computed from where and when
//! playback started (no accumulated drift).

use previz_core::Rate;

/// Shuttle speeds J and L step through, as multiples of real time.
const SHUTTLE: [f64; 3] = [1.0, 2.0, 4.0];

/// Where playback stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transport {
    pub playhead: i64,
    /// Multiples of real time: 0 stopped, negative for reverse.
    pub speed: f64,
    pub in_point: Option<i64>,
    pub out_point: Option<i64>,
    /// (UI time, playhead) when the current speed started.
    anchor: Option<(f64, f64)>,
}

impl Transport {
    #[must_use]
    pub fn is_playing(&self) -> bool {
        self.speed != 0.0
    }

    fn set_speed(&mut self, speed: f64, now: f64) {
        self.speed = speed;
        #[allow(clippy::cast_precision_loss)] // frame counts of a film fit f64 exactly
        let at = self.playhead as f64;
        self.anchor = (speed != 0.0).then_some((now, at));
    }

    /// Space: play from the playhead (from the in point when parked at the end), or pause.
    pub fn toggle(&mut self, now: f64, end: i64) {
        if self.is_playing() {
            self.stop();
        } else {
            let (_, stop) = self.range(end);
            if self.playhead >= stop - 1 {
                self.playhead = self.in_point.unwrap_or(0);
            }
            self.set_speed(1.0, now);
        }
    }

    /// K.
    pub fn stop(&mut self) {
        self.speed = 0.0;
        self.anchor = None;
    }

    /// L: play forward, then faster each press.
    pub fn shuttle_forward(&mut self, now: f64) {
        let next = if self.speed <= 0.0 {
            SHUTTLE[0]
        } else {
            SHUTTLE
                .iter()
                .copied()
                .find(|s| *s > self.speed)
                .unwrap_or(SHUTTLE[SHUTTLE.len() - 1])
        };
        self.set_speed(next, now);
    }

    /// J: play backward, then faster each press.
    pub fn shuttle_reverse(&mut self, now: f64) {
        let next = if self.speed >= 0.0 {
            -SHUTTLE[0]
        } else {
            -SHUTTLE
                .iter()
                .copied()
                .find(|s| *s > -self.speed)
                .unwrap_or(SHUTTLE[SHUTTLE.len() - 1])
        };
        self.set_speed(next, now);
    }

    /// Moves the playhead (scrubbing, Home / End, clicking the ruler); playback carries on from
    /// there.
    pub fn seek(&mut self, frame: i64, now: f64) {
        self.playhead = frame.max(0);
        if self.is_playing() {
            self.set_speed(self.speed, now);
        }
    }

    /// I.
    pub fn mark_in(&mut self) {
        self.in_point = Some(self.playhead);
        if self.out_point.is_some_and(|o| o < self.playhead) {
            self.out_point = None;
        }
    }

    /// O.
    pub fn mark_out(&mut self) {
        self.out_point = Some(self.playhead);
        if self.in_point.is_some_and(|i| i > self.playhead) {
            self.in_point = None;
        }
    }

    pub fn clear_marks(&mut self) {
        self.in_point = None;
        self.out_point = None;
    }

    /// The playable range: in to out, else the whole edit.
    #[must_use]
    pub fn range(&self, end: i64) -> (i64, i64) {
        let start = self.in_point.unwrap_or(0).max(0);
        let stop = self.out_point.map_or(end, |o| o + 1).max(start);
        (start, stop)
    }

    /// Advances the playhead to `now`; stops at either end of the range. Returns whether the
    /// playhead moved.
    pub fn advance(&mut self, now: f64, rate: Rate, end: i64) -> bool {
        let Some((t0, f0)) = self.anchor else {
            return false;
        };
        let (start, stop) = self.range(end);
        let exact = f0 + (now - t0) * rate.as_f64() * self.speed;
        #[allow(clippy::cast_possible_truncation)] // clamped to the edit's length below
        let frame = exact.floor() as i64;
        let before = self.playhead;
        if frame >= stop {
            self.playhead = (stop - 1).max(start);
            self.stop();
        } else if frame < start {
            self.playhead = start;
            self.stop();
        } else {
            self.playhead = frame;
        }
        self.playhead != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_at_the_project_rate_and_stops_at_the_end() {
        let mut t = Transport::default();
        t.toggle(10.0, 48);
        assert!(t.is_playing());
        t.advance(10.5, Rate::FPS_24, 48);
        assert_eq!(t.playhead, 12);
        t.advance(11.0, Rate::FPS_24, 48);
        assert_eq!(t.playhead, 24);
        t.advance(13.0, Rate::FPS_24, 48);
        assert_eq!(t.playhead, 47);
        assert!(!t.is_playing());
        // Space at the end starts again from the top.
        t.toggle(20.0, 48);
        assert_eq!(t.playhead, 0);
    }

    #[test]
    fn jkl_shuttle_and_in_out() {
        let mut t = Transport::default();
        t.seek(100, 0.0);
        t.shuttle_forward(0.0);
        t.shuttle_forward(0.0);
        assert_eq!(t.speed, 2.0);
        t.advance(1.0, Rate::FPS_24, 1000);
        assert_eq!(t.playhead, 148);
        t.shuttle_reverse(1.0);
        assert_eq!(t.speed, -1.0);
        t.advance(2.0, Rate::FPS_24, 1000);
        assert_eq!(t.playhead, 124);
        t.stop();
        t.mark_in();
        t.seek(130, 2.0);
        t.mark_out();
        assert_eq!(t.range(1000), (124, 131));
        t.seek(124, 3.0);
        t.toggle(3.0, 1000);
        t.advance(10.0, Rate::FPS_24, 1000);
        assert_eq!(t.playhead, 130, "stops at the out point");
    }
}
