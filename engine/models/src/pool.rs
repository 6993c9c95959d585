//! One memory budget for every model the process holds: the LLM, the diffusion model and the
//! TTS voice share one 24 GB card (or the workstation's RAM). Models are loaded on demand,
//! kept while the budget allows (so the next job does not reload gigabytes), and the least
//! recently used ones that no job is using are dropped when a new one needs the room.
//!
//! A model in use (its `Arc` held by a job) is never evicted; when what is in use leaves no
//! room, the load is refused with an error that says how much is needed and what holds the
//! memory, instead of the CUDA allocator failing halfway through a batch.
//!
//! Loads are serialised (one at a time), so two jobs asking for the same model load it once
//! and two big loads never overlap their peaks.

use std::any::Any;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// What identifies a loaded model: its kind, its files and everything that changes the
/// weights in memory (device, dtype, LoRAs and their scales).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub kind: &'static str,
    pub path: PathBuf,
    pub variant: String,
}

impl std::fmt::Display for PoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.path.display())?;
        if !self.variant.is_empty() {
            write!(f, " ({})", self.variant)?;
        }
        Ok(())
    }
}

/// Why a model could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PoolError<E> {
    #[error(
        "{key} needs {} MiB but the model memory budget is {} MiB; raise it (PREVIZ_MODEL_BUDGET_MIB) or use a smaller model",
        mib(*needed),
        mib(*budget)
    )]
    TooBig {
        key: String,
        needed: u64,
        budget: u64,
    },
    #[error(
        "{key} needs {} MiB but only {} MiB of the {} MiB budget are free while these models are in use: {}; wait for their jobs to finish",
        mib(*needed),
        mib(budget.saturating_sub(*in_use_bytes)),
        mib(*budget),
        in_use.join(", ")
    )]
    Busy {
        key: String,
        needed: u64,
        budget: u64,
        in_use_bytes: u64,
        in_use: Vec<String>,
    },
    #[error("{0}")]
    Load(E),
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

struct Entry {
    key: PoolKey,
    /// `None`: a [`Reservation`] (memory a job owns outright, counted while it lives).
    model: Option<Arc<dyn Any + Send + Sync>>,
    bytes: u64,
    last_used: u64,
}

impl Entry {
    fn in_use(&self) -> bool {
        self.model.as_ref().is_none_or(|m| Arc::strong_count(m) > 1)
    }
}

/// Memory counted against the budget while this lives: for a model a job owns outright and
/// mutates (the LLM with its KV cache), which is not shared but must still make room and be
/// seen by the other loads. Dropping it gives the room back.
#[derive(Debug)]
pub struct Reservation<'a> {
    pool: &'a ModelPool,
    id: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut inner = lock(&self.pool.inner);
        let id = self.id;
        inner
            .entries
            .retain(|e| e.model.is_some() || e.last_used != id);
    }
}

#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    clock: u64,
}

/// What the pool holds, for the studio's status line and the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resident {
    pub key: PoolKey,
    pub bytes: u64,
    pub in_use: bool,
}

/// The shared budget. [`ModelPool::global`] is the process's; tests make their own.
pub struct ModelPool {
    budget: u64,
    inner: Mutex<Inner>,
    loading: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ModelPool {
    #[must_use]
    pub fn new(budget_bytes: u64) -> Self {
        Self {
            budget: budget_bytes,
            inner: Mutex::new(Inner::default()),
            loading: Mutex::new(()),
        }
    }

    /// The process's pool. Its budget: `PREVIZ_MODEL_BUDGET_MIB` when set, else 22 GiB with
    /// CUDA compiled in (a 24 GB card less the display and CUDA context), else half the RAM.
    pub fn global() -> &'static ModelPool {
        static POOL: OnceLock<ModelPool> = OnceLock::new();
        POOL.get_or_init(|| ModelPool::new(default_budget()))
    }

    #[must_use]
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The model under `key`; when it is not held, `estimate` says how many bytes it needs
    /// (asked only then: it may read file headers), least recently used models no one is using
    /// are evicted to make room, and `load` loads it.
    pub fn get_or_load<T, E>(
        &self,
        key: PoolKey,
        estimate: impl FnOnce() -> Result<u64, E>,
        load: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, PoolError<E>>
    where
        T: Send + Sync + 'static,
    {
        if let Some(hit) = self.lookup::<T>(&key) {
            return Ok(hit);
        }
        let _one_load_at_a_time = lock(&self.loading);
        if let Some(hit) = self.lookup::<T>(&key) {
            return Ok(hit);
        }
        let estimate = estimate().map_err(PoolError::Load)?;
        if estimate > self.budget {
            return Err(PoolError::TooBig {
                key: key.to_string(),
                needed: estimate,
                budget: self.budget,
            });
        }
        let evicted = self.make_room(&key, estimate)?;
        drop(evicted); // freed outside the bookkeeping lock
        let model = Arc::new(load().map_err(PoolError::Load)?);
        let mut inner = lock(&self.inner);
        inner.clock += 1;
        let last_used = inner.clock;
        inner.entries.push(Entry {
            key,
            model: Some(model.clone()),
            bytes: estimate,
            last_used,
        });
        Ok(model)
    }

    /// Counts `bytes` for `key` until the returned guard drops, evicting unused models first
    /// when the budget needs it.
    pub fn reserve<E>(&self, key: PoolKey, bytes: u64) -> Result<Reservation<'_>, PoolError<E>> {
        let _one_load_at_a_time = lock(&self.loading);
        if bytes > self.budget {
            return Err(PoolError::TooBig {
                key: key.to_string(),
                needed: bytes,
                budget: self.budget,
            });
        }
        drop(self.make_room(&key, bytes)?);
        let mut inner = lock(&self.inner);
        inner.clock += 1;
        let id = inner.clock;
        inner.entries.push(Entry {
            key,
            model: None,
            bytes,
            last_used: id,
        });
        Ok(Reservation { pool: self, id })
    }

    /// Removes unused models, least recently used first, until `needed` more bytes fit; the
    /// removed entries are returned so their memory is freed outside the lock.
    fn make_room<E>(&self, key: &PoolKey, needed: u64) -> Result<Vec<Entry>, PoolError<E>> {
        let mut inner = lock(&self.inner);
        let mut evicted = Vec::new();
        loop {
            let used: u64 = inner.entries.iter().map(|e| e.bytes).sum();
            if used.saturating_add(needed) <= self.budget {
                return Ok(evicted);
            }
            let victim = inner
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.in_use())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i);
            match victim {
                Some(i) => evicted.push(inner.entries.swap_remove(i)),
                None => {
                    let in_use: Vec<String> =
                        inner.entries.iter().map(|e| e.key.to_string()).collect();
                    return Err(PoolError::Busy {
                        key: key.to_string(),
                        needed,
                        budget: self.budget,
                        in_use_bytes: used,
                        in_use,
                    });
                }
            }
        }
    }

    fn lookup<T: Send + Sync + 'static>(&self, key: &PoolKey) -> Option<Arc<T>> {
        let mut inner = lock(&self.inner);
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner
            .entries
            .iter_mut()
            .find(|e| e.model.is_some() && &e.key == key)?;
        entry.last_used = now;
        entry.model.clone()?.downcast::<T>().ok()
    }

    /// What is held now, most recently used first.
    #[must_use]
    pub fn resident(&self) -> Vec<Resident> {
        let inner = lock(&self.inner);
        let mut entries: Vec<&Entry> = inner.entries.iter().collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_used));
        entries
            .into_iter()
            .map(|e| Resident {
                key: e.key.clone(),
                bytes: e.bytes,
                in_use: e.in_use(),
            })
            .collect()
    }

    /// Drops every model no job is using (e.g. before a big export, or on "free memory").
    pub fn release_unused(&self) {
        let dropped: Vec<Entry> = {
            let mut inner = lock(&self.inner);
            let (keep, drop): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut inner.entries)
                .into_iter()
                .partition(Entry::in_use);
            inner.entries = keep;
            drop
        };
        drop(dropped);
    }
}

impl std::fmt::Debug for ModelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPool")
            .field("budget", &self.budget)
            .field("resident", &self.resident())
            .finish()
    }
}

fn default_budget() -> u64 {
    if let Some(mib) = std::env::var("PREVIZ_MODEL_BUDGET_MIB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return mib << 20;
    }
    if crate::device::cuda_compiled() {
        return 22 << 30;
    }
    total_ram().map_or(8 << 30, |ram| ram / 2)
}

/// `MemTotal` from /proc/meminfo (Linux), in bytes.
fn total_ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PoolKey {
        PoolKey {
            kind: "test",
            path: PathBuf::from(name),
            variant: String::new(),
        }
    }

    fn load(pool: &ModelPool, name: &str, bytes: u64) -> Result<Arc<String>, PoolError<String>> {
        pool.get_or_load(key(name), || Ok(bytes), || Ok::<_, String>(name.to_owned()))
    }

    #[test]
    fn a_held_model_is_shared_not_reloaded() {
        let pool = ModelPool::new(100);
        let a = load(&pool, "a", 40).unwrap();
        let (mut loads, mut estimates) = (0, 0);
        let again = pool
            .get_or_load(
                key("a"),
                || {
                    estimates += 1;
                    Ok(40)
                },
                || {
                    loads += 1;
                    Ok::<_, String>("reloaded".to_owned())
                },
            )
            .unwrap();
        assert_eq!(
            (loads, estimates),
            (0, 0),
            "a hit neither loads nor estimates"
        );
        assert!(Arc::ptr_eq(&a, &again));
    }

    #[test]
    fn the_least_recently_used_unused_model_makes_room() {
        let pool = ModelPool::new(100);
        drop(load(&pool, "llm", 40).unwrap());
        drop(load(&pool, "voice", 10).unwrap());
        drop(load(&pool, "llm", 40).unwrap()); // used again: now the voice is older
        drop(load(&pool, "diffusion", 55).unwrap());
        let held: Vec<String> = pool
            .resident()
            .iter()
            .map(|r| r.key.path.display().to_string())
            .collect();
        assert_eq!(held, ["diffusion", "llm"], "the voice was evicted");
        drop(load(&pool, "diffusion-xl", 90).unwrap());
        assert_eq!(pool.resident().len(), 1);
    }

    #[test]
    fn models_in_use_are_never_evicted_and_the_error_names_them() {
        let pool = ModelPool::new(100);
        let busy = load(&pool, "llm", 60).unwrap();
        let e = load(&pool, "diffusion", 50).unwrap_err().to_string();
        assert!(e.contains("test llm") && e.contains("in use"), "{e}");
        drop(busy);
        assert!(load(&pool, "diffusion", 50).is_ok());
        let e = load(&pool, "huge", 101).unwrap_err().to_string();
        assert!(e.contains("budget is 1 MiB") || e.contains("budget"), "{e}");
    }

    #[test]
    fn a_reservation_makes_room_counts_while_it_lives_and_is_never_shared() {
        let pool = ModelPool::new(100);
        drop(load(&pool, "diffusion", 70).unwrap());
        let llm = pool.reserve::<String>(key("llm"), 50).unwrap();
        assert_eq!(
            pool.resident().len(),
            1,
            "the unused diffusion model made room"
        );
        assert!(pool.resident()[0].in_use);
        let e = load(&pool, "voice", 60).unwrap_err().to_string();
        assert!(e.contains("test llm"), "{e}");
        drop(llm);
        assert!(pool.resident().is_empty());
        assert!(load(&pool, "voice", 60).is_ok());
    }

    #[test]
    fn a_failed_load_leaves_nothing_behind() {
        let pool = ModelPool::new(100);
        let e = pool
            .get_or_load(
                key("broken"),
                || Ok(10),
                || Err::<String, _>("bad file".to_owned()),
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "bad file");
        assert!(pool.resident().is_empty());
    }
}
