//! Text in pictures (the storyboard sketch's captions, the animatic's burn-ins): the embedded
//! font, measuring, word-wrapping with an ellipsis, drawing.
//!
//! No shaping: characters are laid left to right with the font's advances and kerning. A
//! character the font lacks (emoji, most scripts beyond Latin, Greek and Cyrillic) is skipped,
//! control characters too; nothing here can fail on odd input.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::RgbImage;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Ubuntu Light (Ubuntu Font Licence 1.0), see assets/fonts/README.md. The PDF storyboard
/// embeds the same face.
pub static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/Ubuntu-Light.ttf");

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// The pixel scale at which the font's em is `em` units: ab_glyph scales by the font's height
/// (ascent − descent), PDF font sizes by its em.
fn em_scale(em: f32) -> f32 {
    font()
        .and_then(|f| Some(em * f.height_unscaled() / f.units_per_em()?))
        .unwrap_or(em)
}

/// [`ascent`] for a font size in points (an em of `size`), as PDF sets type.
#[must_use]
pub fn ascent_pt(size: f32) -> f32 {
    ascent(em_scale(size))
}

/// [`measure`] for a font size in points.
#[must_use]
pub fn measure_pt(text: &str, size: f32) -> f32 {
    measure(text, em_scale(size))
}

/// [`fit`] for a font size in points.
#[must_use]
pub fn fit_pt(text: &str, size: f32, max_w: f32) -> String {
    fit(text, em_scale(size), max_w)
}

/// [`wrap`] for a font size in points.
#[must_use]
pub fn wrap_pt(text: &str, size: f32, max_w: f32, max_lines: usize) -> Vec<String> {
    wrap(text, em_scale(size), max_w, max_lines)
}

const ELLIPSIS: char = '\u{2026}';

/// The glyph drawn for a character, if any (whitespace becomes a space).
fn glyph(font: &FontRef<'static>, c: char) -> Option<GlyphId> {
    let c = if c.is_whitespace() { ' ' } else { c };
    if c.is_control() {
        return None;
    }
    let id = font.glyph_id(c);
    (id.0 != 0).then_some(id)
}

/// The distance from the baseline to the top of the tallest letters at `size`.
pub fn ascent(size: f32) -> f32 {
    font().map_or(size * 0.8, |f| f.as_scaled(PxScale::from(size)).ascent())
}

/// The width of `text` at `size` pixels.
pub fn measure(text: &str, size: f32) -> f32 {
    let Some(font) = font() else { return 0.0 };
    let sf = font.as_scaled(PxScale::from(size));
    let mut x = 0.0;
    let mut prev = None;
    for id in text.chars().filter_map(|c| glyph(font, c)) {
        if let Some(p) = prev {
            x += sf.kern(p, id);
        }
        x += sf.h_advance(id);
        prev = Some(id);
    }
    x
}

/// `text` cut to fit `max_w`, with an ellipsis when cut.
pub fn fit(text: &str, size: f32, max_w: f32) -> String {
    let Some(font) = font() else {
        return String::new();
    };
    let sf = font.as_scaled(PxScale::from(size));
    let ell = measure(&ELLIPSIS.to_string(), size);
    let mut out = String::new();
    let mut x = 0.0;
    let mut fits_at = 0; // byte length of the longest prefix that fits with an ellipsis
    let mut prev = None;
    for c in text.chars() {
        let Some(id) = glyph(font, c) else { continue };
        let adv = prev.map_or(0.0, |p| sf.kern(p, id)) + sf.h_advance(id);
        if x + adv > max_w {
            out.truncate(fits_at);
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            if ell <= max_w {
                out.push(ELLIPSIS);
            }
            return out;
        }
        x += adv;
        out.push(if c.is_whitespace() { ' ' } else { c });
        if x + ell <= max_w {
            fits_at = out.len();
        }
        prev = Some(id);
    }
    out
}

/// Word-wraps `text` into at most `max_lines` lines of `max_w`; an ellipsis ends the last line
/// when the text does not fit. Words longer than a line are broken.
pub fn wrap(text: &str, size: f32, max_w: f32, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    if max_lines == 0 || max_w <= 0.0 {
        return lines;
    }
    let space = measure(" ", size);
    let mut cur = String::new();
    let mut cur_w = 0.0;
    let mut truncated = false;
    'words: for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let ww = measure(word, size);
            if cur.is_empty() {
                if ww <= max_w {
                    cur.push_str(word);
                    cur_w = ww;
                    continue 'words;
                }
                // A word longer than the line: break it where it stops fitting.
                let head = fit_chars(word, size, max_w);
                let cut = head
                    .len()
                    .max(word.chars().next().map_or(1, char::len_utf8));
                let (a, b) = word.split_at(cut.min(word.len()));
                lines.push(a.to_string());
                word = b;
                if lines.len() == max_lines {
                    truncated = true;
                    break 'words;
                }
                if word.is_empty() {
                    continue 'words;
                }
            } else if cur_w + space + ww <= max_w {
                cur.push(' ');
                cur.push_str(word);
                cur_w += space + ww;
                continue 'words;
            } else {
                lines.push(std::mem::take(&mut cur));
                cur_w = 0.0;
                if lines.len() == max_lines {
                    truncated = true;
                    break 'words;
                }
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if truncated && let Some(last) = lines.last_mut() {
        // Room for the ellipsis: cut the last line shorter until "line…" fits.
        let with = format!("{last}{ELLIPSIS}");
        *last = if measure(&with, size) <= max_w {
            with
        } else {
            // `fit` ends in an ellipsis when it cuts; make sure it does.
            let mut s = fit(&format!("{last}{ELLIPSIS}{ELLIPSIS}"), size, max_w);
            if !s.ends_with(ELLIPSIS) {
                s.push(ELLIPSIS);
            }
            s
        };
    }
    lines
}

/// The longest prefix of `word` that fits `max_w` (no ellipsis).
fn fit_chars(word: &str, size: f32, max_w: f32) -> &str {
    let Some(font) = font() else { return word };
    let sf = font.as_scaled(PxScale::from(size));
    let mut x = 0.0;
    let mut prev = None;
    for (i, c) in word.char_indices() {
        let Some(id) = glyph(font, c) else { continue };
        x += prev.map_or(0.0, |p| sf.kern(p, id)) + sf.h_advance(id);
        if x > max_w {
            return &word[..i];
        }
        prev = Some(id);
    }
    word
}

/// Draws `text` with its baseline's left end at (`x`, `baseline`). `bold` draws it twice, a
/// fraction of a pixel apart (the font is a light weight).
pub fn draw(
    img: &mut RgbImage,
    text: &str,
    x: f32,
    baseline: f32,
    size: f32,
    col: Rgb,
    bold: bool,
) {
    if !(x.is_finite() && baseline.is_finite() && size.is_finite()) || size < 1.0 {
        return;
    }
    draw_once(img, text, x, baseline, size, col);
    if bold {
        draw_once(
            img,
            text,
            x + (size * 0.045).clamp(0.35, 2.0),
            baseline,
            size,
            col,
        );
    }
}

fn draw_once(img: &mut RgbImage, text: &str, x0: f32, baseline: f32, size: f32, col: Rgb) {
    let Some(font) = font() else { return };
    let sf = font.as_scaled(PxScale::from(size));
    let (w, h) = img.dimensions();
    let colf = [f32::from(col[0]), f32::from(col[1]), f32::from(col[2])];
    let mut x = x0;
    let mut prev = None;
    for c in text.chars() {
        let Some(id) = glyph(font, c) else { continue };
        if let Some(p) = prev {
            x += sf.kern(p, id);
        }
        prev = Some(id);
        let g = id.with_scale_and_position(PxScale::from(size), point(x, baseline));
        x += sf.h_advance(id);
        if x > w as f32 + size {
            break;
        }
        let Some(outline) = font.outline_glyph(g) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let px = b.min.x as i64 + i64::from(gx);
            let py = b.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(w) || py >= i64::from(h) || cov <= 0.0 {
                return;
            }
            // Slightly darker mid-tones than linear coverage: small light text stays legible.
            let a = cov.min(1.0).powf(0.8);
            let p = img.get_pixel_mut(px as u32, py as u32);
            for k in 0..3 {
                let v = f32::from(p[k]);
                p[k] = (v + (colf[k] - v) * a + 0.5) as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_loads() {
        assert!(font().is_some());
        assert!(measure("SHOT 12A", 16.0) > 40.0);
    }

    #[test]
    fn wrapping_keeps_to_the_lines_and_ends_in_an_ellipsis() {
        let long = "word ".repeat(500);
        let lines = wrap(&long, 14.0, 200.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| measure(l, 14.0) <= 200.0));
        assert!(lines[1].ends_with(ELLIPSIS));
        let short = wrap("She runs.", 14.0, 200.0, 2);
        assert_eq!(short, vec!["She runs.".to_string()]);
        let unbroken = "x".repeat(10_000);
        let lines = wrap(&unbroken, 14.0, 100.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| measure(l, 14.0) <= 100.0));
        assert!(wrap("", 14.0, 100.0, 2).is_empty());
        assert!(wrap("   \n\t ", 14.0, 100.0, 2).is_empty());
    }

    #[test]
    fn fitting_cuts_with_an_ellipsis() {
        let s = fit("INT. A VERY LONG LOCATION NAME - CONTINUOUS", 14.0, 120.0);
        assert!(s.ends_with(ELLIPSIS), "{s}");
        assert!(measure(&s, 14.0) <= 120.0);
        assert_eq!(fit("ANNA", 14.0, 120.0), "ANNA");
        assert_eq!(fit("ANNA", 14.0, 0.0), "");
    }

    #[test]
    fn odd_text_does_not_panic() {
        let mut img = RgbImage::new(64, 32);
        for s in [
            "😀🎬",
            "שלום עולם",
            "e\u{301}\u{301}\u{301}",
            "\u{0}\u{7}\r\n",
            "\u{FEFF}x",
        ] {
            draw(&mut img, s, -5.0, 20.0, 14.0, [0, 0, 0], true);
            let _ = wrap(s, 14.0, 3.0, 2);
            let _ = fit(s, 14.0, 3.0);
        }
        draw(&mut img, "x", f32::NAN, 20.0, 14.0, [0, 0, 0], false);
    }
}
