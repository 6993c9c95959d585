//! Property tests of what `previz batch` and `previz farm` parse from people and schedulers:
//! no input panics, and what is written back reads back the same.

use previz_batch::farm::{shell_quote, split_words};
use previz_batch::{Shard, Steps};
use proptest::prelude::*;

proptest! {
    #[test]
    fn steps_and_shards_never_panic(text in ".{0,40}") {
        let _ = text.parse::<Steps>();
        let _ = text.parse::<Shard>();
        let _ = split_words(&text);
    }

    #[test]
    fn shards_read_back(count in 1usize..10_000, index in 0usize..10_000) {
        let parsed = format!("{index}/{count}").parse::<Shard>();
        if index < count {
            let shard = parsed.unwrap();
            prop_assert_eq!(shard.to_string().parse::<Shard>().unwrap(), shard);
        } else {
            prop_assert!(parsed.is_err());
        }
    }

    #[test]
    fn scheduler_environment_never_panics(id in ".{0,12}", min in ".{0,6}", count in ".{0,6}", shards in proptest::option::of(0usize..64)) {
        let env = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some(id.clone()),
            "SLURM_ARRAY_TASK_MIN" => Some(min.clone()),
            "SLURM_ARRAY_TASK_COUNT" => Some(count.clone()),
            _ => None,
        };
        if let Ok(Some(shard)) = Shard::from_env(env, shards) {
            prop_assert!(shard.index < shard.count);
        }
    }

    #[test]
    fn quoted_words_split_back(words in proptest::collection::vec(".{0,12}", 0..6)) {
        let line = words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(split_words(&line).unwrap(), words);
    }
}
