//! The picture of a timeline frame.
//!
//! The topmost unmuted video track with a clip at the frame wins (a gap on an upper track shows
//! the tracks below it). A still is decoded once and scaled once to its letterboxed size, kept
//! in a small LRU keyed by (asset, output size), so a 200-shot encode decodes each take once,
//! not once per frame. Consecutive frames showing the same thing share one buffer; with a
//! timecode burn-in only the timecode is drawn per frame, over a copy of the shared picture.
//!
//! What each clip source shows:
//!
//! | source | picture |
//! |---|---|
//! | shot / pinned take | the take's image, letterboxed or pillarboxed (black bars) |
//! | shot without a take | a grey card with the shot number and "no frame yet" |
//! | take whose file is missing or unreadable | a red "MEDIA OFFLINE" card naming the file |
//! | image asset | the image, letterboxed |
//! | video asset | a "MEDIA OFFLINE" card (moving pictures are not composed yet) |
//! | slug | its text, white on black |
//! | audio, dialogue, gap, nothing | black |

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;

use image::{DynamicImage, ImageReader, RgbImage};
use previz_core::{
    AssetKind, ClipSource, ContentHash, Item, Project, RationalTime, SceneId, ShotId, TrackKind,
};
use previz_storage::AssetStore;

use super::{RenderError, Span, span_at, spans};
use crate::text::{self, Rgb};

/// An output frame size: both sides even (H.264's 4:2:0 chroma needs it), 2 to 8192.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

impl FrameSize {
    /// The largest side accepted.
    pub const MAX_SIDE: u32 = 8192;

    /// A size as asked, refused when a side is odd, under 2 or over [`Self::MAX_SIDE`].
    pub fn new(width: u32, height: u32) -> Result<Self, RenderError> {
        let why = if width % 2 == 1 || height % 2 == 1 {
            Some("H.264 with 4:2:0 chroma needs an even width and height".to_owned())
        } else if width < 2 || height < 2 {
            Some("a frame needs at least 2×2 pixels".to_owned())
        } else if width > Self::MAX_SIDE || height > Self::MAX_SIDE {
            Some(format!("a side is over {} pixels", Self::MAX_SIDE))
        } else {
            None
        };
        match why {
            Some(why) => Err(RenderError::InvalidSize { width, height, why }),
            None => Ok(Self { width, height }),
        }
    }

    /// `width × height` scaled down (never up) so the height is at most `max_height` (0: no
    /// limit) and no side is over [`Self::MAX_SIDE`], rounded to even sides of at least 2.
    /// Never fails: a zero side counts as 1.
    #[must_use]
    pub fn fitting(width: u32, height: u32, max_height: u32) -> Self {
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let max_h = if max_height == 0 {
            f64::from(Self::MAX_SIDE)
        } else {
            f64::from(max_height.min(Self::MAX_SIDE))
        };
        let max_side = f64::from(Self::MAX_SIDE);
        let scale = 1f64.min(max_h / h).min(max_side / w).min(max_side / h);
        let even = |v: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // <= 8192
            let v = v.round().clamp(2.0, max_side) as u32;
            (v & !1).max(2)
        };
        Self {
            width: even(w * scale),
            height: even(h * scale),
        }
    }

    /// Bytes of one RGB8 frame.
    #[must_use]
    pub fn rgb_bytes(self) -> usize {
        self.width as usize * self.height as usize * 3
    }
}

/// A rectangle of the output frame, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Where a `src_width × src_height` picture goes in `frame`, aspect kept, centred: full width
/// with bars above and below (letterbox) or full height with bars at the sides (pillarbox).
/// A degenerate source fills the frame.
#[must_use]
pub fn fit_rect(src_width: u32, src_height: u32, frame: FrameSize) -> Rect {
    let (fw, fh) = (frame.width.max(1), frame.height.max(1));
    if src_width == 0 || src_height == 0 {
        return Rect {
            x: 0,
            y: 0,
            width: fw,
            height: fh,
        };
    }
    let scale = (f64::from(fw) / f64::from(src_width)).min(f64::from(fh) / f64::from(src_height));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // within the frame
    let side = |src: u32, max: u32| ((f64::from(src) * scale).round() as u32).clamp(1, max);
    let width = side(src_width, fw);
    let height = side(src_height, fh);
    Rect {
        x: (fw - width) / 2,
        y: (fh - height) / 2,
        width,
        height,
    }
}

/// Text drawn over the picture. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BurnIns {
    /// The shot number (`SHOT 12A`), top left.
    pub shot_number: bool,
    /// The scene number (`SC 12`), top left.
    pub scene_number: bool,
    /// The record timecode (from the timeline's start timecode), top right.
    pub timecode: bool,
    /// Drop-frame timecode at 29.97 / 59.94.
    pub drop_frame: bool,
    /// The dialogue playing (from dialogue clips on unmuted audio tracks), with the speaker's
    /// name, at the bottom.
    pub subtitles: bool,
}

impl BurnIns {
    /// Every burn-in (non-drop-frame timecode).
    #[must_use]
    pub fn all() -> Self {
        Self {
            shot_number: true,
            scene_number: true,
            timecode: true,
            drop_frame: false,
            subtitles: true,
        }
    }

    fn any_static(self) -> bool {
        self.shot_number || self.scene_number || self.subtitles
    }
}

/// How frames are composed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeOptions {
    pub size: FrameSize,
    pub burn_ins: BurnIns,
    /// Scaled stills kept (least recently used dropped first); at least 1.
    pub cache_entries: usize,
}

impl ComposeOptions {
    /// Frames of `size`, no burn-ins, 8 stills cached.
    #[must_use]
    pub fn new(size: FrameSize) -> Self {
        Self {
            size,
            burn_ins: BurnIns::default(),
            cache_entries: 8,
        }
    }
}

/// What fills a frame (before burn-ins).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Picture {
    Black,
    /// An image asset (a take's or an image clip's).
    Still(ContentHash),
    /// A slug's text on black.
    Slug(String),
    /// A shot with no take yet; its number.
    NoTake(String),
    /// Media that cannot be shown: what, for the card.
    Offline(String),
}

/// Everything one frame shows: equal contents give equal pixels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameContent {
    pub picture: Picture,
    /// The burn-ins that do not change every frame (shot, scene, subtitles), as drawn.
    pub captions: Captions,
    /// The timecode burn-in, when on.
    pub timecode: Option<String>,
}

/// The text drawn at the top left and bottom of a frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Captions {
    /// `SC 4  SHOT 4.2`, or empty.
    pub slate: String,
    /// `MARA: Who's there?`, one per line of dialogue playing.
    pub subtitles: Vec<String>,
}

/// Counts of a compositor's work, for reports and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComposeStats {
    /// Frames drawn from scratch.
    pub composed: u64,
    /// Frames that reused the previous frame's buffer as it was.
    pub reused: u64,
    /// Frames that were a copy of the previous picture with a new timecode.
    pub retimed: u64,
    /// Stills decoded (and scaled).
    pub decoded: u64,
}

/// A decoded, scaled still (or why it could not be shown).
type Scaled = Arc<Result<(RgbImage, Rect), String>>;

/// A small least-recently-used map (a handful of entries: a linear scan is fastest).
struct Lru<K, V> {
    entries: Vec<(K, V)>,
    capacity: usize,
}

impl<K, V> std::fmt::Debug for Lru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lru")
            .field("entries", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<K: PartialEq, V: Clone> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Vec::new(),
            capacity: capacity.max(1),
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(i);
        let value = entry.1.clone();
        self.entries.push(entry);
        Some(value)
    }

    fn insert(&mut self, key: K, value: V) {
        self.entries.retain(|(k, _)| *k != key);
        if self.entries.len() >= self.capacity {
            self.entries.remove(0);
        }
        self.entries.push((key, value));
    }
}

/// Composes timeline frames of one project.
pub struct Compositor<'a> {
    project: &'a Project,
    store: &'a AssetStore,
    options: ComposeOptions,
    /// Unmuted video tracks, topmost first.
    video: Vec<Vec<Span<'a>>>,
    /// Unmuted audio tracks (for subtitles).
    audio: Vec<Vec<Span<'a>>>,
    shot_numbers: BTreeMap<ShotId, String>,
    scene_numbers: HashMap<SceneId, String>,
    cache: Lru<ContentHash, Scaled>,
    /// The last frame made, its contents, and its picture before the timecode.
    last: Option<(FrameContent, Arc<RgbImage>, Arc<RgbImage>)>,
    warnings: Vec<String>,
    stats: ComposeStats,
}

/// Text sizes from the frame height.
fn caption_px(height: u32) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let h = height as f32;
    (h / 24.0).max(10.0)
}

const WHITE: Rgb = [255, 255, 255];
const GREY_TEXT: Rgb = [170, 170, 170];
const NO_TAKE_BG: Rgb = [38, 38, 42];
const OFFLINE_BG: Rgb = [110, 12, 16];

impl std::fmt::Debug for Compositor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("options", &self.options)
            .field("video_tracks", &self.video.len())
            .field("cache", &self.cache)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a> Compositor<'a> {
    #[must_use]
    pub fn new(project: &'a Project, store: &'a AssetStore, options: ComposeOptions) -> Self {
        let tracks = &project.timeline.tracks;
        let video = tracks
            .iter()
            .rev()
            .filter(|t| t.kind == TrackKind::Video && !t.muted)
            .map(spans)
            .collect();
        let audio = tracks
            .iter()
            .filter(|t| t.kind == TrackKind::Audio && !t.muted)
            .map(spans)
            .collect();
        let scene_numbers = project
            .script
            .scenes
            .iter()
            .zip(project.script.display_numbers())
            .filter_map(|(s, n)| n.map(|n| (s.id, n)))
            .collect();
        let cache = Lru::new(options.cache_entries);
        Self {
            project,
            store,
            options,
            video,
            audio,
            shot_numbers: project.shot_numbers(),
            scene_numbers,
            cache,
            last: None,
            warnings: Vec::new(),
            stats: ComposeStats::default(),
        }
    }

    #[must_use]
    pub fn size(&self) -> FrameSize {
        self.options.size
    }

    #[must_use]
    pub fn stats(&self) -> ComposeStats {
        self.stats
    }

    /// Media problems met so far, one line each (a missing take, an undecodable image), each
    /// said once.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn warn(&mut self, line: String) {
        if !self.warnings.contains(&line) {
            self.warnings.push(line);
        }
    }

    /// What `frame` shows.
    #[must_use]
    pub fn content(&self, frame: i64) -> FrameContent {
        let (picture, shot) = self.picture_at(frame);
        let burn = self.options.burn_ins;
        let mut slate = Vec::new();
        if let Some(shot) = shot.and_then(|id| self.project.shot(id)) {
            if burn.scene_number
                && let Some(n) = self.scene_numbers.get(&shot.scene)
            {
                slate.push(format!("SC {n}"));
            }
            if burn.shot_number
                && let Some(n) = self.shot_numbers.get(&shot.id)
            {
                slate.push(format!("SHOT {n}"));
            }
        }
        let subtitles = if burn.subtitles {
            self.subtitles_at(frame)
        } else {
            Vec::new()
        };
        let timeline = &self.project.timeline;
        let timecode = burn.timecode.then(|| {
            RationalTime::new(timeline.start_frame.saturating_add(frame), timeline.rate)
                .to_timecode(burn.drop_frame)
        });
        FrameContent {
            picture,
            captions: Captions {
                slate: slate.join("   "),
                subtitles,
            },
            timecode,
        }
    }

    /// The picture at `frame` and the shot it belongs to.
    fn picture_at(&self, frame: i64) -> (Picture, Option<ShotId>) {
        for track in &self.video {
            let Some(span) = span_at(track, frame) else {
                continue;
            };
            let Item::Clip(clip) = span.item else {
                continue; // a gap shows what is below
            };
            return match &clip.source {
                ClipSource::Shot { shot } => match self.project.shot(*shot) {
                    None => (
                        Picture::Offline(format!("shot {shot} is not in the project")),
                        None,
                    ),
                    Some(s) => match s.active() {
                        Some(take) => (Picture::Still(take.asset), Some(s.id)),
                        None => (Picture::NoTake(self.shot_label(s.id)), Some(s.id)),
                    },
                },
                ClipSource::Take { shot, take } => {
                    match self
                        .project
                        .shot(*shot)
                        .and_then(|s| s.takes.iter().find(|t| t.id == *take))
                    {
                        Some(t) => (Picture::Still(t.asset), Some(*shot)),
                        None => (
                            Picture::Offline(format!(
                                "take {take} of shot {} is not in the project",
                                self.shot_label(*shot)
                            )),
                            Some(*shot),
                        ),
                    }
                }
                ClipSource::Asset { asset } => {
                    match self.project.assets.get(asset).map(|a| a.kind) {
                        Some(AssetKind::Audio) => (Picture::Black, None),
                        Some(AssetKind::Video) => (
                            Picture::Offline(format!(
                                "{}: video clips are not composed yet",
                                clip_name(&clip.name, asset)
                            )),
                            None,
                        ),
                        // An image, or something unlisted that may be one: try to decode it.
                        _ => (Picture::Still(*asset), None),
                    }
                }
                ClipSource::Slug { text } => (Picture::Slug(text.clone()), None),
                ClipSource::Dialogue { .. } => (Picture::Black, None),
            };
        }
        (Picture::Black, None)
    }

    fn shot_label(&self, shot: ShotId) -> String {
        self.shot_numbers
            .get(&shot)
            .cloned()
            .unwrap_or_else(|| "?".to_owned())
    }

    /// `NAME: words` of every dialogue clip playing at `frame`.
    fn subtitles_at(&self, frame: i64) -> Vec<String> {
        let script = &self.project.script;
        let mut out: Vec<String> = Vec::new();
        for track in &self.audio {
            let Some(Item::Clip(clip)) = span_at(track, frame).map(|s| s.item) else {
                continue;
            };
            let ClipSource::Dialogue { line, .. } = &clip.source else {
                continue;
            };
            let Some((_, block)) = script.dialogue(*line) else {
                continue;
            };
            let words = block.spoken_text();
            let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
            if words.is_empty() {
                continue;
            }
            let name = block
                .character
                .and_then(|c| script.character(c))
                .map_or(block.cue.trim(), |c| c.name.as_str());
            let line = if name.is_empty() {
                words
            } else {
                format!("{name}: {words}")
            };
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    }

    /// The frame's pixels (RGB8, `size.width × size.height`). A frame showing the same as the
    /// previous one is the same buffer.
    pub fn frame(&mut self, frame: i64) -> Arc<RgbImage> {
        let content = self.content(frame);
        if let Some((last, pixels, base)) = &self.last {
            if *last == content {
                self.stats.reused += 1;
                return Arc::clone(pixels);
            }
            if last.picture == content.picture && last.captions == content.captions {
                // Only the timecode changed: redraw it over the shared picture.
                let mut img = RgbImage::clone(base);
                self.draw_timecode(&mut img, content.timecode.as_deref());
                let img = Arc::new(img);
                let base = Arc::clone(base);
                self.last = Some((content, Arc::clone(&img), base));
                self.stats.retimed += 1;
                return img;
            }
        }
        let mut base = self.draw_picture(&content.picture);
        self.draw_captions(&mut base, &content.captions);
        let base = Arc::new(base);
        let img = if content.timecode.is_some() {
            let mut img = RgbImage::clone(&base);
            self.draw_timecode(&mut img, content.timecode.as_deref());
            Arc::new(img)
        } else {
            Arc::clone(&base)
        };
        self.stats.composed += 1;
        self.last = Some((content, Arc::clone(&img), base));
        img
    }

    fn draw_picture(&mut self, picture: &Picture) -> RgbImage {
        let size = self.options.size;
        let mut img = RgbImage::new(size.width, size.height);
        match picture {
            Picture::Black => {}
            Picture::Still(hash) => match &*self.still(*hash) {
                Ok((scaled, rect)) => blit(&mut img, scaled, *rect),
                Err(why) => {
                    let why = why.clone();
                    self.card(&mut img, OFFLINE_BG, "MEDIA OFFLINE", &why);
                }
            },
            Picture::Slug(text) => {
                let px = caption_px(size.height) * 1.6;
                #[allow(clippy::cast_precision_loss)]
                let (w, h) = (size.width as f32, size.height as f32);
                let lines = text::wrap(text, px, w * 0.85, 4);
                draw_centered(&mut img, &lines, w / 2.0, h / 2.0, px, WHITE);
            }
            Picture::NoTake(label) => {
                self.card(
                    &mut img,
                    NO_TAKE_BG,
                    &format!("SHOT {label}"),
                    "no frame yet",
                );
            }
            Picture::Offline(why) => {
                let why = why.clone();
                self.card(&mut img, OFFLINE_BG, "MEDIA OFFLINE", &why);
            }
        }
        img
    }

    /// A card in the project's aspect ratio: a title and a smaller line under it.
    fn card(&self, img: &mut RgbImage, bg: Rgb, title: &str, detail: &str) {
        let settings = &self.project.settings;
        let rect = fit_rect(
            settings.frame_width,
            settings.frame_height,
            self.options.size,
        );
        fill(img, rect, bg);
        #[allow(clippy::cast_precision_loss)]
        let (cx, cy, w) = (
            rect.x as f32 + rect.width as f32 / 2.0,
            rect.y as f32 + rect.height as f32 / 2.0,
            rect.width as f32,
        );
        let big = (caption_px(rect.height) * 1.8).min(w / 8.0).max(8.0);
        let small = (big * 0.45).max(8.0);
        let title = text::fit(title, big, w * 0.9);
        draw_centered(img, &[title], cx, cy - big * 0.3, big, WHITE);
        let detail = text::wrap(detail, small, w * 0.9, 2);
        draw_centered(img, &detail, cx, cy + big * 0.7, small, GREY_TEXT);
    }

    /// The still of `hash` scaled to its place in the frame, from the cache or decoded now.
    fn still(&mut self, hash: ContentHash) -> Scaled {
        if let Some(hit) = self.cache.get(&hash) {
            return hit;
        }
        self.stats.decoded += 1;
        let size = self.options.size;
        let loaded = self
            .store
            .read(&hash)
            .map_err(|e| {
                let line = format!("media offline: {e}");
                (line, format!("{} is missing or damaged", short(&hash)))
            })
            .and_then(|bytes| {
                decode_rgb(&bytes).map_err(|e| {
                    (
                        format!("media offline: image {hash} could not be decoded: {e}"),
                        format!("{} could not be decoded: {e}", short(&hash)),
                    )
                })
            })
            .map(|img| {
                let rect = fit_rect(img.width(), img.height(), size);
                let scaled = if (img.width(), img.height()) == (rect.width, rect.height) {
                    img
                } else {
                    image::imageops::resize(
                        &img,
                        rect.width,
                        rect.height,
                        image::imageops::FilterType::CatmullRom,
                    )
                };
                (scaled, rect)
            });
        let value = match loaded {
            Ok(v) => Arc::new(Ok(v)),
            Err((warning, card)) => {
                self.warn(warning);
                Arc::new(Err(card))
            }
        };
        self.cache.insert(hash, Arc::clone(&value));
        value
    }

    fn draw_captions(&self, img: &mut RgbImage, captions: &Captions) {
        let size = self.options.size;
        if !self.options.burn_ins.any_static() {
            return;
        }
        let px = caption_px(size.height);
        let pad = px * 0.35;
        #[allow(clippy::cast_precision_loss)]
        let (w, h) = (size.width as f32, size.height as f32);
        if !captions.slate.is_empty() {
            let t = text::fit(&captions.slate, px, w * 0.6);
            boxed_text(img, &t, pad, pad, px);
        }
        // Subtitles from the bottom up, each wrapped to two lines.
        let mut lines: Vec<String> = Vec::new();
        for s in &captions.subtitles {
            lines.extend(text::wrap(s, px, w * 0.84, 2));
        }
        let line_h = px * 1.3;
        #[allow(clippy::cast_precision_loss)]
        let mut top = h - pad * 2.0 - line_h * lines.len() as f32;
        for line in &lines {
            let tw = text::measure(line, px);
            boxed_text(img, line, (w - tw) / 2.0 - pad, top, px);
            top += line_h;
        }
    }

    fn draw_timecode(&self, img: &mut RgbImage, timecode: Option<&str>) {
        let Some(tc) = timecode else { return };
        let px = caption_px(self.options.size.height);
        let pad = px * 0.35;
        #[allow(clippy::cast_precision_loss)]
        let w = self.options.size.width as f32;
        // Digits are drawn one by one at a fixed pitch so the box does not jitter.
        let pitch = text::measure("0", px);
        #[allow(clippy::cast_precision_loss)]
        let tw = pitch * tc.chars().count() as f32;
        let x = w - tw - pad * 3.0;
        darken(img, x - pad, pad, tw + pad * 2.0, px * 1.3);
        let baseline = pad + pad * 0.4 + text::ascent(px);
        let mut cx = x;
        for c in tc.chars() {
            let s = c.to_string();
            let cw = text::measure(&s, px);
            text::draw(img, &s, cx + (pitch - cw) / 2.0, baseline, px, WHITE, false);
            cx += pitch;
        }
    }
}

fn clip_name(name: &str, asset: &ContentHash) -> String {
    if name.trim().is_empty() {
        short(asset)
    } else {
        name.trim().to_owned()
    }
}

/// `blake3:0123456789ab`: enough of a hash to find the file.
fn short(hash: &ContentHash) -> String {
    format!("asset {}", &hash.to_hex()[..12])
}

/// Decodes an image (PNG, JPEG) to RGB; transparency is composited over black.
fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, image::ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    // The reader's default limits (512 MiB per allocation) refuse absurd dimensions.
    let decoded = reader.decode()?;
    Ok(match decoded {
        DynamicImage::ImageRgb8(img) => img,
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                let [r, g, b, a] = rgba.get_pixel(x, y).0;
                let over = |c: u8| {
                    u8::try_from((u16::from(c) * u16::from(a) + 127) / 255).unwrap_or(u8::MAX)
                };
                image::Rgb([over(r), over(g), over(b)])
            })
        }
        other => other.to_rgb8(),
    })
}

/// Copies `src` into `dst` at `rect`'s corner, row by row (clipped to `dst`).
fn blit(dst: &mut RgbImage, src: &RgbImage, rect: Rect) {
    let (dw, dh) = dst.dimensions();
    let (sw, sh) = src.dimensions();
    if rect.x >= dw || rect.y >= dh {
        return;
    }
    let w = sw.min(dw - rect.x) as usize;
    let rows = sh.min(dh - rect.y);
    let dst_stride = dw as usize * 3;
    let src_stride = sw as usize * 3;
    let x0 = rect.x as usize * 3;
    let dst_buf: &mut [u8] = dst;
    for row in 0..rows as usize {
        let d = (rect.y as usize + row) * dst_stride + x0;
        let s = row * src_stride;
        if let (Some(d), Some(s)) = (
            dst_buf.get_mut(d..d + w * 3),
            src.as_raw().get(s..s + w * 3),
        ) {
            d.copy_from_slice(s);
        }
    }
}

/// Fills `rect` (clipped) with a colour.
fn fill(img: &mut RgbImage, rect: Rect, col: Rgb) {
    let (w, h) = img.dimensions();
    let x1 = rect.x.saturating_add(rect.width).min(w);
    let y1 = rect.y.saturating_add(rect.height).min(h);
    if rect.x >= x1 {
        return;
    }
    let row: Vec<u8> = (rect.x..x1).flat_map(|_| col).collect();
    let stride = w as usize * 3;
    let buf: &mut [u8] = img;
    for y in rect.y..y1 {
        let at = y as usize * stride + rect.x as usize * 3;
        if let Some(d) = buf.get_mut(at..at + row.len()) {
            d.copy_from_slice(&row);
        }
    }
}

/// Darkens a box to 35 % of its brightness (under burn-in text).
fn darken(img: &mut RgbImage, x: f32, y: f32, w: f32, h: f32) {
    let (iw, ih) = img.dimensions();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let clamp = |v: f32, max: u32| (v.max(0.0).min(max as f32)) as u32;
    let (x0, x1) = (clamp(x, iw), clamp(x + w, iw));
    let (y0, y1) = (clamp(y, ih), clamp(y + h, ih));
    let stride = iw as usize * 3;
    let buf: &mut [u8] = img;
    for yy in y0..y1 {
        let at = yy as usize * stride;
        if let Some(row) = buf.get_mut(at + x0 as usize * 3..at + x1 as usize * 3) {
            for v in row {
                *v = u8::try_from(u16::from(*v) * 90 / 256).unwrap_or(0);
            }
        }
    }
}

/// White text on a darkened box whose top-left corner is (`x`, `y`).
fn boxed_text(img: &mut RgbImage, line: &str, x: f32, y: f32, px: f32) {
    let pad = px * 0.35;
    let tw = text::measure(line, px);
    darken(img, x, y, tw + pad * 2.0, px * 1.3);
    text::draw(
        img,
        line,
        x + pad,
        y + pad * 0.4 + text::ascent(px),
        px,
        WHITE,
        false,
    );
}

/// Lines centred horizontally on `cx`, the block centred vertically on `cy`.
fn draw_centered(img: &mut RgbImage, lines: &[String], cx: f32, cy: f32, px: f32, col: Rgb) {
    let line_h = px * 1.25;
    #[allow(clippy::cast_precision_loss)]
    let mut baseline = cy - line_h * lines.len() as f32 / 2.0 + text::ascent(px);
    for line in lines {
        let w = text::measure(line, px);
        text::draw(img, line, cx - w / 2.0, baseline, px, col, true);
        baseline += line_h;
    }
}

#[cfg(test)]
mod tests {
    use previz_core::{Clip, Gap, Rate, Track};

    use super::*;

    fn size(w: u32, h: u32) -> FrameSize {
        FrameSize::new(w, h).unwrap()
    }

    #[test]
    fn letterbox_and_pillarbox_keep_the_aspect_and_centre() {
        // 2.39:1 scope into 16:9: bars above and below.
        assert_eq!(
            fit_rect(2048, 858, size(1920, 1080)),
            Rect {
                x: 0,
                y: 138,
                width: 1920,
                height: 804
            }
        );
        // 4:3 into 16:9: bars at the sides.
        assert_eq!(
            fit_rect(640, 480, size(1920, 1080)),
            Rect {
                x: 240,
                y: 0,
                width: 1440,
                height: 1080
            }
        );
        // Same aspect: the whole frame, up or down.
        assert_eq!(
            fit_rect(100, 50, size(400, 200)),
            Rect {
                x: 0,
                y: 0,
                width: 400,
                height: 200
            }
        );
        // A one-pixel-high strip still gets a row; nothing degenerate panics.
        assert_eq!(fit_rect(100_000, 1, size(200, 100)).height, 1);
        assert_eq!(fit_rect(0, 10, size(200, 100)).width, 200);
    }

    #[test]
    fn output_sizes_are_even_bounded_and_never_upscaled() {
        assert_eq!(FrameSize::fitting(2048, 858, 1080), size(2048, 858));
        assert_eq!(FrameSize::fitting(3840, 2160, 1080), size(1920, 1080));
        assert_eq!(FrameSize::fitting(4096, 1716, 1080), size(2578, 1080));
        assert_eq!(FrameSize::fitting(1023, 431, 1080), size(1022, 430));
        assert_eq!(FrameSize::fitting(0, 0, 1080), size(2, 2));
        let huge = FrameSize::fitting(u32::MAX, 1, 1080);
        assert!(huge.width <= FrameSize::MAX_SIDE && huge.height == 2);
        assert!(FrameSize::new(1921, 1080).is_err());
        assert!(FrameSize::new(0, 0).is_err());
        assert!(FrameSize::new(10_000, 10_000).is_err());
    }

    /// A project whose only picture source is slugs and colour stills written into a store.
    struct Fixture {
        _dir: tempfile::TempDir,
        store: AssetStore,
        project: Project,
    }

    fn png(w: u32, h: u32, col: [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb(col));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = AssetStore::new(dir.path().join("assets"));
        let mut project = Project::new("compose");
        project.settings.frame_width = 200;
        project.settings.frame_height = 100;
        project.timeline = previz_core::Timeline::new("t", Rate::FPS_24);
        Fixture {
            _dir: dir,
            store,
            project,
        }
    }

    fn image_asset(f: &mut Fixture, w: u32, h: u32, col: [u8; 3]) -> ContentHash {
        let hash = f.store.put(&png(w, h, col)).unwrap();
        f.project.assets.insert(
            hash,
            previz_core::Asset {
                hash,
                kind: AssetKind::Image,
                media: previz_core::MediaInfo::default(),
                extra: previz_core::Extra::new(),
            },
        );
        hash
    }

    fn pixel(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
        img.get_pixel(x, y).0
    }

    #[test]
    fn the_topmost_unmuted_track_wins_and_gaps_show_what_is_below() {
        let mut f = fixture();
        let red = image_asset(&mut f, 200, 100, [255, 0, 0]);
        let blue = image_asset(&mut f, 200, 100, [0, 0, 255]);
        let green = image_asset(&mut f, 200, 100, [0, 255, 0]);
        let tracks = &mut f.project.timeline.tracks;
        tracks[0].items = vec![Item::Clip(Clip::new(
            "red",
            ClipSource::Asset { asset: red },
            30,
        ))];
        let mut v2 = Track::new("V2", TrackKind::Video);
        v2.items = vec![
            Item::Gap(Gap::new(10)),
            Item::Clip(Clip::new("blue", ClipSource::Asset { asset: blue }, 10)),
        ];
        let mut v3 = Track::new("V3", TrackKind::Video);
        v3.muted = true;
        v3.items = vec![Item::Clip(Clip::new(
            "green",
            ClipSource::Asset { asset: green },
            30,
        ))];
        tracks.push(v2);
        tracks.push(v3);
        let mut c = Compositor::new(&f.project, &f.store, ComposeOptions::new(size(200, 100)));
        assert_eq!(
            pixel(&c.frame(5), 100, 50),
            [255, 0, 0],
            "V2's gap shows V1"
        );
        assert_eq!(pixel(&c.frame(15), 100, 50), [0, 0, 255], "V2 over V1");
        assert_eq!(pixel(&c.frame(25), 100, 50), [255, 0, 0]);
        assert_eq!(
            pixel(&c.frame(30), 100, 50),
            [0, 0, 0],
            "after the end: black"
        );
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert_eq!(c.stats().decoded, 2, "muted green never decoded");
    }

    #[test]
    fn stills_are_letterboxed_decoded_once_and_frames_reused() {
        let mut f = fixture();
        // A 4:1 strip into a 2:1 frame: bars of 25 rows above and below.
        let white = image_asset(&mut f, 400, 100, [255, 255, 255]);
        let other = image_asset(&mut f, 400, 100, [9, 9, 9]);
        f.project.timeline.tracks[0].items = vec![
            Item::Clip(Clip::new("a", ClipSource::Asset { asset: white }, 10)),
            Item::Clip(Clip::new("b", ClipSource::Asset { asset: other }, 10)),
            Item::Clip(Clip::new("a", ClipSource::Asset { asset: white }, 10)),
        ];
        let mut c = Compositor::new(&f.project, &f.store, ComposeOptions::new(size(200, 100)));
        let first = c.frame(0);
        assert_eq!(pixel(&first, 100, 24), [0, 0, 0]);
        assert_eq!(pixel(&first, 100, 25), [255, 255, 255]);
        assert_eq!(pixel(&first, 100, 74), [255, 255, 255]);
        assert_eq!(pixel(&first, 100, 75), [0, 0, 0]);
        let second = c.frame(1);
        assert!(
            Arc::ptr_eq(&first, &second),
            "a still's frames share a buffer"
        );
        for n in 2..30 {
            c.frame(n);
        }
        let stats = c.stats();
        assert_eq!(stats.decoded, 2, "{stats:?}");
        assert_eq!(stats.composed, 3);
        assert_eq!(stats.reused, 27);
    }

    #[test]
    fn slugs_draw_text_and_missing_media_shows_a_card_not_a_panic() {
        let mut f = fixture();
        let missing = ContentHash([7; 32]);
        let mut shot = previz_core::Shot::new(SceneId::new(), RationalTime::new(24, Rate::FPS_24));
        let take = previz_core::Take {
            id: previz_core::TakeId::new(),
            asset: missing,
            provenance: previz_core::Provenance::default(),
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: previz_core::Extra::new(),
        };
        shot.active_take = Some(take.id);
        shot.takes.push(take);
        let empty_shot =
            previz_core::Shot::new(SceneId::new(), RationalTime::new(24, Rate::FPS_24));
        f.project.timeline.tracks[0].items = vec![
            Item::Clip(Clip::new(
                "slug",
                ClipSource::Slug {
                    text: "THE END".to_owned(),
                },
                10,
            )),
            Item::Clip(Clip::new("offline", ClipSource::Shot { shot: shot.id }, 10)),
            Item::Clip(Clip::new(
                "no take",
                ClipSource::Shot {
                    shot: empty_shot.id,
                },
                10,
            )),
            Item::Clip(Clip::new(
                "gone",
                ClipSource::Shot {
                    shot: ShotId::new(),
                },
                10,
            )),
        ];
        f.project.shots.push(shot);
        f.project.shots.push(empty_shot);
        let mut c = Compositor::new(&f.project, &f.store, ComposeOptions::new(size(200, 100)));
        let lit = |img: &RgbImage| img.pixels().filter(|p| p.0 != [0, 0, 0]).count();
        let slug = c.frame(0);
        assert!(lit(&slug) > 100, "the slug's text is drawn");
        assert_eq!(pixel(&slug, 2, 2), [0, 0, 0], "on black");
        let offline = c.frame(10);
        assert_eq!(pixel(&offline, 2, 2), OFFLINE_BG);
        assert!(
            offline.pixels().any(|p| p.0 == WHITE),
            "the card has its title"
        );
        assert_eq!(pixel(&c.frame(20), 2, 2), NO_TAKE_BG);
        assert_eq!(pixel(&c.frame(30), 2, 2), OFFLINE_BG);
        assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
        assert!(
            c.warnings()[0].contains(&missing.to_hex()),
            "{:?}",
            c.warnings()
        );
        // A damaged file is a card too.
        let junk = f.store.put(b"\x89PNG\r\n\x1a\nnot really").unwrap();
        f.project.timeline.tracks[0].items = vec![Item::Clip(Clip::new(
            "junk",
            ClipSource::Asset { asset: junk },
            10,
        ))];
        let mut c = Compositor::new(&f.project, &f.store, ComposeOptions::new(size(200, 100)));
        assert_eq!(pixel(&c.frame(0), 2, 2), OFFLINE_BG);
        assert!(c.warnings()[0].contains("could not be decoded"));
    }

    #[test]
    fn burn_ins_show_shot_scene_timecode_and_who_speaks() {
        let mut f = fixture();
        let mut scene = previz_core::Scene::new(previz_core::SceneHeading::parse(
            "INT. HOUSE - NIGHT",
            false,
        ));
        let line = previz_core::LineId::new();
        scene.elements.push(previz_core::ScriptElement::Dialogue(
            previz_core::DialogueBlock {
                id: line,
                character: None,
                cue: "MARA".to_owned(),
                extensions: Vec::new(),
                forced: false,
                dual: None,
                notes: Vec::new(),
                parts: vec![previz_core::DialoguePart::Line("Who's there?".into())],
                extra: previz_core::Extra::new(),
            },
        ));
        let shot = previz_core::Shot::new(scene.id, RationalTime::new(48, Rate::FPS_24));
        f.project.script.scenes.push(scene);
        f.project.script.index_cast();
        f.project.timeline.start_frame = 86_400;
        f.project.timeline.tracks[0].items = vec![Item::Clip(Clip::new(
            "s",
            ClipSource::Shot { shot: shot.id },
            48,
        ))];
        f.project.timeline.tracks[1].items = vec![
            Item::Gap(Gap::new(24)),
            Item::Clip(Clip::new(
                "line",
                ClipSource::Dialogue { line, take: None },
                12,
            )),
        ];
        f.project.shots.push(shot);
        let mut options = ComposeOptions::new(size(400, 200));
        options.burn_ins = BurnIns::all();
        let mut c = Compositor::new(&f.project, &f.store, options);
        let early = c.content(0);
        assert_eq!(early.captions.slate, "SC 1   SHOT 1.1");
        assert_eq!(early.timecode.as_deref(), Some("01:00:00:00"));
        assert!(early.captions.subtitles.is_empty());
        let speaking = c.content(30);
        assert_eq!(speaking.captions.subtitles, vec!["MARA: Who's there?"]);
        assert_eq!(speaking.timecode.as_deref(), Some("01:00:01:06"));
        // Pixels: a frame with a subtitle differs from one without at the bottom.
        let a = c.frame(23);
        let b = c.frame(24);
        let bottom_differs =
            (150..200).any(|y| (0..400).any(|x| a.get_pixel(x, y) != b.get_pixel(x, y)));
        assert!(bottom_differs);
        // Timecode only: the picture is copied, not recomposed.
        c.frame(25);
        assert_eq!(c.stats().retimed, 1, "{:?}", c.stats());
    }
}
