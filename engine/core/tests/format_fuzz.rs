//! The project file is input: random bytes and damaged project files must give an error, never
//! a panic; anything that loads must validate without panicking and save again.

use previz_core::format::{from_json, to_json};
use proptest::prelude::*;

fn valid_file() -> Vec<u8> {
    to_json(&previz_core::synth::project(6, 8))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = from_json(&bytes);
    }

    #[test]
    fn damaged_project_files_never_panic(
        cut in 0usize..100_000,
        flips in prop::collection::vec((0usize..100_000, any::<u8>()), 0..6),
    ) {
        let mut bytes = valid_file();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Ok(project) = from_json(&bytes) {
            let _ = project.validate();
            let again = from_json(&to_json(&project)).expect("what loads, saves and loads again");
            prop_assert_eq!(again, project);
        }
    }

    #[test]
    fn json_shaped_garbage_never_panics(
        fields in prop::collection::vec(("[a-z_]{1,12}", prop_oneof![
            Just("null".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()),
            Just("\"24000/1001\"".to_owned()), Just("-1".to_owned()), Just("1e400".to_owned()),
            Just("\"blake3:zz\"".to_owned()), Just("{\"value\":1,\"rate\":\"0\"}".to_owned()),
        ]), 0..10),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        let text = format!("{{\"schema\": \"previz.project\", \"version\": 1, {}}}", body.join(", "));
        let _ = from_json(text.as_bytes());
    }
}
