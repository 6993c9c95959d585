//! Editorial interchange: the project's edit written as OpenTimelineIO, CMX3600 EDL, FCP 7 XML
//! and FCPXML 1.10 (each per its published spec, read back in tests by the OpenTimelineIO
//! adapters editors use), a CSV shot list, and conform: a cut edited in editorial read back
//! (OTIO, EDL or FCPXML) and applied to the project as edit commands.
//!
//! Everything goes through [`Cut`]: exporters take one built from the project, importers
//! return one, and [`conform`] compares it with the project's timeline.

pub mod conform;
mod cut;
pub mod edl;
pub mod fcpxml;
mod media;
pub mod otio;
pub mod shotlist;
mod timecode;
pub mod xmeml;

pub use cut::{Cut, CutClip, CutItem, CutMarker, CutTrack, Media, MediaKind, MediaRequest, Origin};
pub use media::{MediaFolder, extension, safe_file_stem};

/// Why an editorial file could not be read. The message names the file, the line when the
/// format has lines, what was expected, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ImportError {
    /// The file's name (or `<input>`).
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ImportError {
    pub(crate) fn new(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// The formats an edited cut is read back from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutFormat {
    Otio,
    Edl,
    Fcpxml,
}

impl CutFormat {
    /// The format a file's extension names (`.otio`, `.edl`, `.fcpxml`).
    #[must_use]
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path
            .extension()?
            .to_string_lossy()
            .to_ascii_lowercase()
            .as_str()
        {
            "otio" => Some(CutFormat::Otio),
            "edl" => Some(CutFormat::Edl),
            "fcpxml" => Some(CutFormat::Fcpxml),
            _ => None,
        }
    }
}

/// Reads a cut edited in editorial, to conform `project` to. An EDL is read at the project's
/// rate from its start timecode, and its picture events are the project's video track named
/// `edl_track` (the first video track when none). `file` names the cut in errors.
pub fn read_cut(
    text: &str,
    format: CutFormat,
    file: &str,
    project: &previz_core::project::Project,
    edl_track: Option<&str>,
) -> Result<Cut, ImportError> {
    match format {
        CutFormat::Otio => otio::read(text, file),
        CutFormat::Fcpxml => fcpxml::read(text, file),
        CutFormat::Edl => {
            let timeline = &project.timeline;
            let mut cut = edl::read(text, timeline.rate, Some(timeline.start_frame), file)?;
            let ours = timeline
                .tracks
                .iter()
                .filter(|t| t.kind == previz_core::timeline::TrackKind::Video)
                .find(|t| edl_track.is_none_or(|name| t.name == name))
                .ok_or_else(|| {
                    ImportError::new(
                        file,
                        None,
                        format!(
                            "the project has no video track{} for the EDL's picture events",
                            edl_track
                                .map(|n| format!(" named '{n}'"))
                                .unwrap_or_default()
                        ),
                    )
                })?;
            if let Some(track) = cut.tracks.first_mut() {
                track.id = Some(ours.id);
                track.name.clone_from(&ours.name);
            }
            Ok(cut)
        }
    }
}

/// A `file://` URL for an absolute path (RFC 8089), percent-encoding what URLs may not carry.
#[must_use]
pub fn file_url(path: &std::path::Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file://");
    if !text.starts_with('/') {
        out.push('/');
    }
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The path a `file://` URL names (percent-decoded); other text is taken as a path as it is.
#[must_use]
pub fn path_from_url(url: &str) -> std::path::PathBuf {
    let Some(rest) = url.strip_prefix("file://") else {
        return std::path::PathBuf::from(url);
    };
    // file://localhost/path and file:///path both name /path.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = rest.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::path::PathBuf::from(String::from_utf8_lossy(&out).into_owned())
}

/// Parses XML as editorial tools write it (with a `<!DOCTYPE>`; entities are not expanded
/// beyond roxmltree's limits, so no billion-laughs).
pub(crate) fn parse_xml(text: &str) -> Result<roxmltree::Document<'_>, roxmltree::Error> {
    roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        },
    )
}

/// XML text and attribute escaping.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_round_trip() {
        for p in ["/mnt/nas/show/a b#1%.png", "/tmp/été/x.wav", "/plain/x.png"] {
            let url = file_url(std::path::Path::new(p));
            assert!(url.starts_with("file:///"), "{url}");
            assert!(!url.contains(' ') && !url.contains('#'), "{url}");
            assert_eq!(path_from_url(&url), std::path::PathBuf::from(p));
        }
        assert_eq!(
            path_from_url("file://localhost/a/b.png"),
            std::path::PathBuf::from("/a/b.png")
        );
    }

    #[test]
    fn xml_escape_drops_forbidden_controls() {
        assert_eq!(xml_escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
