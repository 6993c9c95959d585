//! The screenplay AST. Its serde form is the crate's public JSON contract (see the crate README):
//! field names and shapes here are promised to external tools, so change them only with a note
//! in README.md.

use serde::Serialize;

/// A parsed screenplay: the title page and the body, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Screenplay {
    /// Title-page entries in file order. Serialised as a JSON object keyed by the key as written
    /// (a key written twice has its values joined with `'\n'`).
    #[serde(serialize_with = "super::serialize_title_page")]
    pub title_page: Vec<TitleEntry>,
    /// Body elements in file order.
    pub elements: Vec<Element>,
}

/// One `Key: value` entry of the title page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TitleEntry {
    /// The key as written, without the colon (`"Title"`, `"Draft date"`).
    pub key: String,
    /// The visible value: emphasis markers removed, escapes resolved, multi-line values joined
    /// with `'\n'` and their indentation removed.
    pub value: String,
    /// Styled runs of `value`, only when some of it is bold, italic or underlined.
    pub spans: Option<Vec<TextRun>>,
    /// Where the key starts in the source.
    pub span: Span,
}

/// A position in the source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

/// A run of text with one style. The runs of an element concatenate to its `text`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TextRun {
    pub text: String,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
}

/// One body element. Serialised as `{"type": ..., <fields of the kind>, "line": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Element {
    #[serde(flatten)]
    pub kind: ElementKind,
    /// Where the element starts in the source; only the line is part of the JSON.
    #[serde(rename = "line", serialize_with = "super::serialize_span_line")]
    pub span: Span,
}

/// Which side of a dual-dialogue pair a character is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DualSide {
    Left,
    Right,
}

/// The Fountain element types, named as in the Fountain spec.
///
/// Text-bearing kinds carry `text` (what a reader sees), `spans` (styled runs of `text`, only
/// when some styling exists) and `notes` (inline `[[notes]]` that were removed from the text,
/// in order; omitted from JSON when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ElementKind {
    SceneHeading {
        /// The heading without the forcing `.` and without the `#number#`.
        text: String,
        /// The scene number written as `#1A#`, without the `#`s.
        scene_number: Option<String>,
        /// Written with a leading `.`.
        forced: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Action {
        /// Lines joined with `'\n'`; indentation kept, each tab as four spaces (as the spec
        /// says).
        text: String,
        /// Written with a leading `!`.
        forced: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Character {
        /// The name without `@`, extensions or `^`.
        name: String,
        /// The extensions joined with a space (`"V.O. CONT'D"`), or null.
        extension: Option<String>,
        /// Each parenthesised extension in order (`["V.O.", "CONT'D"]`).
        extensions: Vec<String>,
        /// True on both characters of a dual-dialogue pair.
        dual: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        dual_side: Option<DualSide>,
        /// Written with a leading `@`.
        forced: bool,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Parenthetical {
        /// Including the parentheses.
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Dialogue {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Lyrics {
        /// Lines without their `~`, joined with `'\n'`.
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Transition {
        /// Without the forcing `>`.
        text: String,
        /// Written with a leading `>`.
        forced: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Centered {
        /// Without `>` and `<`; several centred lines are joined with `'\n'`.
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Section {
        text: String,
        /// The number of `#`.
        depth: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    Synopsis {
        /// Without the `=`.
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<TextRun>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    /// A note standing in its own paragraph. Its text is verbatim apart from escapes; lines are
    /// trimmed.
    Note {
        text: String,
    },
    PageBreak,
}

impl ElementKind {
    /// The JSON `"type"` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SceneHeading { .. } => "scene_heading",
            Self::Action { .. } => "action",
            Self::Character { .. } => "character",
            Self::Parenthetical { .. } => "parenthetical",
            Self::Dialogue { .. } => "dialogue",
            Self::Lyrics { .. } => "lyrics",
            Self::Transition { .. } => "transition",
            Self::Centered { .. } => "centered",
            Self::Section { .. } => "section",
            Self::Synopsis { .. } => "synopsis",
            Self::Note { .. } => "note",
            Self::PageBreak => "page_break",
        }
    }

    /// The visible text: the name for a character, nothing for a page break.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::SceneHeading { text, .. }
            | Self::Action { text, .. }
            | Self::Parenthetical { text, .. }
            | Self::Dialogue { text, .. }
            | Self::Lyrics { text, .. }
            | Self::Transition { text, .. }
            | Self::Centered { text, .. }
            | Self::Section { text, .. }
            | Self::Synopsis { text, .. }
            | Self::Note { text } => Some(text),
            Self::Character { name, .. } => Some(name),
            Self::PageBreak => None,
        }
    }

    /// Styled runs of the text, when there is styling.
    pub fn spans(&self) -> Option<&[TextRun]> {
        match self {
            Self::SceneHeading { spans, .. }
            | Self::Action { spans, .. }
            | Self::Parenthetical { spans, .. }
            | Self::Dialogue { spans, .. }
            | Self::Lyrics { spans, .. }
            | Self::Transition { spans, .. }
            | Self::Centered { spans, .. }
            | Self::Section { spans, .. }
            | Self::Synopsis { spans, .. } => spans.as_deref(),
            Self::Character { .. } | Self::Note { .. } | Self::PageBreak => None,
        }
    }

    pub(crate) fn spans_mut(&mut self) -> Option<&mut Option<Vec<TextRun>>> {
        match self {
            Self::SceneHeading { spans, .. }
            | Self::Action { spans, .. }
            | Self::Parenthetical { spans, .. }
            | Self::Dialogue { spans, .. }
            | Self::Lyrics { spans, .. }
            | Self::Transition { spans, .. }
            | Self::Centered { spans, .. }
            | Self::Section { spans, .. }
            | Self::Synopsis { spans, .. } => Some(spans),
            Self::Character { .. } | Self::Note { .. } | Self::PageBreak => None,
        }
    }

    /// Inline notes removed from this element's text.
    pub fn notes(&self) -> &[String] {
        match self {
            Self::SceneHeading { notes, .. }
            | Self::Action { notes, .. }
            | Self::Character { notes, .. }
            | Self::Parenthetical { notes, .. }
            | Self::Dialogue { notes, .. }
            | Self::Lyrics { notes, .. }
            | Self::Transition { notes, .. }
            | Self::Centered { notes, .. }
            | Self::Section { notes, .. }
            | Self::Synopsis { notes, .. } => notes,
            Self::Note { .. } | Self::PageBreak => &[],
        }
    }

    /// Mutable access to the notes, for kinds that can carry them.
    pub(crate) fn notes_mut(&mut self) -> Option<&mut Vec<String>> {
        match self {
            Self::SceneHeading { notes, .. }
            | Self::Action { notes, .. }
            | Self::Character { notes, .. }
            | Self::Parenthetical { notes, .. }
            | Self::Dialogue { notes, .. }
            | Self::Lyrics { notes, .. }
            | Self::Transition { notes, .. }
            | Self::Centered { notes, .. }
            | Self::Section { notes, .. }
            | Self::Synopsis { notes, .. } => Some(notes),
            Self::Note { .. } | Self::PageBreak => None,
        }
    }

    /// The same kind without styled runs: what a round trip through Fountain must preserve.
    pub fn without_spans(&self) -> Self {
        let mut kind = self.clone();
        if let Some(spans) = kind.spans_mut() {
            *spans = None;
        }
        kind
    }
}

impl Element {
    pub fn new(kind: ElementKind, span: Span) -> Self {
        Self { kind, span }
    }
}

impl Screenplay {
    /// A copy without source positions and styled runs: the content that writing Fountain and
    /// reading it back must preserve.
    pub fn content_only(&self) -> Self {
        Self {
            title_page: self
                .title_page
                .iter()
                .map(|entry| TitleEntry {
                    key: entry.key.clone(),
                    value: entry.value.clone(),
                    spans: None,
                    span: Span::default(),
                })
                .collect(),
            elements: self
                .elements
                .iter()
                .map(|element| Element::new(element.kind.without_spans(), Span::default()))
                .collect(),
        }
    }

    /// The value of the first title-page entry with this key (case-insensitive).
    pub fn title_value(&self, key: &str) -> Option<&str> {
        self.title_page
            .iter()
            .find(|entry| entry.key.eq_ignore_ascii_case(key))
            .map(|entry| entry.value.as_str())
    }
}
