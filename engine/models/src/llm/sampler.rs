//! Choosing the next token: repeat penalty, temperature, top-p, a seeded RNG.
//!
//! Deterministic by construction: the RNG is ChaCha8 seeded from the user's seed (portable
//! across platforms and `rand` versions), ties break towards the lower id, and candidates are
//! visited in a fixed order, so the same logits and seed always give the same token.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sampling settings (llama.cpp's names and meanings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// 0 means greedy.
    pub temperature: f32,
    /// Nucleus: keep the most likely tokens whose probabilities sum to this (1 keeps all).
    pub top_p: f32,
    /// > 1 discourages tokens seen in the last `repeat_last_n` tokens.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.9,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Always the most likely token.
    #[must_use]
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            seed: 0,
        }
    }

    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// A sampler: settings plus the RNG state of one generation.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: Sampling,
    rng: ChaCha8Rng,
    scratch: Vec<(u32, f32)>,
}

impl Sampler {
    #[must_use]
    pub fn new(params: Sampling) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(params.seed);
        Self {
            params,
            rng,
            scratch: Vec::new(),
        }
    }

    #[must_use]
    pub fn params(&self) -> &Sampling {
        &self.params
    }

    /// Picks a token from `logits`, among `allowed` when given (an empty `allowed` is a caller
    /// bug reported as `None`), penalising tokens in `recent`.
    pub fn sample(
        &mut self,
        logits: &[f32],
        allowed: Option<&[u32]>,
        recent: &[u32],
    ) -> Option<u32> {
        let window = &recent[recent.len().saturating_sub(self.params.repeat_last_n)..];
        let penalty = self.params.repeat_penalty;
        let score = |id: u32| -> f32 {
            let Some(&l) = logits.get(id as usize) else {
                return f32::NEG_INFINITY;
            };
            let l = if l.is_nan() { f32::NEG_INFINITY } else { l };
            if penalty != 1.0 && window.contains(&id) {
                if l > 0.0 { l / penalty } else { l * penalty }
            } else {
                l
            }
        };
        self.scratch.clear();
        match allowed {
            Some(ids) => self.scratch.extend(ids.iter().map(|&id| (id, score(id)))),
            None => self.scratch.extend((0..logits.len()).map(|i| {
                let id = u32::try_from(i).unwrap_or(u32::MAX);
                (id, score(id))
            })),
        }
        if self.scratch.is_empty() {
            return None;
        }
        let greedy = self.params.temperature <= 0.0 || self.params.top_p <= 0.0;
        let best =
            self.scratch
                .iter()
                .copied()
                .fold(None::<(u32, f32)>, |acc, (id, l)| match acc {
                    Some((bid, bl)) if bl > l || (bl == l && bid < id) => Some((bid, bl)),
                    _ => Some((id, l)),
                })?;
        if greedy || !best.1.is_finite() {
            return Some(best.0);
        }
        // Softmax at temperature, then the nucleus.
        let t = self.params.temperature;
        let max = best.1;
        let mut total = 0.0f64;
        for (_, l) in &mut self.scratch {
            let p = f64::from((*l - max) / t).exp();
            *l = p as f32;
            total += p;
        }
        self.scratch
            .sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top_p = f64::from(self.params.top_p.min(1.0));
        let mut kept = 0usize;
        let mut mass = 0.0f64;
        for (_, p) in &self.scratch {
            mass += f64::from(*p) / total;
            kept += 1;
            if mass >= top_p {
                break;
            }
        }
        let nucleus = &self.scratch[..kept.max(1)];
        let nucleus_total: f64 = nucleus.iter().map(|(_, p)| f64::from(*p)).sum();
        let mut u = self.rng.random::<f64>() * nucleus_total;
        for &(id, p) in nucleus {
            u -= f64::from(p);
            if u < 0.0 {
                return Some(id);
            }
        }
        nucleus.last().map(|&(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_allowed() {
        let logits = [0.1, 5.0, 3.0, 4.0];
        let mut s = Sampler::new(Sampling::greedy());
        assert_eq!(s.sample(&logits, None, &[]), Some(1));
        assert_eq!(s.sample(&logits, Some(&[0, 2, 3]), &[]), Some(3));
        assert_eq!(s.sample(&logits, Some(&[]), &[]), None);
    }

    #[test]
    fn repeat_penalty_demotes_recent_tokens() {
        let logits = [0.0, 5.0, 4.9];
        let mut s = Sampler::new(Sampling {
            repeat_penalty: 1.3,
            repeat_last_n: 8,
            ..Sampling::greedy()
        });
        assert_eq!(s.sample(&logits, None, &[1]), Some(2));
    }

    #[test]
    fn same_seed_same_tokens_and_nucleus_respected() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(Sampling::default().with_seed(seed));
            (0..64)
                .map(|_| s.sample(&logits, None, &[]).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // A near-zero top_p keeps only the most likely token.
        let mut s = Sampler::new(Sampling {
            top_p: 1e-6,
            ..Sampling::default()
        });
        let best = Sampler::new(Sampling::greedy()).sample(&logits, None, &[]);
        for _ in 0..20 {
            assert_eq!(s.sample(&logits, None, &[]), best);
        }
    }

    #[test]
    fn nan_and_infinite_logits_never_panic() {
        let logits = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 1.0];
        let mut s = Sampler::new(Sampling::default());
        assert!(s.sample(&logits, None, &[]).is_some());
        let logits = [f32::NAN; 4];
        assert!(s.sample(&logits, Some(&[2]), &[]) == Some(2));
    }
}
