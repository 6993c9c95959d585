//! CMX3600 EDL: one picture track as cut events, in the column layout Avid, Premiere and
//! Resolve read (`001  AX       V     C        src-in src-out rec-in rec-out`), with the
//! clip name and media path in `* FROM CLIP NAME:` / `* FROM CLIP:` comments (the Avid style
//! the OpenTimelineIO cmx_3600 adapter reads) and markers as `* LOC:` lines. Gaps are left as
//! jumps in record time. Reading takes the same (and other CMX3600 EDLs) back for conform.

use previz_core::time::{Rate, RationalTime};
use previz_core::timeline::{MarkerColor, TrackKind};

use super::ImportError;
use super::cut::{Cut, CutClip, CutItem, CutMarker, CutTrack, Media, MediaKind, Origin};
use super::otio::media_kind;
use super::timecode::parse_timecode;

/// Our clip ids travel in a comment other tools keep or ignore.
const ITEM_COMMENT: &str = "* PREVIZ ITEM:";

/// A CMX3600 reel name (at most 8 of `A-Z 0-9 _`) for a clip: its shot number (`12A.3` →
/// `12A_3`), else its name; `AX` (an auxiliary source) when nothing usable is left.
fn reel_name(clip: &CutClip) -> String {
    let source = clip.origin.shot_number.as_deref().unwrap_or(&clip.name);
    let reel: String = source
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_uppercase())
            } else if matches!(c, '.' | '_' | '-' | ' ') {
                Some('_')
            } else {
                None
            }
        })
        .take(8)
        .collect();
    // BL / BLACK / BARS are reserved source names.
    if reel.trim_matches('_').is_empty() || matches!(reel.as_str(), "BL" | "BLACK" | "BARS") {
        "AX".to_owned()
    } else {
        reel
    }
}

fn tc(frames: i64, rate: Rate, drop: bool) -> String {
    RationalTime::new(frames, rate).to_timecode(drop)
}

fn loc_color(color: MarkerColor) -> &'static str {
    match color {
        MarkerColor::Red | MarkerColor::Orange => "RED",
        MarkerColor::Yellow => "YELLOW",
        MarkerColor::Green => "GREEN",
        MarkerColor::Cyan => "CYAN",
        MarkerColor::Blue => "BLUE",
        MarkerColor::Purple | MarkerColor::Pink => "MAGENTA",
        MarkerColor::Magenta => "MAGENTA",
        MarkerColor::White => "WHITE",
        MarkerColor::Black => "BLACK",
    }
}

/// One line of comment text: EDL lines end at a newline, and readers choke on control
/// characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The cut's track `track` (an index into `cut.tracks`, a video track) as a CMX3600 EDL.
/// Drop-frame timecode is used at 29.97 / 59.94 when `drop_frame` is set.
#[must_use]
pub fn write(cut: &Cut, track: usize, drop_frame: bool) -> String {
    let rate = cut.rate;
    let drop = drop_frame && rate.is_ntsc_drop_candidate();
    let mut out = String::new();
    out.push_str(&format!("TITLE: {}\n", one_line(&cut.name)));
    out.push_str(if drop {
        "FCM: DROP FRAME\n"
    } else {
        "FCM: NON-DROP FRAME\n"
    });
    let Some(t) = cut.tracks.get(track) else {
        return out;
    };
    let mut event = 0;
    for (start, clip) in t.clips() {
        // CMX3600 numbers events 001-999; longer lists wrap, as Avid and Premiere write them.
        event = event % 999 + 1;
        let rec_in = cut.start_frame + start;
        out.push('\n');
        out.push_str(&format!(
            "{event:03}  {:<8} {:<5} {:<8} {} {} {} {}\n",
            reel_name(clip),
            "V",
            "C",
            tc(clip.source_in, rate, drop),
            tc(clip.source_in + clip.duration, rate, drop),
            tc(rec_in, rate, drop),
            tc(rec_in + clip.duration, rate, drop),
        ));
        out.push_str(&format!("* FROM CLIP NAME:  {}\n", one_line(&clip.name)));
        if let Some(media) = &clip.media {
            out.push_str(&format!(
                "* FROM CLIP: {}\n",
                one_line(&media.path.to_string_lossy())
            ));
        }
        if let Some(item) = clip.origin.item {
            out.push_str(&format!("{ITEM_COMMENT} {item}\n"));
        }
        for marker in cut
            .markers
            .iter()
            .filter(|m| m.frame >= start && m.frame < start + clip.duration)
        {
            let text = [marker.name.as_str(), marker.note.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| one_line(s))
                .collect::<Vec<_>>()
                .join(" - ");
            out.push_str(&format!(
                "* LOC: {} {:<7} {}\n",
                tc(cut.start_frame + marker.frame, rate, drop),
                loc_color(marker.color),
                text
            ));
        }
    }
    out
}

/// The first video track of a cut, if any.
#[must_use]
pub fn first_video_track(cut: &Cut) -> Option<usize> {
    cut.tracks.iter().position(|t| t.kind == TrackKind::Video)
}

struct Event {
    line: usize,
    number: String,
    name: String,
    path: Option<String>,
    item: Option<String>,
    src_in: i64,
    src_out: i64,
    rec_in: i64,
    rec_out: i64,
}

/// Reads a CMX3600 EDL's picture events at `rate` into a one-track cut. `record_start` is the
/// timecode of the sequence's first frame (the first event's record-in when none). `file`
/// names it in errors.
pub fn read(
    text: &str,
    rate: Rate,
    record_start: Option<i64>,
    file: &str,
) -> Result<Cut, ImportError> {
    let mut title = String::new();
    let mut events: Vec<Event> = Vec::new();
    let mut markers = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("TITLE:") {
            title = rest.trim().to_owned();
            continue;
        }
        if line.starts_with("FCM:") {
            continue;
        }
        if let Some(comment) = line.strip_prefix('*') {
            let comment = comment.trim();
            // After a transition (two lines with one event number), FROM names the outgoing
            // side and TO the incoming one.
            let n = events.len();
            let paired = n >= 2 && events[n - 1].number == events[n - 2].number;
            let from = if paired { n - 2 } else { n.wrapping_sub(1) };
            let Some(last) = n.checked_sub(1) else {
                continue;
            };
            if let Some(name) = comment.strip_prefix("FROM CLIP NAME:") {
                if let Some(e) = events.get_mut(from) {
                    e.name = name.trim().to_owned();
                }
            } else if let Some(name) = comment.strip_prefix("TO CLIP NAME:") {
                events[last].name = name.trim().to_owned();
            } else if let Some(path) = comment
                .strip_prefix("FROM CLIP:")
                .or_else(|| comment.strip_prefix("FROM FILE:"))
            {
                if let Some(e) = events.get_mut(from) {
                    e.path = Some(path.trim().to_owned());
                }
            } else if let Some(path) = comment
                .strip_prefix("TO CLIP:")
                .or_else(|| comment.strip_prefix("TO FILE:"))
            {
                events[last].path = Some(path.trim().to_owned());
            } else if let Some(item) = line.strip_prefix(ITEM_COMMENT) {
                let event = &mut events[last];
                event.item = Some(item.trim().to_owned());
            } else if let Some(loc) = comment.strip_prefix("LOC:") {
                let mut parts = loc.split_whitespace();
                if let Some(at) = parts.next().and_then(|t| parse_timecode(t, rate)) {
                    let color = match parts.next().unwrap_or("") {
                        "YELLOW" => MarkerColor::Yellow,
                        "GREEN" => MarkerColor::Green,
                        "CYAN" => MarkerColor::Cyan,
                        "BLUE" => MarkerColor::Blue,
                        "MAGENTA" => MarkerColor::Magenta,
                        "WHITE" => MarkerColor::White,
                        "BLACK" => MarkerColor::Black,
                        _ => MarkerColor::Red,
                    };
                    markers.push((at, color, parts.collect::<Vec<_>>().join(" ")));
                }
            }
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.bytes().all(|b| b.is_ascii_digit()))
        {
            // NUM REEL CHANNEL TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT
            if fields.len() < 8 {
                return Err(ImportError::new(
                    file,
                    Some(line_no),
                    format!(
                        "an event line needs 8 fields (number, reel, channels, transition, source in/out, record in/out), found {}",
                        fields.len()
                    ),
                ));
            }
            let channel = fields[2];
            let times = &fields[fields.len() - 4..];
            let mut parsed = [0i64; 4];
            for (slot, text) in parsed.iter_mut().zip(times) {
                *slot = parse_timecode(text, rate).ok_or_else(|| {
                    ImportError::new(
                        file,
                        Some(line_no),
                        format!(
                            "'{text}' is not a timecode at {rate} fps; expected HH:MM:SS:FF (check the EDL's frame rate)"
                        ),
                    )
                })?;
            }
            let [src_in, src_out, rec_in, rec_out] = parsed;
            if src_out < src_in || rec_out < rec_in {
                return Err(ImportError::new(
                    file,
                    Some(line_no),
                    "an event ends before it starts; its out timecodes must not precede its in timecodes",
                ));
            }
            // Picture events only (V, B, AA/V...); sound events are not conformed from EDLs.
            let channel = channel.to_ascii_uppercase();
            if !channel.contains('V') && channel != "B" {
                continue;
            }
            // A black event ("BL") is empty time.
            let black = matches!(fields[1], "BL" | "BLACK");
            events.push(Event {
                line: line_no,
                number: fields[0].to_owned(),
                // The reel names the source tape, not the clip: a FROM CLIP NAME comment does.
                name: String::new(),
                path: None,
                item: black.then(|| "black".to_owned()),
                src_in,
                src_out,
                rec_in,
                rec_out,
            });
            continue;
        }
        // Motion-effect, split-edit and audio-routing lines qualify the event before them.
        let keyword = line.split_whitespace().next().unwrap_or("");
        if matches!(keyword, "M2" | "SPLIT:" | "AUD" | "SWM" | "FINAL" | ">>>") {
            continue;
        }
        return Err(ImportError::new(
            file,
            Some(line_no),
            format!(
                "'{}' is neither an event, a comment (*) nor a TITLE/FCM header; is this a CMX3600 EDL?",
                one_line(line).chars().take(60).collect::<String>()
            ),
        ));
    }
    if events.is_empty()
        && !text
            .lines()
            .any(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err(ImportError::new(
            file,
            None,
            "no events found; a CMX3600 EDL lists numbered events (001  REEL  V  C  in out in out)",
        ));
    }
    // A transition's outgoing side is written as a zero-length cut: it is not a clip.
    events.retain(|e| e.rec_out > e.rec_in);
    // Dissolves write the incoming clip over the outgoing one's tail: keep record order.
    events.sort_by_key(|e| (e.rec_in, e.line));
    // The sequence's first frame: the hint, unless the events start an hour or more later (a
    // sequence re-based to 01:00:00:00 in editorial), then the whole hour they start in.
    let first = events.first().map(|e| e.rec_in);
    let hour = i64::from(rate.timecode_base()) * 3600;
    let start = match (record_start, first) {
        (Some(hint), Some(first)) if first >= hint + hour => first - (first - hint) % hour,
        (Some(hint), Some(first)) if first < hint => first,
        (Some(hint), _) => hint,
        (None, Some(first)) => first,
        (None, None) => 0,
    };
    let mut items = Vec::with_capacity(events.len());
    let mut at = start;
    for event in events {
        if event.rec_in < at {
            return Err(ImportError::new(
                file,
                Some(event.line),
                "this event's record-in overlaps the previous event; conform reads one picture track (export a single video track from editorial)",
            ));
        }
        if event.rec_in > at {
            items.push(CutItem::Gap(event.rec_in - at));
        }
        let duration = event.rec_out - event.rec_in;
        at = event.rec_out;
        if event.item.as_deref() == Some("black") {
            items.push(CutItem::Gap(duration));
            continue;
        }
        let _ = event.src_out;
        let media = event.path.map(|p| {
            let path = super::path_from_url(&p);
            Media {
                kind: media_kind(&path),
                path,
                available: None,
            }
        });
        items.push(CutItem::Clip(CutClip {
            name: event.name,
            source_in: if media.as_ref().is_some_and(|m| m.kind == MediaKind::Still) {
                0
            } else {
                event.src_in
            },
            duration,
            media,
            origin: Origin {
                item: event.item.and_then(|s| s.parse().ok()),
                ..Origin::default()
            },
        }));
    }
    // Merge neighbouring gaps (black events next to jumps).
    let mut merged: Vec<CutItem> = Vec::with_capacity(items.len());
    for item in items {
        match (merged.last_mut(), &item) {
            (Some(CutItem::Gap(a)), CutItem::Gap(b)) => *a += *b,
            _ => merged.push(item),
        }
    }
    Ok(Cut {
        name: title,
        rate,
        start_frame: start,
        width: 0,
        height: 0,
        audio_rate: 48_000,
        tracks: vec![CutTrack {
            name: "V1".to_owned(),
            kind: TrackKind::Video,
            enabled: true,
            items: merged,
            id: None,
        }],
        markers: markers
            .into_iter()
            .map(|(at, color, name)| CutMarker {
                frame: at - start,
                duration: 0,
                name,
                color,
                note: String::new(),
            })
            .collect(),
        project: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use previz_core::ids::ItemId;
    use proptest::prelude::*;

    fn clip(name: &str, source_in: i64, duration: i64) -> CutItem {
        CutItem::Clip(CutClip {
            name: name.into(),
            source_in,
            duration,
            media: Some(Media {
                path: format!("/nas/{name}.png").into(),
                kind: MediaKind::Still,
                available: None,
            }),
            origin: Origin {
                item: Some(ItemId::new()),
                ..Origin::default()
            },
        })
    }

    fn cut() -> Cut {
        Cut {
            name: "Animatic".into(),
            rate: Rate::FPS_24,
            start_frame: 86_400,
            width: 0,
            height: 0,
            audio_rate: 48_000,
            tracks: vec![CutTrack {
                name: "V1".into(),
                kind: TrackKind::Video,
                enabled: true,
                items: vec![clip("1.1", 0, 72), CutItem::Gap(24), clip("1.2", 0, 30)],
                id: None,
            }],
            markers: vec![],
            project: None,
        }
    }

    #[test]
    fn columns_follow_cmx3600() {
        let text = write(&cut(), 0, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "TITLE: Animatic");
        assert_eq!(lines[1], "FCM: NON-DROP FRAME");
        assert_eq!(
            lines[3],
            "001  1_1      V     C        00:00:00:00 00:00:03:00 01:00:00:00 01:00:03:00"
        );
        assert_eq!(lines[4], "* FROM CLIP NAME:  1.1");
        assert!(text.contains(
            "002  1_2      V     C        00:00:00:00 00:00:01:06 01:00:04:00 01:00:05:06"
        ));
    }

    #[test]
    fn an_edl_reads_back_with_its_gaps() {
        let original = cut();
        let back = read(
            &write(&original, 0, false),
            Rate::FPS_24,
            Some(86_400),
            "cut.edl",
        )
        .unwrap();
        assert_eq!(back.tracks[0].items, original.tracks[0].items);
    }

    #[test]
    fn a_sequence_rebased_to_the_hour_still_lines_up() {
        let mut rebased = cut();
        rebased.start_frame = 86_400;
        let text = write(&rebased, 0, false);
        let back = read(&text, Rate::FPS_24, Some(0), "cut.edl").unwrap();
        assert_eq!(back.start_frame, 86_400);
        assert_eq!(back.tracks[0].items, rebased.tracks[0].items);
    }

    #[test]
    fn a_dissolve_names_its_incoming_clip_and_urls_become_paths() {
        // As the OpenTimelineIO cmx_3600 adapter writes a dissolve into 1.3.
        let text = "TITLE: Animatic\n\n\
            002  12take99 V     C        00:00:01:00 00:00:04:11 00:00:04:12 00:00:07:23\n\
            * FROM CLIP NAME:  1.2\n\
            * FROM CLIP: file:///tmp/out/1.2%20take.png\n\
            003  12take99 V     C        00:00:04:11 00:00:04:11 00:00:07:23 00:00:07:23\n\
            003  13takefe V     D 012    00:00:00:18 00:00:05:07 00:00:07:23 00:00:12:12\n\
            * FROM CLIP NAME:  1.2\n\
            * TO CLIP NAME:  1.3\n\
            * TO CLIP: file:///tmp/out/1.3.png\n\
            M2   13takefe       048.0                00:00:00:18\n";
        let cut = read(text, Rate::FPS_24, Some(108), "diss.edl").unwrap();
        let clips: Vec<(&str, i64)> = cut.tracks[0]
            .clips()
            .map(|(_, c)| (c.name.as_str(), c.duration))
            .collect();
        assert_eq!(clips, vec![("1.2", 83), ("1.3", 109)]);
        let first = cut.tracks[0].clips().next().unwrap().1;
        assert_eq!(
            first.media.as_ref().unwrap().path,
            std::path::PathBuf::from("/tmp/out/1.2 take.png")
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = read(
            "TITLE: x\n\n001  AX V C 00:00:00:00 00:00:01:00 01:00:00:00\n",
            Rate::FPS_24,
            None,
            "cut.edl",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3));
        let err = read(
            "TITLE: x\n001  AX V C 00:00:00:00 00:00:01:00 01:00:00:00 01:00:0x:00\n",
            Rate::FPS_24,
            None,
            "cut.edl",
        )
        .unwrap_err();
        assert!(err.message.contains("not a timecode"), "{err}");
        let err = read("hello\n", Rate::FPS_24, None, "cut.edl").unwrap_err();
        assert!(err.to_string().starts_with("cut.edl:1:"), "{err}");
    }

    proptest! {
        #[test]
        fn reading_never_panics(text in "(\\PC{0,60}\n){0,8}") {
            let _ = read(&text, Rate::FPS_29_97, None, "fuzz.edl");
        }

        #[test]
        fn damaged_edls_never_panic(at in 0usize..400, byte in 0x20u8..0x7f) {
            let mut bytes = write(&cut(), 0, false).into_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            let text = String::from_utf8(bytes).unwrap_or_default();
            let _ = read(&text, Rate::FPS_24, Some(86_400), "fuzz.edl");
        }
    }
}
