//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use previz_screenplay::{
    Parsed, Screenplay, parse_fdx, parse_fountain, parse_fountain_bytes, write_fountain,
};

/// The sample screenplays shipped in `assets/screenplays/`.
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/screenplays")
}

/// The samples that parse (everything but `broken.*`).
pub const GOOD_SAMPLES: [&str; 4] = [
    "short-action.fountain",
    "dialogue-heavy.fountain",
    "every-feature.fountain",
    "short-action.fdx",
];

pub fn read_sample(name: &str) -> Vec<u8> {
    let path = samples_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn parse_sample(name: &str) -> Parsed {
    let bytes = read_sample(name);
    let parsed = if name.ends_with(".fdx") {
        parse_fdx(&bytes)
    } else {
        parse_fountain_bytes(&bytes)
    };
    parsed.unwrap_or_else(|error| panic!("{}", error.with_path(name)))
}

/// Writes `sp` as Fountain, reads it back and checks nothing but positions and styled runs
/// changed. Returns the Fountain text.
pub fn assert_round_trip(sp: &Screenplay, what: &str) -> String {
    let written = write_fountain(sp);
    let back = match parse_fountain(&written) {
        Ok(parsed) => parsed.screenplay,
        Err(error) => panic!("{what}: written Fountain does not parse: {error}\n{written}"),
    };
    let (want, got) = (sp.content_only(), back.content_only());
    if want != got {
        let first = want
            .elements
            .iter()
            .zip(&got.elements)
            .position(|(a, b)| a != b);
        panic!(
            "{what}: round trip changed the screenplay (first differing element: {first:?}, \
             lengths {} vs {})\nwant: {:#?}\ngot: {:#?}\nwritten:\n{written}",
            want.elements.len(),
            got.elements.len(),
            first.and_then(|i| want.elements.get(i)),
            first.and_then(|i| got.elements.get(i)),
        );
    }
    written
}

/// About 200 pages: scenes of action and dialogue, repeated to `lines` lines.
pub fn feature_length(lines: usize) -> String {
    let scene = "\
INT. ENGINE ROOM - NIGHT #{n}#

Steam vents hiss. *Every* gauge is in the red. [[check the red]]

CHIEF (O.S.)
(shouting)
Hold her together!

ENSIGN
I'm trying!
  
She's not listening.

CHIEF ^
Try **harder**.

/* an older version of this beat */
The lights flicker.

CUT TO:

";
    let mut out = String::from("Title: Long Haul\nAuthor: Test Suite\n\n");
    let mut n = 0;
    while out.lines().count() < lines {
        n += 1;
        out.push_str(&scene.replace("{n}", &n.to_string()));
    }
    out
}
