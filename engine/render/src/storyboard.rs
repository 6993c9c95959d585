//! The PDF storyboard: N panels per page, each the shot's active frame with its number, camera
//! (size / angle / movement / lens), action and dialogue; a header with the project's title and
//! the date, and page numbers. The contact-sheet variant packs small frames with only the shot
//! number and length. Written with krilla; the font (Ubuntu Light, the sketch's) is embedded
//! and subset, so the file prints the same everywhere.

use image::imageops::FilterType;
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use previz_core::project::Project;
use previz_storage::AssetStore;

use crate::interchange::shotlist::{ShotRow, rows};
use crate::text;

/// Paper sizes, landscape, in points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    A4,
    Letter,
    /// 11 × 17 in (tabloid), for wall boards.
    Tabloid,
}

impl Paper {
    fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (841.89, 595.28),
            Paper::Letter => (792.0, 612.0),
            Paper::Tabloid => (1224.0, 792.0),
        }
    }
}

/// How the storyboard is laid out.
#[derive(Clone, Debug, PartialEq)]
pub struct StoryboardOptions {
    /// Panels per page (1-24).
    pub panels_per_page: usize,
    pub paper: Paper,
    /// Small frames with only number and length, 20 a page unless `panels_per_page` says more.
    pub contact_sheet: bool,
    /// The date printed in the header (`YYYY-MM-DD`), normally today.
    pub date: String,
    /// Pixel density frames are resampled to (keeps the file small).
    pub dpi: f32,
}

impl Default for StoryboardOptions {
    fn default() -> Self {
        Self {
            panels_per_page: 6,
            paper: Paper::A4,
            contact_sheet: false,
            date: jiff::Zoned::now().date().to_string(),
            dpi: 150.0,
        }
    }
}

/// What went into a storyboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoryboardReport {
    pub pages: usize,
    pub panels: usize,
    /// Shots drawn as an empty frame (no take, or its image could not be read), with why.
    pub missing_frames: Vec<String>,
}

/// Why no storyboard was written.
#[derive(Debug, thiserror::Error)]
pub enum StoryboardError {
    #[error("the project has no shots; break the script down first (`previz breakdown`)")]
    NoShots,
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("cancelled")]
    Cancelled,
}

/// Columns × rows for `n` panels of aspect `panel_aspect` on a page of aspect `page_aspect`.
fn grid(n: usize, contact: bool) -> (usize, usize) {
    match (n, contact) {
        (0 | 1, _) => (1, 1),
        (2, _) => (2, 1),
        (3, false) => (3, 1),
        (4, _) => (2, 2),
        (5 | 6, false) => (3, 2),
        (7 | 8, false) => (4, 2),
        (9, _) => (3, 3),
        (10..=12, false) => (4, 3),
        _ => {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let cols = ((n as f32 * 1.4).sqrt().ceil() as usize).max(1);
            (cols, n.div_ceil(cols))
        }
    }
}

const MARGIN: f32 = 28.0;
const HEADER: f32 = 30.0;
const FOOTER: f32 = 20.0;
const GUTTER: f32 = 12.0;

fn grey(level: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(level, level, level).into(),
        opacity: NormalizedF32::ONE,
        rule: krilla::paint::FillRule::default(),
    }
}

/// Draws `line` with its top at `top` (text is placed by its baseline).
fn text_at(surface: &mut Surface, font: &Font, size: f32, x: f32, top: f32, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    let baseline = top + text::ascent_pt(size);
    surface.draw_text(
        Point::from_xy(x, baseline),
        font.clone(),
        size,
        line,
        false,
        TextDirection::Auto,
    );
}

fn rect_path(x: f32, y: f32, w: f32, h: f32) -> Option<krilla::geom::Path> {
    let mut pb = PathBuilder::new();
    pb.push_rect(Rect::from_xywh(x, y, w, h)?);
    pb.finish()
}

/// The frame of a shot, resampled for the panel, or why there is none.
fn frame_image(
    project: &Project,
    store: &AssetStore,
    row: &ShotRow,
    max_w_px: u32,
) -> Result<Image, String> {
    let shot = project
        .shot(row.shot)
        .ok_or_else(|| "the shot is gone".to_owned())?;
    let take = shot
        .active()
        .ok_or_else(|| "no frame drawn yet".to_owned())?;
    let bytes = store.read(&take.asset).map_err(|e| e.to_string())?;
    let decoded = image::load_from_memory(&bytes).map_err(|e| format!("not an image ({e})"))?;
    let resized = if decoded.width() > max_w_px {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let h = ((decoded.height() as f32 * max_w_px as f32 / decoded.width() as f32).round()
            as u32)
            .max(1);
        decoded.resize_exact(max_w_px, h, FilterType::Triangle)
    } else {
        decoded
    };
    let rgba = resized.to_rgba8();
    let (w, h) = rgba.dimensions();
    Ok(Image::from_rgba8(rgba.into_raw(), w, h))
}

/// The storyboard of every shot as PDF bytes. `progress(done, total)` is told after each
/// panel and returns false to cancel.
pub fn storyboard_pdf(
    project: &Project,
    store: &AssetStore,
    options: &StoryboardOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<(Vec<u8>, StoryboardReport), StoryboardError> {
    let shots = rows(project);
    if shots.is_empty() {
        return Err(StoryboardError::NoShots);
    }
    let font = Font::new(text::FONT_BYTES.into(), 0).ok_or(StoryboardError::Font)?;
    let per_page = if options.contact_sheet && options.panels_per_page <= 12 {
        20
    } else {
        options.panels_per_page.clamp(1, 48)
    };
    let (cols, rows_per_page) = grid(per_page, options.contact_sheet);
    let (page_w, page_h) = options.paper.size();
    let aspect = project.settings.aspect_ratio().clamp(0.2, 5.0) as f32;
    let cell_w = (page_w - 2.0 * MARGIN - GUTTER * (cols as f32 - 1.0)) / cols as f32;
    let cell_h = (page_h - 2.0 * MARGIN - HEADER - FOOTER - GUTTER * (rows_per_page as f32 - 1.0))
        / rows_per_page as f32;
    // Sizes scale with the cell so 1-up boards and 12-up boards both read well.
    let body = (cell_w / 32.0).clamp(6.5, 11.0);
    let title_size = body * 1.25;
    let line_h = body * 1.3;
    let caption_lines = if options.contact_sheet {
        1.0
    } else {
        2.0 + 5.0
    };
    let caption_h = line_h * caption_lines + 4.0;
    let mut frame_w = cell_w;
    let mut frame_h = frame_w / aspect;
    if frame_h > cell_h - caption_h {
        frame_h = (cell_h - caption_h).max(cell_h * 0.4);
        frame_w = frame_h * aspect;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let max_px = ((frame_w * options.dpi / 72.0).round() as u32).clamp(16, 4096);

    let mut document = Document::new();
    let title = project.settings.title.clone();
    let mut metadata = Metadata::new()
        .title(format!("{title} — storyboard"))
        .creator(format!("Previz Studio {}", env!("CARGO_PKG_VERSION")));
    if let Ok(date) = options.date.parse::<jiff::civil::Date>() {
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let dt = DateTime::new(date.year() as u16)
            .month(date.month() as u8)
            .day(date.day() as u8);
        metadata = metadata.creation_date(dt);
    }
    document.set_metadata(metadata);

    let pages = shots.len().div_ceil(per_page);
    let mut report = StoryboardReport {
        pages,
        ..StoryboardReport::default()
    };
    let total = shots.len();
    for (page_index, chunk) in shots.chunks(per_page).enumerate() {
        let settings = PageSettings::from_wh(page_w, page_h)
            .ok_or_else(|| StoryboardError::Pdf("bad page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        // Header: title left, what and when right; a rule under it.
        surface.set_fill(Some(grey(0)));
        text_at(
            &mut surface,
            &font,
            14.0,
            MARGIN,
            MARGIN,
            &text::fit_pt(&title, 14.0, page_w * 0.6),
        );
        let right = format!(
            "{} · {}",
            if options.contact_sheet {
                "Contact sheet"
            } else {
                "Storyboard"
            },
            options.date
        );
        let rw = text::measure_pt(&right, 9.0);
        text_at(
            &mut surface,
            &font,
            9.0,
            page_w - MARGIN - rw,
            MARGIN + 4.0,
            &right,
        );
        if let Some(path) = rect_path(MARGIN, MARGIN + HEADER - 8.0, page_w - 2.0 * MARGIN, 0.6) {
            surface.set_fill(Some(grey(120)));
            surface.draw_path(&path);
        }
        for (i, row) in chunk.iter().enumerate() {
            let col = i % cols;
            let r = i / cols;
            let x = MARGIN + col as f32 * (cell_w + GUTTER);
            let y = MARGIN + HEADER + r as f32 * (cell_h + GUTTER);
            // The frame, centred in the cell's width, with a hairline border.
            let fx = x + (cell_w - frame_w) / 2.0;
            match frame_image(project, store, row, max_px) {
                Ok(image) => {
                    surface.push_transform(&krilla::geom::Transform::from_translate(fx, y));
                    if let Some(size) = Size::from_wh(frame_w, frame_h) {
                        surface.draw_image(image, size);
                    }
                    surface.pop();
                }
                Err(why) => {
                    report
                        .missing_frames
                        .push(format!("shot {}: {why}", row.number));
                    if let Some(path) = rect_path(fx, y, frame_w, frame_h) {
                        surface.set_fill(Some(grey(235)));
                        surface.draw_path(&path);
                    }
                    surface.set_fill(Some(grey(110)));
                    let msg = text::fit_pt(&why, body, frame_w - 8.0);
                    let mw = text::measure_pt(&msg, body);
                    text_at(
                        &mut surface,
                        &font,
                        body,
                        fx + (frame_w - mw) / 2.0,
                        y + frame_h / 2.0 - body / 2.0,
                        &msg,
                    );
                }
            }
            if let Some(path) = rect_path(fx, y, frame_w, frame_h) {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke {
                    width: 0.5,
                    ..Stroke::default()
                }));
                surface.draw_path(&path);
                surface.set_stroke(None);
            }
            // The caption under the frame.
            surface.set_fill(Some(grey(0)));
            let mut ty = y + frame_h + 4.0;
            let seconds = row.duration.trim_start_matches("00:").to_owned();
            let head = format!("SHOT {}   SC {}   {seconds}", row.number, row.scene);
            text_at(
                &mut surface,
                &font,
                title_size,
                fx,
                ty,
                &text::fit_pt(&head, title_size, frame_w),
            );
            ty += title_size * 1.3;
            if !options.contact_sheet {
                let camera: Vec<&str> = [&row.size, &row.angle, &row.movement, &row.lens]
                    .into_iter()
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                surface.set_fill(Some(grey(70)));
                text_at(
                    &mut surface,
                    &font,
                    body,
                    fx,
                    ty,
                    &text::fit_pt(&camera.join(" · "), body, frame_w),
                );
                ty += line_h;
                surface.set_fill(Some(grey(0)));
                let bottom = y + cell_h;
                let room = ((bottom - ty) / line_h).floor().max(0.0) as usize;
                let dialogue_lines = if row.dialogue.is_empty() { 0 } else { room / 2 };
                for line in
                    text::wrap_pt(&row.action, body, frame_w, room - dialogue_lines.min(room))
                {
                    text_at(&mut surface, &font, body, fx, ty, &line);
                    ty += line_h;
                }
                let left = ((bottom - ty) / line_h).floor().max(0.0) as usize;
                surface.set_fill(Some(grey(60)));
                let mut remaining = left;
                for speech in row.dialogue.lines() {
                    if remaining == 0 {
                        break;
                    }
                    let lines = text::wrap_pt(speech, body, frame_w - 8.0, remaining);
                    remaining -= lines.len().min(remaining);
                    for line in lines {
                        text_at(&mut surface, &font, body, fx + 8.0, ty, &line);
                        ty += line_h;
                    }
                }
            }
            report.panels += 1;
            if !progress(report.panels, total) {
                return Err(StoryboardError::Cancelled);
            }
        }
        // Footer: page numbers centred.
        surface.set_fill(Some(grey(90)));
        let footer = format!("Page {} of {pages}", page_index + 1);
        let fw = text::measure_pt(&footer, 8.0);
        text_at(
            &mut surface,
            &font,
            8.0,
            (page_w - fw) / 2.0,
            page_h - MARGIN,
            &footer,
        );
        surface.finish();
        page.finish();
    }
    let bytes = document
        .finish()
        .map_err(|e| StoryboardError::Pdf(format!("{e:?}")))?;
    Ok((bytes, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_hold_their_panels() {
        for n in 1..=48 {
            for contact in [false, true] {
                let (c, r) = grid(n, contact);
                assert!(c * r >= n, "{n}: {c}x{r}");
            }
        }
        assert_eq!(grid(6, false), (3, 2));
    }
}
