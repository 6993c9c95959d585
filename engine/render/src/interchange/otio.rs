//! OpenTimelineIO (`.otio`, JSON) per the OTIO file-format spec: `Timeline.1` holding a
//! `Stack.1` of `Track.1`s of `Clip.2` / `Gap.1`, times as `RationalTime.1` / `TimeRange.1`,
//! media as `ExternalReference.1` (file URLs), slugs as `GeneratorReference.1`, markers as
//! `Marker.2`. Our ids and each take's provenance ride in `metadata["previz"]`, which OTIO
//! tools carry through edits, so a cut edited elsewhere conforms clip by clip.

use serde_json::{Map, Value, json};

use previz_core::ids::{ItemId, LineId, ShotId, TakeId, TrackId};
use previz_core::shot::ContentHash;
use previz_core::time::Rate;
use previz_core::timeline::{MarkerColor, TrackKind};

use super::cut::{Cut, CutClip, CutItem, CutMarker, CutTrack, Media, MediaKind, Origin};
use super::timecode::rate_from_f64;
use super::{ImportError, file_url, path_from_url};

/// The key our metadata lives under.
const NAMESPACE: &str = "previz";

fn rt(value: i64, rate: Rate) -> Value {
    #[allow(clippy::cast_precision_loss)] // frame counts far below 2^53
    let value = value as f64;
    json!({"OTIO_SCHEMA": "RationalTime.1", "rate": rate.as_f64(), "value": value})
}

fn range(start: i64, duration: i64, rate: Rate) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "duration": rt(duration, rate),
        "start_time": rt(start, rate),
    })
}

fn color_name(color: MarkerColor) -> &'static str {
    match color {
        MarkerColor::Red => "RED",
        MarkerColor::Orange => "ORANGE",
        MarkerColor::Yellow => "YELLOW",
        MarkerColor::Green => "GREEN",
        MarkerColor::Cyan => "CYAN",
        MarkerColor::Blue => "BLUE",
        MarkerColor::Purple => "PURPLE",
        MarkerColor::Magenta => "MAGENTA",
        MarkerColor::Pink => "PINK",
        MarkerColor::White => "WHITE",
        MarkerColor::Black => "BLACK",
    }
}

fn color_from_name(name: &str) -> MarkerColor {
    match name.to_ascii_uppercase().as_str() {
        "ORANGE" => MarkerColor::Orange,
        "YELLOW" => MarkerColor::Yellow,
        "GREEN" => MarkerColor::Green,
        "CYAN" => MarkerColor::Cyan,
        "BLUE" => MarkerColor::Blue,
        "PURPLE" => MarkerColor::Purple,
        "MAGENTA" => MarkerColor::Magenta,
        "PINK" => MarkerColor::Pink,
        "WHITE" => MarkerColor::White,
        "BLACK" => MarkerColor::Black,
        _ => MarkerColor::Red,
    }
}

fn origin_metadata(origin: &Origin) -> Value {
    let mut ours = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            ours.insert(key.to_owned(), Value::String(v));
        }
    };
    put("item", origin.item.map(|v| v.to_string()));
    put("shot", origin.shot.map(|v| v.to_string()));
    put("take", origin.take.map(|v| v.to_string()));
    put("line", origin.line.map(|v| v.to_string()));
    put("asset", origin.asset.map(|v| v.to_string()));
    put("scene_number", origin.scene_number.clone());
    put("shot_number", origin.shot_number.clone());
    if let Some(p) = &origin.provenance
        && let Ok(v) = serde_json::to_value(p)
    {
        ours.insert("provenance".to_owned(), v);
    }
    json!({ NAMESPACE: ours })
}

fn media_reference(clip: &CutClip, rate: Rate) -> Value {
    match (&clip.media, &clip.origin.slug) {
        (Some(media), _) => {
            let available = match media.available {
                // Never shorter than what the clip uses (a take measured in samples can round
                // a frame short of the clip that plays it).
                Some(frames) => range(0, frames.max(clip.source_in + clip.duration), rate),
                // A still lasts as long as it is held.
                None => range(0, clip.source_in + clip.duration, rate),
            };
            json!({
                "OTIO_SCHEMA": "ExternalReference.1",
                "name": media.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                "target_url": file_url(&media.path),
                "available_range": available,
                "available_image_bounds": null,
                "metadata": {},
            })
        }
        (None, Some(text)) => json!({
            "OTIO_SCHEMA": "GeneratorReference.1",
            "name": "",
            "generator_kind": "Slug",
            "parameters": {"text": text},
            "available_range": null,
            "available_image_bounds": null,
            "metadata": {},
        }),
        (None, None) => json!({
            "OTIO_SCHEMA": "MissingReference.1",
            "name": "",
            "available_range": null,
            "available_image_bounds": null,
            "metadata": {},
        }),
    }
}

fn item_json(item: &CutItem, rate: Rate) -> Value {
    match item {
        CutItem::Gap(frames) => json!({
            "OTIO_SCHEMA": "Gap.1",
            "name": "",
            "source_range": range(0, *frames, rate),
            "effects": [],
            "markers": [],
            "enabled": true,
            "metadata": {},
        }),
        CutItem::Clip(clip) => json!({
            "OTIO_SCHEMA": "Clip.2",
            "name": clip.name,
            "source_range": range(clip.source_in, clip.duration, rate),
            "media_references": {"DEFAULT_MEDIA": media_reference(clip, rate)},
            "active_media_reference_key": "DEFAULT_MEDIA",
            "effects": [],
            "markers": [],
            "enabled": true,
            "metadata": origin_metadata(&clip.origin),
        }),
    }
}

fn marker_json(marker: &CutMarker, rate: Rate) -> Value {
    json!({
        "OTIO_SCHEMA": "Marker.2",
        "name": marker.name,
        "color": color_name(marker.color),
        "marked_range": range(marker.frame, marker.duration, rate),
        "comment": marker.note,
        "metadata": {},
    })
}

/// The cut as an `.otio` document (pretty-printed JSON).
#[must_use]
pub fn write(cut: &Cut) -> String {
    let rate = cut.rate;
    let tracks: Vec<Value> = cut
        .tracks
        .iter()
        .map(|track| {
            let mut ours = Map::new();
            if let Some(id) = track.id {
                ours.insert("track".to_owned(), Value::String(id.to_string()));
            }
            json!({
                "OTIO_SCHEMA": "Track.1",
                "name": track.name,
                "kind": match track.kind { TrackKind::Video => "Video", TrackKind::Audio => "Audio" },
                "children": track.items.iter().map(|i| item_json(i, rate)).collect::<Vec<_>>(),
                "source_range": null,
                "effects": [],
                "markers": [],
                "enabled": track.enabled,
                "metadata": { NAMESPACE: ours },
            })
        })
        .collect();
    let mut ours = Map::new();
    ours.insert("rate".to_owned(), Value::String(rate.to_string()));
    ours.insert("frame_size".to_owned(), json!([cut.width, cut.height]));
    ours.insert("audio_rate".to_owned(), json!(cut.audio_rate));
    if let Some((id, title)) = &cut.project {
        ours.insert("project".to_owned(), Value::String(id.clone()));
        ours.insert("title".to_owned(), Value::String(title.clone()));
    }
    ours.insert(
        "exporter".to_owned(),
        Value::String(format!("previz-render {}", env!("CARGO_PKG_VERSION"))),
    );
    let doc = json!({
        "OTIO_SCHEMA": "Timeline.1",
        "name": cut.name,
        "global_start_time": rt(cut.start_frame, rate),
        "metadata": { NAMESPACE: ours },
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "name": "tracks",
            "children": tracks,
            "source_range": null,
            "effects": [],
            "markers": cut.markers.iter().map(|m| marker_json(m, rate)).collect::<Vec<_>>(),
            "enabled": true,
            "metadata": {},
        },
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads an `.otio` document. `file` names it in errors.
pub fn read(text: &str, file: &str) -> Result<Cut, ImportError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        ImportError::new(
            file,
            Some(e.line()),
            format!("not valid JSON ({e}); an .otio file is JSON written by OpenTimelineIO"),
        )
    })?;
    Reader { file }.timeline(&doc)
}

struct Reader<'a> {
    file: &'a str,
}

/// A rational time read from the file: value at a float rate.
#[derive(Clone, Copy)]
struct Time {
    value: f64,
    rate: f64,
}

impl Reader<'_> {
    fn error(&self, at: &str, message: impl std::fmt::Display) -> ImportError {
        ImportError::new(
            self.file,
            None,
            format!("{at}: {message}; re-export it from OpenTimelineIO 0.15 or later"),
        )
    }

    fn schema<'v>(
        &self,
        value: &'v Value,
        at: &str,
    ) -> Result<(&'v str, &'v Map<String, Value>), ImportError> {
        let object = value
            .as_object()
            .ok_or_else(|| self.error(at, "expected an OTIO object"))?;
        let schema = object
            .get("OTIO_SCHEMA")
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(at, "expected an \"OTIO_SCHEMA\" field"))?;
        Ok((schema.split('.').next().unwrap_or(schema), object))
    }

    fn time(&self, value: Option<&Value>, at: &str) -> Result<Time, ImportError> {
        let value = value.ok_or_else(|| self.error(at, "expected a RationalTime"))?;
        let (schema, object) = self.schema(value, at)?;
        if schema != "RationalTime" {
            return Err(self.error(at, format!("expected a RationalTime, found {schema}")));
        }
        let number = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
                .ok_or_else(|| self.error(at, format!("expected a number in \"{key}\"")))
        };
        let time = Time {
            value: number("value")?,
            rate: number("rate")?,
        };
        if time.rate <= 0.0 {
            return Err(self.error(at, "a rate must be positive"));
        }
        Ok(time)
    }

    /// (start, duration) of a TimeRange, as times.
    fn range(&self, value: Option<&Value>, at: &str) -> Result<Option<(Time, Time)>, ImportError> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let (schema, object) = self.schema(value, at)?;
        if schema != "TimeRange" {
            return Err(self.error(at, format!("expected a TimeRange, found {schema}")));
        }
        Ok(Some((
            self.time(object.get("start_time"), &format!("{at}.start_time"))?,
            self.time(object.get("duration"), &format!("{at}.duration"))?,
        )))
    }

    fn frames(&self, time: Time, rate: Rate, at: &str) -> Result<i64, ImportError> {
        let exact = time.value * rate.as_f64() / time.rate;
        if !exact.is_finite() || exact.abs() > 1e12 {
            return Err(self.error(at, "the time is out of range"));
        }
        // Snap to the exact rational when the file's rate is ours (floats of 23.976...).
        if let Some(r) = rate_from_f64(time.rate)
            && r == rate
        {
            #[allow(clippy::cast_possible_truncation)] // checked above
            return Ok(time.value.round() as i64);
        }
        #[allow(clippy::cast_possible_truncation)]
        let frames = exact.round() as i64;
        Ok(frames)
    }

    fn timeline(&self, doc: &Value) -> Result<Cut, ImportError> {
        let (schema, object) = self.schema(doc, "the document")?;
        if schema != "Timeline" {
            return Err(self.error(
                "the document",
                format!("expected a Timeline at the top, found {schema}"),
            ));
        }
        let ours = object
            .get("metadata")
            .and_then(|m| m.get(NAMESPACE))
            .and_then(Value::as_object);
        let stack = object
            .get("tracks")
            .ok_or_else(|| self.error("the timeline", "expected \"tracks\" (a Stack)"))?;
        let (stack_schema, stack) = self.schema(stack, "tracks")?;
        if stack_schema != "Stack" {
            return Err(self.error("tracks", format!("expected a Stack, found {stack_schema}")));
        }
        let children = stack
            .get("children")
            .and_then(Value::as_array)
            .ok_or_else(|| self.error("tracks", "expected a \"children\" list"))?;
        // Our rate when we wrote the file; else the rate of the first time found.
        let start = object
            .get("global_start_time")
            .filter(|v| !v.is_null())
            .map(|v| self.time(Some(v), "global_start_time"))
            .transpose()?;
        let rate = ours
            .and_then(|o| o.get("rate"))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<Rate>().ok())
            .or_else(|| start.and_then(|t| rate_from_f64(t.rate)))
            .or_else(|| first_rate(stack).and_then(rate_from_f64))
            .unwrap_or(Rate::FPS_24);
        let mut tracks = Vec::with_capacity(children.len());
        for (t, child) in children.iter().enumerate() {
            tracks.push(self.track(child, rate, &format!("tracks.children[{t}]"))?);
        }
        let mut markers = Vec::new();
        if let Some(list) = stack.get("markers").and_then(Value::as_array) {
            for (m, marker) in list.iter().enumerate() {
                let at = format!("tracks.markers[{m}]");
                let (_, object) = self.schema(marker, &at)?;
                let (start, duration) = self
                    .range(object.get("marked_range"), &format!("{at}.marked_range"))?
                    .ok_or_else(|| self.error(&at, "expected a marked_range"))?;
                markers.push(CutMarker {
                    frame: self.frames(start, rate, &at)?,
                    duration: self.frames(duration, rate, &at)?.max(0),
                    name: str_field(object, "name"),
                    color: color_from_name(&str_field(object, "color")),
                    note: str_field(object, "comment"),
                });
            }
        }
        let frame_size = ours
            .and_then(|o| o.get("frame_size"))
            .and_then(Value::as_array)
            .map(|a| {
                let dim = |i: usize| {
                    a.get(i)
                        .and_then(Value::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(0)
                };
                (dim(0), dim(1))
            })
            .unwrap_or((0, 0));
        Ok(Cut {
            name: str_field(object, "name"),
            rate,
            start_frame: match start {
                Some(t) => self.frames(t, rate, "global_start_time")?,
                None => 0,
            },
            width: frame_size.0,
            height: frame_size.1,
            audio_rate: ours
                .and_then(|o| o.get("audio_rate"))
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(48_000),
            tracks,
            markers,
            project: ours.and_then(|o| {
                Some((
                    o.get("project")?.as_str()?.to_owned(),
                    o.get("title")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ))
            }),
        })
    }

    fn track(&self, value: &Value, rate: Rate, at: &str) -> Result<CutTrack, ImportError> {
        let (schema, object) = self.schema(value, at)?;
        if schema != "Track" {
            return Err(self.error(at, format!("expected a Track, found {schema}")));
        }
        let kind = match object.get("kind").and_then(Value::as_str) {
            Some("Audio") => TrackKind::Audio,
            Some("Video") | None => TrackKind::Video,
            Some(other) => {
                return Err(self.error(at, format!("kind \"{other}\" is neither Video nor Audio")));
            }
        };
        let children = object
            .get("children")
            .and_then(Value::as_array)
            .ok_or_else(|| self.error(at, "expected a \"children\" list"))?;
        let mut items = Vec::with_capacity(children.len());
        for (i, child) in children.iter().enumerate() {
            let at = format!("{at}.children[{i}]");
            if let Some(item) = self.item(child, rate, &at)? {
                items.push(item);
            }
        }
        Ok(CutTrack {
            name: str_field(object, "name"),
            kind,
            enabled: object
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            items,
            id: object
                .get("metadata")
                .and_then(|m| m.get(NAMESPACE))
                .and_then(|m| m.get("track"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<TrackId>().ok()),
        })
    }

    fn item(&self, value: &Value, rate: Rate, at: &str) -> Result<Option<CutItem>, ImportError> {
        let (schema, object) = self.schema(value, at)?;
        // Transitions overlap their neighbours and take no time of their own.
        if schema == "Transition" {
            return Ok(None);
        }
        let (start, duration) = self
            .range(object.get("source_range"), &format!("{at}.source_range"))?
            .ok_or_else(|| self.error(at, "expected a source_range (how long it plays)"))?;
        let duration = self.frames(duration, rate, at)?;
        if duration < 0 {
            return Err(self.error(at, "a negative duration"));
        }
        match schema {
            "Gap" => Ok(Some(CutItem::Gap(duration))),
            "Clip" | "Stack" | "Track" => {
                let reference = object
                    .get("media_references")
                    .and_then(|refs| {
                        let key = object
                            .get("active_media_reference_key")
                            .and_then(Value::as_str)
                            .unwrap_or("DEFAULT_MEDIA");
                        refs.get(key)
                    })
                    .or_else(|| object.get("media_reference"));
                let mut media = None;
                let mut slug = None;
                if let Some(reference) = reference.filter(|r| !r.is_null()) {
                    let (kind, r) = self.schema(reference, &format!("{at}.media_reference"))?;
                    match kind {
                        "ExternalReference" => {
                            let url = str_field(r, "target_url");
                            let available = self
                                .range(r.get("available_range"), &format!("{at}.available_range"))?
                                .map(|(_, d)| self.frames(d, rate, at))
                                .transpose()?;
                            let path = path_from_url(&url);
                            let kind = media_kind(&path);
                            media = Some(Media {
                                path,
                                kind,
                                available: available.filter(|_| kind != MediaKind::Still),
                            });
                        }
                        "GeneratorReference" => {
                            slug = Some(
                                r.get("parameters")
                                    .and_then(|p| p.get("text"))
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_owned(),
                            );
                        }
                        _ => {}
                    }
                }
                let ours = object
                    .get("metadata")
                    .and_then(|m| m.get(NAMESPACE))
                    .and_then(Value::as_object);
                let id = |key: &str| ours.and_then(|o| o.get(key)).and_then(Value::as_str);
                let origin = Origin {
                    item: id("item").and_then(|s| s.parse::<ItemId>().ok()),
                    shot: id("shot").and_then(|s| s.parse::<ShotId>().ok()),
                    take: id("take").and_then(|s| s.parse::<TakeId>().ok()),
                    line: id("line").and_then(|s| s.parse::<LineId>().ok()),
                    asset: id("asset").and_then(|s| s.parse::<ContentHash>().ok()),
                    scene_number: id("scene_number").map(str::to_owned),
                    shot_number: id("shot_number").map(str::to_owned),
                    slug,
                    provenance: ours
                        .and_then(|o| o.get("provenance"))
                        .and_then(|p| serde_json::from_value(p.clone()).ok()),
                };
                Ok(Some(CutItem::Clip(CutClip {
                    name: str_field(object, "name"),
                    source_in: self.frames(start, rate, at)?,
                    duration,
                    media,
                    origin,
                })))
            }
            other => Err(self.error(
                at,
                format!(
                    "\"{other}\" is not something a track can hold (Clip, Gap, Transition, Stack)"
                ),
            )),
        }
    }
}

fn str_field(object: &Map<String, Value>, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The rate of the first RationalTime under a value.
fn first_rate(object: &Map<String, Value>) -> Option<f64> {
    fn walk(value: &Value) -> Option<f64> {
        match value {
            Value::Object(o) => {
                if o.get("OTIO_SCHEMA").and_then(Value::as_str) == Some("RationalTime.1") {
                    return o.get("rate").and_then(Value::as_f64);
                }
                o.values().find_map(walk)
            }
            Value::Array(a) => a.iter().find_map(walk),
            _ => None,
        }
    }
    object.values().find_map(walk)
}

/// What a media file holds, by its extension.
pub(crate) fn media_kind(path: &std::path::Path) -> MediaKind {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "wav" | "aif" | "aiff" | "flac" | "mp3" | "m4a" | "aac" | "ogg" => MediaKind::Audio,
        "mov" | "mp4" | "mxf" | "m4v" | "avi" | "mkv" => MediaKind::Video,
        _ => MediaKind::Still,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Cut {
        let origin = Origin {
            item: Some(ItemId::new()),
            shot: Some(ShotId::new()),
            shot_number: Some("1.1".into()),
            ..Origin::default()
        };
        Cut {
            name: "Animatic".into(),
            rate: Rate::FPS_23_976,
            start_frame: 86_400,
            width: 2048,
            height: 858,
            audio_rate: 48_000,
            tracks: vec![CutTrack {
                name: "Storyboard".into(),
                kind: TrackKind::Video,
                enabled: true,
                items: vec![
                    CutItem::Clip(CutClip {
                        name: "1.1".into(),
                        source_in: 0,
                        duration: 72,
                        media: Some(Media {
                            path: "/nas/show/1.1 take.png".into(),
                            kind: MediaKind::Still,
                            available: None,
                        }),
                        origin,
                    }),
                    CutItem::Gap(12),
                    CutItem::Clip(CutClip {
                        name: "TITLE".into(),
                        source_in: 0,
                        duration: 48,
                        media: None,
                        origin: Origin {
                            slug: Some("THE END".into()),
                            ..Origin::default()
                        },
                    }),
                ],
                id: Some(TrackId::new()),
            }],
            markers: vec![CutMarker {
                frame: 10,
                duration: 0,
                name: "note".into(),
                color: MarkerColor::Green,
                note: "check".into(),
            }],
            project: Some(("p".into(), "Film".into())),
        }
    }

    #[test]
    fn a_cut_survives_write_and_read() {
        let cut = sample();
        let text = write(&cut);
        let back = read(&text, "x.otio").unwrap();
        assert_eq!(back, cut);
    }

    #[test]
    fn bad_documents_name_the_place() {
        let err = read("{", "cut.otio").unwrap_err();
        assert_eq!(err.file, "cut.otio");
        assert!(err.line.is_some());
        let err = read(r#"{"OTIO_SCHEMA": "Clip.2"}"#, "cut.otio").unwrap_err();
        assert!(err.message.contains("expected a Timeline"), "{err}");
        let mut doc: Value = serde_json::from_str(&write(&sample())).unwrap();
        doc["tracks"]["children"][0]["children"][1]["source_range"] = Value::Null;
        let err = read(&doc.to_string(), "cut.otio").unwrap_err();
        assert!(
            err.to_string().contains("tracks.children[0].children[1]"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn reading_never_panics(text in "\\PC{0,300}") {
            let _ = read(&text, "fuzz.otio");
        }

        #[test]
        fn damaged_documents_never_panic(cut_at in 0usize..4000, byte in any::<u8>()) {
            let mut bytes = write(&sample()).into_bytes();
            let at = cut_at % bytes.len();
            bytes[at] = byte;
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = read(&text, "fuzz.otio");
            }
        }
    }
}
