//! FCPXML 1.10 (Final Cut Pro, DaVinci Resolve): resources (one `format`, an `asset` per media
//! file with its `media-rep`), and `library/event/project/sequence/spine` holding the first
//! video track as the primary storyline (`asset-clip`, `title` for slugs, `gap`), the other
//! tracks as connected clips on lanes (audio below: -1, -2...; video above: 1, 2...), each
//! attached to the storyline element under its start. Times are rational seconds (`1001/24000s`).
//! The sequence starts at 0s (`tcStart="0s"`): connected-clip offsets are then the same in
//! Final Cut and in the OpenTimelineIO adapter. Our clip ids ride in `metadata/md`.
//!
//! Reading takes the same structure back (and FCPXML from Final Cut / Resolve with
//! `asset-clip`, `clip`, `video`, `audio`, `ref-clip`, `title` and `gap`) for conform.

use std::collections::HashMap;
use std::path::PathBuf;

use previz_core::time::Rate;
use previz_core::timeline::TrackKind;

use super::cut::{Cut, CutClip, CutItem, CutTrack, Media, MediaKind, Origin};
use super::otio::media_kind;
use super::timecode::rate_from_f64;
use super::{ImportError, file_url, path_from_url, xml_escape};

const ITEM_KEY: &str = "com.previz.item";

/// Frames at `rate` as FCPXML rational seconds.
fn seconds(frames: i64, rate: Rate) -> String {
    let num = i128::from(frames) * i128::from(rate.denominator());
    let den = i128::from(rate.numerator());
    let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1);
    let (n, d) = (num / g as i128, den / g as i128);
    if d == 1 {
        format!("{n}s")
    } else {
        format!("{n}/{d}s")
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

struct Asset {
    id: String,
    xml: String,
}

/// The cut as an FCPXML 1.10 document.
#[must_use]
pub fn write(cut: &Cut) -> String {
    let rate = cut.rate;
    let mut assets: HashMap<PathBuf, Asset> = HashMap::new();
    let mut order: Vec<PathBuf> = Vec::new();
    let mut asset_id = |media: &Media, name: &str, length: i64| -> String {
        if let Some(a) = assets.get(&media.path) {
            return a.id.clone();
        }
        let id = format!("r{}", assets.len() + 2);
        let audio = media.kind == MediaKind::Audio;
        let duration = if media.kind == MediaKind::Still {
            "0s".to_owned()
        } else {
            seconds(media.available.unwrap_or(length).max(length), rate)
        };
        let kind_attrs = if audio {
            format!(
                "hasAudio=\"1\" audioSources=\"1\" audioChannels=\"1\" audioRate=\"{}\"",
                cut.audio_rate
            )
        } else {
            "hasVideo=\"1\" format=\"r1\"".to_owned()
        };
        let file_name = media
            .path
            .file_name()
            .map_or_else(|| name.to_owned(), |n| n.to_string_lossy().into_owned());
        let xml = format!(
            "    <asset id=\"{id}\" name=\"{}\" start=\"0s\" duration=\"{duration}\" {kind_attrs}>\n      <media-rep kind=\"original-media\" src=\"{}\"/>\n    </asset>\n",
            xml_escape(&file_name),
            xml_escape(&file_url(&media.path)),
        );
        assets.insert(
            media.path.clone(),
            Asset {
                id: id.clone(),
                xml,
            },
        );
        order.push(media.path.clone());
        id
    };

    // The storyline: the first video track, padded with a gap to the cut's end so every
    // connected clip has something to hang from.
    let primary = cut.tracks.iter().position(|t| t.kind == TrackKind::Video);
    let total = cut.duration();
    let mut spine: Vec<(i64, i64, Option<&CutClip>)> = Vec::new();
    if let Some(p) = primary {
        for (start, item) in cut.tracks[p].items_with_start() {
            match item {
                CutItem::Clip(c) => spine.push((start, c.duration, Some(c))),
                CutItem::Gap(d) => spine.push((start, *d, None)),
            }
        }
    }
    let spine_end = spine.last().map_or(0, |(s, d, _)| s + d);
    if spine_end < total {
        spine.push((spine_end, total - spine_end, None));
    }
    // Lanes: audio tracks below (first audio track -1), other video tracks above.
    let mut lanes: Vec<(i64, &CutTrack)> = Vec::new();
    let mut audio_lane = 0;
    let mut video_lane = 0;
    for (index, track) in cut.tracks.iter().enumerate() {
        if Some(index) == primary {
            continue;
        }
        match track.kind {
            TrackKind::Audio => {
                audio_lane -= 1;
                lanes.push((audio_lane, track));
            }
            TrackKind::Video => {
                video_lane += 1;
                lanes.push((video_lane, track));
            }
        }
    }
    // Connected clips grouped by the storyline element they hang from.
    let mut connected: Vec<Vec<String>> = vec![Vec::new(); spine.len()];
    for (lane, track) in &lanes {
        if !track.enabled {
            // A disabled track's clips are written disabled, as Final Cut does.
        }
        for (start, clip) in track.clips() {
            let Some(parent) = spine
                .iter()
                .position(|(s, d, _)| start >= *s && start < s + d)
            else {
                continue;
            };
            let (parent_start, _, parent_clip) = spine[parent];
            // A connected clip's offset is in its parent's source time.
            let parent_source = parent_clip.map_or(0, |c| c.source_in);
            let offset = parent_source + (start - parent_start);
            let element = clip_element(
                clip,
                Some((*lane, offset)),
                track.enabled,
                rate,
                &mut asset_id,
                &[],
            );
            connected[parent].push(element);
        }
    }
    let mut body = String::new();
    for (index, (start, duration, clip)) in spine.iter().enumerate() {
        let children = &connected[index];
        match clip {
            Some(c) => {
                // The connected clips go inside the storyline element.
                let element = clip_element(c, None, true, rate, &mut asset_id, children);
                let offset_attr = format!(" offset=\"{}\"", seconds(*start, rate));
                body.push_str(&element.replacen(" offset=\"PLACE\"", &offset_attr, 1));
            }
            None => {
                let open = format!(
                    "<gap name=\"Gap\" offset=\"{}\" start=\"0s\" duration=\"{}\"",
                    seconds(*start, rate),
                    seconds(*duration, rate)
                );
                if children.is_empty() {
                    body.push_str(&format!("{open}/>\n"));
                } else {
                    body.push_str(&format!("{open}>\n"));
                    for child in children {
                        body.push_str(&indent(child, 2));
                    }
                    body.push_str("</gap>\n");
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE fcpxml>\n<fcpxml version=\"1.10\">\n  <resources>\n");
    out.push_str(&format!(
        "    <format id=\"r1\" frameDuration=\"{}\" width=\"{}\" height=\"{}\"/>\n",
        seconds(1, rate),
        cut.width.max(2),
        cut.height.max(2)
    ));
    if cut
        .tracks
        .iter()
        .flat_map(CutTrack::clips)
        .any(|(_, c)| c.media.is_none())
    {
        out.push_str(&format!(
            "    <effect id=\"{TITLE_EFFECT}\" name=\"Basic Title\" uid=\".../Titles.localized/Bumper:Opener.localized/Basic Title.localized/Basic Title.moti\"/>\n"
        ));
    }
    for path in &order {
        if let Some(a) = assets.get(path) {
            out.push_str(&a.xml);
        }
    }
    out.push_str("  </resources>\n  <library>\n    <event name=\"Previz\">\n");
    out.push_str(&format!(
        "      <project name=\"{}\">\n",
        xml_escape(&cut.name)
    ));
    out.push_str(&format!(
        "        <sequence format=\"r1\" duration=\"{}\" tcStart=\"0s\" tcFormat=\"NDF\" audioLayout=\"stereo\" audioRate=\"{}\">\n          <spine>\n",
        seconds(total, rate),
        if cut.audio_rate == 44_100 { "44.1k" } else { "48k" }
    ));
    out.push_str(&indent(&body, 12));
    out.push_str("          </spine>\n        </sequence>\n      </project>\n    </event>\n  </library>\n</fcpxml>\n");
    out
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The resource id of Final Cut's Basic Title, which slugs are written as.
const TITLE_EFFECT: &str = "r1t";

/// One clip as `asset-clip` (or `title` for a slug); `lane` = (lane, offset in the parent's
/// time) for connected clips; storyline clips get their offset filled in by the caller.
/// `children` (connected clips) go before the metadata, as the DTD orders them.
fn clip_element(
    clip: &CutClip,
    lane: Option<(i64, i64)>,
    enabled: bool,
    rate: Rate,
    asset_id: &mut dyn FnMut(&Media, &str, i64) -> String,
    children: &[String],
) -> String {
    let offset = match lane {
        Some((_, offset)) => format!(" offset=\"{}\"", seconds(offset, rate)),
        None => " offset=\"PLACE\"".to_owned(),
    };
    let lane_attr = lane
        .map(|(l, _)| format!(" lane=\"{l}\""))
        .unwrap_or_default();
    let enabled_attr = if enabled { "" } else { " enabled=\"0\"" };
    let timing = format!(
        "start=\"{}\" duration=\"{}\"",
        seconds(clip.source_in, rate),
        seconds(clip.duration, rate)
    );
    let name = xml_escape(&clip.name);
    let mut inner = String::new();
    let (tag, head) = match &clip.media {
        Some(media) => {
            let id = asset_id(media, &clip.name, clip.source_in + clip.duration);
            (
                "asset-clip",
                format!(
                    "<asset-clip ref=\"{id}\"{lane_attr}{offset} name=\"{name}\" {timing}{enabled_attr}"
                ),
            )
        }
        None => {
            // A slug (or media-less clip) as a Basic Title with its text.
            let text = xml_escape(clip.origin.slug.as_deref().unwrap_or(&clip.name));
            inner.push_str(&format!(
                "  <text>\n    <text-style>{text}</text-style>\n  </text>\n"
            ));
            (
                "title",
                format!(
                    "<title ref=\"{TITLE_EFFECT}\"{lane_attr}{offset} name=\"{name}\" {timing}{enabled_attr}"
                ),
            )
        }
    };
    for child in children {
        inner.push_str(&indent(child, 2));
    }
    if let Some(item) = clip.origin.item {
        inner.push_str(&format!(
            "  <metadata>\n    <md key=\"{ITEM_KEY}\" value=\"{item}\"/>\n  </metadata>\n"
        ));
    }
    if inner.is_empty() {
        format!("{head}/>\n")
    } else {
        format!("{head}>\n{inner}</{tag}>\n")
    }
}

/// Parses FCPXML rational seconds (`1001/24000s`, `3s`, `0s`) into frames at `rate`.
fn parse_seconds(text: &str, rate: Rate) -> Option<i64> {
    let text = text.trim().strip_suffix('s')?;
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (
            n.trim().parse::<i128>().ok()?,
            d.trim().parse::<i128>().ok()?,
        ),
        None => {
            if let Ok(n) = text.parse::<i128>() {
                (n, 1)
            } else {
                let f = text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.abs() < 1e9)?;
                #[allow(clippy::cast_possible_truncation)]
                ((f * 1_000_000.0).round() as i128, 1_000_000)
            }
        }
    };
    if den <= 0 {
        return None;
    }
    // frames = seconds × rate = num/den × rnum/rden, rounded to nearest.
    let n = num.checked_mul(i128::from(rate.numerator()))?;
    let d = den.checked_mul(i128::from(rate.denominator()))?;
    let q = n
        .checked_mul(2)?
        .checked_add(d)?
        .div_euclid(d.checked_mul(2)?);
    // Beyond a trillion frames (a million hours) a time is damage, not an edit.
    (q.abs() <= 1_000_000_000_000)
        .then(|| i64::try_from(q).ok())
        .flatten()
}

/// Reads an FCPXML document (the first sequence found) into a cut. `file` names it in errors.
pub fn read(text: &str, file: &str) -> Result<Cut, ImportError> {
    let doc = super::parse_xml(text).map_err(|e| {
        ImportError::new(
            file,
            Some(e.pos().row as usize),
            format!("not well-formed XML ({e}); an FCPXML file is XML written by Final Cut Pro or Resolve"),
        )
    })?;
    let root = doc.root_element();
    if !root.has_tag_name("fcpxml") {
        return Err(ImportError::new(
            file,
            Some(1),
            format!(
                "the root element is <{}>, expected <fcpxml>",
                root.tag_name().name()
            ),
        ));
    }
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    let sequence = root
        .descendants()
        .find(|n| n.has_tag_name("sequence"))
        .ok_or_else(|| {
            ImportError::new(
                file,
                None,
                "no <sequence> found; export a project (timeline), not only clips",
            )
        })?;
    let formats: HashMap<&str, roxmltree::Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("format"))
        .filter_map(|n| Some((n.attribute("id")?, n)))
        .collect();
    let assets: HashMap<&str, roxmltree::Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("asset"))
        .filter_map(|n| Some((n.attribute("id")?, n)))
        .collect();
    let format = sequence
        .attribute("format")
        .and_then(|id| formats.get(id))
        .ok_or_else(|| {
            ImportError::new(
                file,
                Some(line_of(sequence)),
                "the sequence names no <format> found in <resources>",
            )
        })?;
    let rate = format
        .attribute("frameDuration")
        .and_then(|fd| {
            let fd = fd.strip_suffix('s')?;
            let (n, d) = fd.split_once('/').unwrap_or((fd, "1"));
            let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
            rate_from_f64(d / n)
        })
        .ok_or_else(|| {
            ImportError::new(
                file,
                Some(line_of(*format)),
                "the format has no usable frameDuration (expected like 1001/24000s)",
            )
        })?;
    let time =
        |node: roxmltree::Node, attr: &str, default: Option<i64>| -> Result<i64, ImportError> {
            match node.attribute(attr) {
            Some(v) => parse_seconds(v, rate).ok_or_else(|| {
                ImportError::new(
                    file,
                    Some(line_of(node)),
                    format!(
                        "{attr}=\"{v}\" is not a time; expected rational seconds like 1001/24000s"
                    ),
                )
            }),
            None => default.ok_or_else(|| {
                ImportError::new(
                    file,
                    Some(line_of(node)),
                    format!("<{}> has no {attr}", node.tag_name().name()),
                )
            }),
        }
        };
    let spine = sequence
        .children()
        .find(|n| n.has_tag_name("spine"))
        .ok_or_else(|| {
            ImportError::new(file, Some(line_of(sequence)), "the sequence has no <spine>")
        })?;
    let tc_start = time(sequence, "tcStart", Some(0))?;
    // (lane, record start, clip) for everything placed.
    let mut placed: Vec<(i64, i64, CutClip)> = Vec::new();
    let mut record = 0i64;
    let clip_of = |node: roxmltree::Node, duration: i64, start: i64| -> CutClip {
        let media = node
            .attribute("ref")
            .and_then(|id| assets.get(id))
            .and_then(|asset| {
                let src = asset
                    .children()
                    .find(|c| c.has_tag_name("media-rep"))
                    .and_then(|m| m.attribute("src"))
                    .or_else(|| asset.attribute("src"))?;
                let path = path_from_url(src);
                let kind = if asset.attribute("hasVideo") == Some("1") {
                    if asset.attribute("duration").is_some_and(|d| d == "0s") {
                        MediaKind::Still
                    } else {
                        media_kind(&path)
                    }
                } else {
                    MediaKind::Audio
                };
                Some(Media {
                    path,
                    kind,
                    available: None,
                })
            });
        // The clip's own metadata (not that of clips connected to it).
        let item = node
            .children()
            .filter(|n| n.has_tag_name("metadata"))
            .flat_map(|m| m.children())
            .filter(|n| n.has_tag_name("md"))
            .find(|n| n.attribute("key") == Some(ITEM_KEY))
            .and_then(|n| n.attribute("value"))
            .and_then(|v| v.parse().ok());
        let slug = node.has_tag_name("title").then(|| {
            node.descendants()
                .filter(|n| n.has_tag_name("text-style"))
                .filter_map(|n| n.text())
                .collect::<String>()
        });
        CutClip {
            name: node.attribute("name").unwrap_or("").to_owned(),
            source_in: if media.as_ref().is_some_and(|m| m.kind == MediaKind::Still) {
                0
            } else {
                start
            },
            duration,
            media,
            origin: Origin {
                item,
                slug,
                ..Origin::default()
            },
        }
    };
    const CLIPS: [&str; 7] = [
        "asset-clip",
        "clip",
        "video",
        "audio",
        "ref-clip",
        "title",
        "mc-clip",
    ];
    for element in spine.children().filter(roxmltree::Node::is_element) {
        let tag = element.tag_name().name();
        if tag == "transition" {
            continue;
        }
        let offset = time(element, "offset", Some(record + tc_start))? - tc_start;
        let duration = time(element, "duration", None)?;
        if duration < 0 {
            return Err(ImportError::new(
                file,
                Some(line_of(element)),
                "a negative duration",
            ));
        }
        let start = time(element, "start", Some(0))?;
        if CLIPS.contains(&tag) {
            placed.push((0, offset, clip_of(element, duration, start)));
        } else if tag != "gap" {
            record = offset + duration;
            continue;
        }
        // Connected clips: offsets are in this element's source time.
        for child in element
            .children()
            .filter(|c| CLIPS.contains(&c.tag_name().name()) || c.has_tag_name("gap"))
        {
            let Some(lane) = child.attribute("lane").and_then(|l| l.parse::<i64>().ok()) else {
                continue;
            };
            if child.has_tag_name("gap") {
                continue;
            }
            let child_offset = time(child, "offset", None)?;
            let child_duration = time(child, "duration", None)?;
            let child_start = time(child, "start", Some(0))?;
            placed.push((
                lane,
                offset + (child_offset - start),
                clip_of(child, child_duration, child_start),
            ));
        }
        record = offset + duration;
    }
    let mut lanes: Vec<i64> = placed.iter().map(|(l, _, _)| *l).collect();
    lanes.sort_unstable();
    lanes.dedup();
    // Tracks bottom to top as our timelines have them: the storyline and video lanes first
    // (video 0, 1, 2...), then audio lanes (-1, -2...).
    let mut ordered: Vec<i64> = lanes.iter().copied().filter(|l| *l >= 0).collect();
    ordered.extend(lanes.iter().copied().filter(|l| *l < 0).rev());
    if !ordered.contains(&0) {
        ordered.insert(0, 0);
    }
    let mut tracks = Vec::with_capacity(ordered.len());
    for lane in ordered {
        let mut clips: Vec<(i64, CutClip)> = placed
            .iter()
            .filter(|(l, _, _)| *l == lane)
            .map(|(_, s, c)| (*s, c.clone()))
            .collect();
        clips.sort_by_key(|(s, _)| *s);
        let kind = if lane < 0
            || (lane != 0
                && clips
                    .iter()
                    .all(|(_, c)| c.media.as_ref().is_some_and(|m| m.kind == MediaKind::Audio)))
        {
            TrackKind::Audio
        } else {
            TrackKind::Video
        };
        let mut items = Vec::new();
        let mut at = 0;
        for (start, clip) in clips {
            if start < at {
                return Err(ImportError::new(
                    file,
                    None,
                    format!(
                        "clips '{}' overlaps the clip before it on lane {lane}; conform reads one clip at a time per lane",
                        clip.name
                    ),
                ));
            }
            if start > at {
                items.push(CutItem::Gap(start - at));
            }
            at = start + clip.duration;
            items.push(CutItem::Clip(clip));
        }
        tracks.push(CutTrack {
            name: if lane == 0 {
                "V1".to_owned()
            } else {
                format!("lane {lane}")
            },
            kind,
            enabled: true,
            items,
            id: None,
        });
    }
    let project_name = sequence
        .parent()
        .filter(|p| p.has_tag_name("project"))
        .and_then(|p| p.attribute("name"))
        .unwrap_or("");
    Ok(Cut {
        name: project_name.to_owned(),
        rate,
        start_frame: tc_start,
        width: format
            .attribute("width")
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
        height: format
            .attribute("height")
            .and_then(|h| h.parse().ok())
            .unwrap_or(0),
        audio_rate: 48_000,
        tracks,
        markers: Vec::new(),
        project: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use previz_core::ids::ItemId;
    use proptest::prelude::*;

    fn clip(name: &str, kind: MediaKind, duration: i64) -> CutItem {
        let ext = if kind == MediaKind::Audio {
            "wav"
        } else {
            "png"
        };
        CutItem::Clip(CutClip {
            name: name.into(),
            source_in: 0,
            duration,
            media: Some(Media {
                path: format!("/nas/{name}.{ext}").into(),
                kind,
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
            rate: Rate::FPS_23_976,
            start_frame: 0,
            width: 2048,
            height: 858,
            audio_rate: 48_000,
            tracks: vec![
                CutTrack {
                    name: "V1".into(),
                    kind: TrackKind::Video,
                    enabled: true,
                    items: vec![
                        clip("1.1", MediaKind::Still, 72),
                        CutItem::Gap(24),
                        clip("1.2", MediaKind::Still, 30),
                    ],
                    id: None,
                },
                CutTrack {
                    name: "A1".into(),
                    kind: TrackKind::Audio,
                    enabled: true,
                    items: vec![
                        CutItem::Gap(10),
                        clip("line1", MediaKind::Audio, 40),
                        CutItem::Gap(40),
                        clip("line2", MediaKind::Audio, 50),
                    ],
                    id: None,
                },
            ],
            markers: vec![],
            project: None,
        }
    }

    #[test]
    fn rational_seconds() {
        assert_eq!(seconds(1, Rate::FPS_23_976), "1001/24000s");
        assert_eq!(seconds(48, Rate::FPS_24), "2s");
        assert_eq!(seconds(36, Rate::FPS_24), "3/2s");
        assert_eq!(parse_seconds("1001/24000s", Rate::FPS_23_976), Some(1));
        assert_eq!(parse_seconds("3600s", Rate::FPS_24), Some(86_400));
        assert_eq!(parse_seconds("1.5s", Rate::FPS_24), Some(36));
        assert_eq!(parse_seconds("x", Rate::FPS_24), None);
        assert_eq!(parse_seconds("1/0s", Rate::FPS_24), None);
    }

    #[test]
    fn storyline_and_lanes_read_back() {
        let original = cut();
        let text = write(&original);
        crate::interchange::parse_xml(&text).unwrap();
        let back = read(&text, "cut.fcpxml").unwrap();
        assert_eq!(back.rate, Rate::FPS_23_976);
        assert_eq!(back.tracks.len(), 2);
        assert_eq!(back.tracks[0].items, original.tracks[0].items);
        assert_eq!(back.tracks[1].items, original.tracks[1].items);
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("<fcpxml>\n<oops", "cut.fcpxml").unwrap_err();
        assert!(err.line.is_some(), "{err}");
        let err = read("<xmeml/>", "cut.fcpxml").unwrap_err();
        assert!(err.message.contains("expected <fcpxml>"), "{err}");
    }

    proptest! {
        #[test]
        fn reading_never_panics(text in "\\PC{0,200}") {
            let _ = read(&text, "fuzz.fcpxml");
        }

        #[test]
        fn damaged_documents_never_panic(at in 0usize..3000, byte in 0x20u8..0x7f) {
            let mut bytes = write(&cut()).into_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            let text = String::from_utf8(bytes).unwrap_or_default();
            let _ = read(&text, "fuzz.fcpxml");
        }
    }
}
