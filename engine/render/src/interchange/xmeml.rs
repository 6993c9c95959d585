//! Final Cut Pro 7 XML (`xmeml` version 4, what Premiere Pro and Resolve import): one sequence
//! with its video and audio tracks, `clipitem`s placed by `start` / `end` in sequence frames
//! and trimmed by `in` / `out` in source frames, each with a `file` (a `file://` `pathurl`,
//! declared once and referenced by id after), slugs as Text `generatoritem`s, and the
//! timeline's markers on the sequence. Rates are FCP's `timebase` + `ntsc` pairs.

use std::collections::HashMap;
use std::path::PathBuf;

use previz_core::time::{Rate, RationalTime};
use previz_core::timeline::TrackKind;

use super::cut::{Cut, CutClip, MediaKind};
use super::{file_url, xml_escape};

/// FCP 7's rate: an integer timebase, NTSC when the real rate is timebase × 1000/1001.
fn rate_xml(rate: Rate, indent: &str) -> String {
    let ntsc = rate.denominator() == 1001;
    format!(
        "{indent}<rate>\n{indent}  <timebase>{}</timebase>\n{indent}  <ntsc>{}</ntsc>\n{indent}</rate>\n",
        rate.timecode_base(),
        if ntsc { "TRUE" } else { "FALSE" }
    )
}

struct Writer<'a> {
    cut: &'a Cut,
    out: String,
    files: HashMap<PathBuf, String>,
    next_clip: usize,
}

impl Writer<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn element(&mut self, indent: usize, name: &str, value: impl std::fmt::Display) {
        let text = xml_escape(&value.to_string());
        self.line(indent, &format!("<{name}>{text}</{name}>"));
    }

    fn rate(&mut self, indent: usize) {
        let pad = "  ".repeat(indent);
        let text = rate_xml(self.cut.rate, &pad);
        self.out.push_str(&text);
    }

    fn file(&mut self, indent: usize, clip: &CutClip, kind: TrackKind) {
        let Some(media) = &clip.media else {
            // Offline media: a file with a name and no path, as FCP writes for missing media.
            let id = format!("file-offline-{}", self.next_clip);
            self.line(indent, &format!("<file id=\"{id}\">"));
            self.element(indent + 1, "name", &clip.name);
            self.rate(indent + 1);
            self.element(indent + 1, "duration", clip.source_in + clip.duration);
            self.line(indent, "</file>");
            return;
        };
        if let Some(id) = self.files.get(&media.path) {
            let id = id.clone();
            self.line(indent, &format!("<file id=\"{id}\"/>"));
            return;
        }
        let id = format!("file-{}", self.files.len() + 1);
        self.files.insert(media.path.clone(), id.clone());
        self.line(indent, &format!("<file id=\"{id}\">"));
        let name = media
            .path
            .file_name()
            .map_or_else(|| clip.name.clone(), |n| n.to_string_lossy().into_owned());
        self.element(indent + 1, "name", name);
        self.element(indent + 1, "pathurl", file_url(&media.path));
        self.rate(indent + 1);
        let duration = media
            .available
            .unwrap_or(clip.source_in + clip.duration)
            .max(clip.source_in + clip.duration);
        self.element(indent + 1, "duration", duration);
        self.line(indent + 1, "<media>");
        match (kind, media.kind) {
            (TrackKind::Audio, _) | (_, MediaKind::Audio) => {
                self.line(indent + 2, "<audio>");
                self.line(indent + 3, "<samplecharacteristics>");
                self.element(indent + 4, "depth", 16);
                self.element(indent + 4, "samplerate", self.cut.audio_rate);
                self.line(indent + 3, "</samplecharacteristics>");
                self.element(indent + 3, "channelcount", 1);
                self.line(indent + 2, "</audio>");
            }
            _ => {
                self.line(indent + 2, "<video>");
                self.line(indent + 3, "<samplecharacteristics>");
                self.rate(indent + 4);
                self.element(indent + 4, "width", self.cut.width);
                self.element(indent + 4, "height", self.cut.height);
                self.element(indent + 4, "pixelaspectratio", "square");
                self.line(indent + 3, "</samplecharacteristics>");
                self.line(indent + 2, "</video>");
            }
        }
        self.line(indent + 1, "</media>");
        self.line(indent, "</file>");
    }

    fn clip(&mut self, indent: usize, start: i64, clip: &CutClip, kind: TrackKind) {
        self.next_clip += 1;
        let id = format!("clipitem-{}", self.next_clip);
        let slug = clip.media.is_none() && clip.origin.slug.is_some();
        let tag = if slug { "generatoritem" } else { "clipitem" };
        self.line(indent, &format!("<{tag} id=\"{id}\">"));
        self.element(indent + 1, "name", &clip.name);
        self.element(indent + 1, "enabled", "TRUE");
        let source_length = clip
            .media
            .as_ref()
            .and_then(|m| m.available)
            .unwrap_or(clip.source_in + clip.duration)
            .max(clip.source_in + clip.duration);
        self.element(indent + 1, "duration", source_length);
        self.rate(indent + 1);
        self.element(indent + 1, "start", start);
        self.element(indent + 1, "end", start + clip.duration);
        self.element(indent + 1, "in", clip.source_in);
        self.element(indent + 1, "out", clip.source_in + clip.duration);
        if slug {
            let text = clip.origin.slug.clone().unwrap_or_default();
            self.line(indent + 1, "<effect>");
            self.element(indent + 2, "name", "Text");
            self.element(indent + 2, "effectid", "Text");
            self.element(indent + 2, "effectcategory", "Text");
            self.element(indent + 2, "effecttype", "generator");
            self.element(indent + 2, "mediatype", "video");
            self.line(indent + 2, "<parameter>");
            self.element(indent + 3, "parameterid", "str");
            self.element(indent + 3, "name", "Text");
            self.element(indent + 3, "value", text);
            self.line(indent + 2, "</parameter>");
            self.line(indent + 1, "</effect>");
        } else {
            self.file(indent + 1, clip, kind);
        }
        if kind == TrackKind::Audio {
            self.line(indent + 1, "<sourcetrack>");
            self.element(indent + 2, "mediatype", "audio");
            self.element(indent + 2, "trackindex", 1);
            self.line(indent + 1, "</sourcetrack>");
        }
        let comment = clip_comment(clip);
        if !comment.is_empty() {
            self.line(indent + 1, "<comments>");
            self.element(indent + 2, "mastercomment1", comment);
            self.line(indent + 1, "</comments>");
        }
        self.line(indent, &format!("</{tag}>"));
    }
}

/// What the bin's comment column shows: where the clip came from.
fn clip_comment(clip: &CutClip) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &clip.origin.shot_number {
        parts.push(format!("shot {n}"));
    }
    if let Some(p) = &clip.origin.provenance {
        if let Some(model) = &p.model_id {
            parts.push(format!("model {model}"));
        }
        if let Some(seed) = p.seed {
            parts.push(format!("seed {seed}"));
        }
    }
    if let Some(item) = clip.origin.item {
        parts.push(format!("previz item {item}"));
    }
    parts.join("; ")
}

/// The cut as an FCP 7 XML document.
#[must_use]
pub fn write(cut: &Cut) -> String {
    let mut w = Writer {
        cut,
        out: String::new(),
        files: HashMap::new(),
        next_clip: 0,
    };
    w.line(0, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    w.line(0, "<!DOCTYPE xmeml>");
    w.line(0, "<xmeml version=\"4\">");
    w.line(1, "<sequence id=\"sequence-1\">");
    w.element(2, "name", &cut.name);
    w.element(2, "duration", cut.duration());
    w.rate(2);
    w.line(2, "<timecode>");
    w.rate(3);
    w.element(
        3,
        "string",
        RationalTime::new(cut.start_frame, cut.rate).to_timecode(false),
    );
    w.element(3, "frame", cut.start_frame);
    w.element(3, "displayformat", "NDF");
    w.line(2, "</timecode>");
    w.line(2, "<media>");
    for kind in [TrackKind::Video, TrackKind::Audio] {
        let tag = if kind == TrackKind::Video {
            "video"
        } else {
            "audio"
        };
        w.line(3, &format!("<{tag}>"));
        w.line(4, "<format>");
        w.line(5, "<samplecharacteristics>");
        if kind == TrackKind::Video {
            w.rate(6);
            w.element(6, "width", cut.width);
            w.element(6, "height", cut.height);
            w.element(6, "pixelaspectratio", "square");
        } else {
            w.element(6, "depth", 16);
            w.element(6, "samplerate", cut.audio_rate);
        }
        w.line(5, "</samplecharacteristics>");
        w.line(4, "</format>");
        for track in cut.tracks.iter().filter(|t| t.kind == kind) {
            w.line(4, "<track>");
            w.element(5, "enabled", if track.enabled { "TRUE" } else { "FALSE" });
            w.element(5, "locked", "FALSE");
            for (start, clip) in track.clips() {
                w.clip(5, start, clip, kind);
            }
            w.line(4, "</track>");
        }
        w.line(3, &format!("</{tag}>"));
    }
    w.line(2, "</media>");
    for marker in &cut.markers {
        w.line(2, "<marker>");
        w.element(3, "name", &marker.name);
        w.element(3, "comment", &marker.note);
        w.element(3, "in", marker.frame);
        let out = if marker.duration > 0 {
            marker.frame + marker.duration
        } else {
            -1
        };
        w.element(3, "out", out);
        w.line(2, "</marker>");
    }
    w.line(1, "</sequence>");
    w.line(0, "</xmeml>");
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::cut::{CutItem, CutTrack, Media, Origin};

    #[test]
    fn xmeml_is_well_formed_and_places_clips() {
        let clip = |name: &str, path: &str| {
            CutItem::Clip(CutClip {
                name: name.into(),
                source_in: 0,
                duration: 48,
                media: Some(Media {
                    path: path.into(),
                    kind: MediaKind::Still,
                    available: None,
                }),
                origin: Origin::default(),
            })
        };
        let cut = Cut {
            name: "A & B".into(),
            rate: Rate::FPS_23_976,
            start_frame: 86_400,
            width: 1920,
            height: 804,
            audio_rate: 48_000,
            tracks: vec![CutTrack {
                name: "V1".into(),
                kind: TrackKind::Video,
                enabled: true,
                items: vec![clip("1", "/a.png"), CutItem::Gap(10), clip("2", "/a.png")],
                id: None,
            }],
            markers: vec![],
            project: None,
        };
        let text = write(&cut);
        let doc = crate::interchange::parse_xml(&text).unwrap();
        let items: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("clipitem"))
            .collect();
        assert_eq!(items.len(), 2);
        let start = |n: &roxmltree::Node| {
            n.children()
                .find(|c| c.has_tag_name("start"))
                .and_then(|c| c.text())
                .unwrap()
                .to_owned()
        };
        assert_eq!(start(&items[1]), "58");
        // The second use of a file refers to the first by id.
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("pathurl"))
                .count(),
            1
        );
        assert!(text.contains("<ntsc>TRUE</ntsc>") && text.contains("A &amp; B"));
    }
}
