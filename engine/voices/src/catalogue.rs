//! What can be cast, and hearing a casting before committing to it.
//!
//! The catalogue is what a casting panel offers: the Piper voices installed (with their
//! speakers, for multi-speaker voices), espeak-ng's own languages and its voice variants
//! (`espeak:en-us+Annie`), and silent timing. [`preview`] speaks a character's first line (or
//! a line introducing them) the way the casting would, without touching the project.

use std::process::Command;

use previz_core::CharacterId;
use previz_core::Project;
use previz_core::script::Casting;
use previz_models::registry::ModelKind;
use previz_models::tts::voice::VoiceConfig;

use crate::VoicesError;
use crate::delivery::{Delivery, Segment, segments};
use crate::engine::{Rendered, VoiceBank};

/// Which engine a catalogue entry speaks with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceFamily {
    Piper,
    Espeak,
    Silent,
}

/// One voice a character can be cast as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceOption {
    /// What [`Casting::voice`] holds for it (`en-us-joe-medium`, `espeak:en-gb`, `silent`).
    pub id: String,
    /// For people: "en-us-joe-medium (Piper)", "English (Great Britain) (espeak-ng)".
    pub label: String,
    pub family: VoiceFamily,
    /// A multi-speaker voice's speakers by name (empty for single-speaker voices).
    pub speakers: Vec<String>,
    /// Speakers by number when the voice has no names for them.
    pub speaker_count: usize,
}

/// An espeak-ng variant (a different speaker on any of its languages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// What follows the `+` (`Annie`, `f3`).
    pub name: String,
    /// `M` or `F` as espeak-ng lists it.
    pub gender: String,
}

/// Everything castable on this machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub voices: Vec<VoiceOption>,
    pub variants: Vec<Variant>,
    /// What is missing and how to get it, one line each.
    pub notes: Vec<String>,
}

impl Catalogue {
    /// The entry a casting's voice names (a variant `espeak:en-us+Annie` finds `espeak:en-us`).
    #[must_use]
    pub fn find(&self, voice: &str) -> Option<&VoiceOption> {
        let base = voice.split_once('+').map_or(voice, |(b, _)| b);
        self.voices.iter().find(|v| v.id == base)
    }
}

/// One row of `espeak-ng --voices` (`Pty Language Age/Gender VoiceName File Other`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EspeakListing {
    pub language: String,
    pub gender: String,
    pub name: String,
    pub file: String,
}

/// Parses the table `espeak-ng --voices` prints. Rows that do not have the columns are
/// skipped (the header, blank lines); never fails.
#[must_use]
pub fn parse_espeak_voices(text: &str) -> Vec<EspeakListing> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let priority = cols.next()?;
            priority.parse::<u32>().ok()?;
            let language = cols.next()?.to_string();
            let gender = cols
                .next()?
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let name = cols.next()?.to_string();
            let file = cols.next()?.to_string();
            Some(EspeakListing {
                language,
                gender,
                name,
                file,
            })
        })
        .collect()
}

fn espeak_listing(program: &str, filter: Option<&str>) -> Option<String> {
    let arg = filter.map_or_else(|| "--voices".to_string(), |f| format!("--voices={f}"));
    let out = Command::new(program).arg(arg).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The castable espeak-ng languages of a listing: MBROLA voices (which need the separate
/// mbrola program and its databases) and variants are left out; one entry per language.
#[must_use]
pub fn espeak_options(listing: &[EspeakListing]) -> Vec<VoiceOption> {
    let mut out: Vec<VoiceOption> = Vec::new();
    for row in listing {
        if row.file.starts_with("mb/") || row.file.starts_with("!v/") || row.language == "variant" {
            continue;
        }
        let id = format!("espeak:{}", row.language);
        if out.iter().any(|v| v.id == id) {
            continue;
        }
        out.push(VoiceOption {
            label: format!("{} (espeak-ng)", row.name.replace('_', " ")),
            id,
            family: VoiceFamily::Espeak,
            speakers: Vec::new(),
            speaker_count: 1,
        });
    }
    // English first: the scripts this studio reads are mostly English.
    out.sort_by_key(|v| !v.id.starts_with("espeak:en"));
    out
}

impl VoiceBank {
    /// What can be cast here. Reads the voices' configurations and asks espeak-ng for its
    /// voices: disk and a process, so call it off the UI thread.
    #[must_use]
    pub fn catalogue(&self) -> Catalogue {
        let mut catalogue = Catalogue::default();
        for entry in self.registry().installed(ModelKind::Tts) {
            let Some(path) = &entry.path else { continue };
            let config_path = {
                let mut p = path.clone().into_os_string();
                p.push(".json");
                std::path::PathBuf::from(p)
            };
            let (speakers, speaker_count) = match VoiceConfig::load(&config_path) {
                Ok(config) => {
                    let mut names: Vec<(i64, String)> = config
                        .speaker_id_map
                        .iter()
                        .map(|(name, id)| (*id, name.clone()))
                        .collect();
                    names.sort();
                    (
                        names.into_iter().map(|(_, n)| n).collect(),
                        config.num_speakers.max(1),
                    )
                }
                Err(e) => {
                    catalogue.notes.push(format!("voice {}: {e}", entry.id));
                    continue;
                }
            };
            catalogue.voices.push(VoiceOption {
                label: format!("{} (Piper)", entry.id),
                id: entry.id.clone(),
                family: VoiceFamily::Piper,
                speakers,
                speaker_count,
            });
        }
        if self.has_espeak() {
            if let Some(text) = espeak_listing(self.espeak_program(), None) {
                catalogue
                    .voices
                    .extend(espeak_options(&parse_espeak_voices(&text)));
            }
            if let Some(text) = espeak_listing(self.espeak_program(), Some("variant")) {
                catalogue.variants = parse_espeak_voices(&text)
                    .into_iter()
                    .filter_map(|row| {
                        Some(Variant {
                            name: row.file.strip_prefix("!v/")?.to_string(),
                            gender: row.gender,
                        })
                    })
                    .collect();
            }
            if catalogue
                .voices
                .iter()
                .all(|v| v.family != VoiceFamily::Piper)
            {
                catalogue.notes.push(
                    "No Piper voice is installed: run python3 models/fetch.py for en_US-joe-medium, or put a voice (.onnx + .onnx.json) in models/".into(),
                );
            }
        } else {
            catalogue.notes.push(
                "espeak-ng is not installed: only silent timing can be cast (Debian: apt install espeak-ng)".into(),
            );
        }
        catalogue.voices.push(VoiceOption {
            id: "silent".into(),
            label: "Silent (timed at reading speed)".into(),
            family: VoiceFamily::Silent,
            speakers: Vec::new(),
            speaker_count: 1,
        });
        catalogue
    }
}

/// Most words a preview speaks (a long speech is cut after the sentence that reaches it).
const PREVIEW_WORDS: usize = 30;

/// What a preview of `character` says: their first speech (with its parentheticals'
/// delivery), cut after the sentence that reaches [`PREVIEW_WORDS`]; a character who never
/// speaks introduces themselves.
#[must_use]
pub fn preview_segments(project: &Project, character: CharacterId) -> Vec<Segment> {
    let first = project
        .script
        .scenes
        .iter()
        .flat_map(previz_core::Scene::dialogue)
        .find(|d| d.character == Some(character) && !d.spoken_text().trim().is_empty());
    if let Some(block) = first {
        let mut out = Vec::new();
        let mut words = 0;
        for segment in segments(block) {
            if let Segment::Say { text, delivery } = &segment {
                let mut kept = String::new();
                for sentence in text.split_inclusive(['.', '!', '?']) {
                    if words >= PREVIEW_WORDS {
                        break;
                    }
                    words += sentence.split_whitespace().count();
                    kept.push_str(sentence);
                }
                if !kept.trim().is_empty() {
                    out.push(Segment::Say {
                        text: kept.trim().to_string(),
                        delivery: delivery.clone(),
                    });
                }
                if words >= PREVIEW_WORDS {
                    break;
                }
            } else {
                out.push(segment);
            }
        }
        if out.iter().any(|s| matches!(s, Segment::Say { .. })) {
            return out;
        }
    }
    let name = project
        .script
        .character(character)
        .map_or_else(|| "someone".to_string(), |c| title_case(&c.name));
    vec![Segment::Say {
        text: format!("Hello, my name is {name}. This is how I sound."),
        delivery: Delivery::default(),
    }]
}

fn title_case(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let lower = w.to_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `character` speaking as `casting` at `rate` Hz: what "preview voice" plays. The project is
/// not changed and nothing is stored.
pub fn preview(
    bank: &mut VoiceBank,
    project: &Project,
    character: CharacterId,
    casting: &Casting,
    rate: u32,
) -> Result<Rendered, VoicesError> {
    let segments = preview_segments(project, character);
    bank.render(casting, &segments, rate, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str =
        "Pty Language       Age/Gender VoiceName          File                 Other Languages
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 3  en-uk           --/M      english-mb-en1     mb/mb-en1            (en-gb 3)(en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  af              --/M      Afrikaans          gmw/af
 5  en-us           --/F      us-mbrola-1        mb/mb-us1            (en 8)
 5  variant         --/M      Storm              !v/Storm             (en-us 5)

garbage line
";

    #[test]
    fn the_listing_parses_and_mbrola_and_variants_are_left_out() {
        let rows = parse_espeak_voices(LISTING);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].language, "en-gb");
        assert_eq!(rows[4].gender, "F");
        let options = espeak_options(&rows);
        let ids: Vec<_> = options.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["espeak:en-gb", "espeak:en-us", "espeak:af"]);
        assert_eq!(options[0].label, "English (Great Britain) (espeak-ng)");
    }

    #[test]
    fn a_variant_finds_its_language() {
        let catalogue = Catalogue {
            voices: espeak_options(&parse_espeak_voices(LISTING)),
            ..Catalogue::default()
        };
        assert_eq!(
            catalogue.find("espeak:en-us+Annie").map(|v| v.id.as_str()),
            Some("espeak:en-us")
        );
        assert!(catalogue.find("espeak:xx").is_none());
    }

    #[test]
    fn names_are_title_cased_for_the_introduction() {
        assert_eq!(title_case("MARA"), "Mara");
        assert_eq!(title_case("OLD  TOM"), "Old Tom");
    }

    proptest::proptest! {
        #[test]
        fn any_listing_text_parses_without_panicking(text in "\\PC{0,400}") {
            let rows = parse_espeak_voices(&text);
            let _ = espeak_options(&rows);
        }
    }
}
