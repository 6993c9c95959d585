//! Samplers over a model's noise schedule, computing what diffusers' schedulers compute:
//! DDIM (eta 0), Euler ancestral and DPM-Solver++ 2M, each with the three timestep spacings
//! (`leading`, `linspace`, `trailing`) and both prediction types (`epsilon`, `v_prediction`).
//!
//! Our own code rather than candle-transformers' schedulers because the ancestral noise must come
//! from the request's seed (candle's CPU random source cannot be seeded), and because img2img
//! starts part-way down the schedule, which those schedulers do not expose.

use std::fmt;
use std::str::FromStr;

use candle_core::{Result as CandleResult, Tensor};
use serde::{Deserialize, Serialize};

use super::config::ScheduleConfig;

/// Which sampler a request uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    Ddim,
    #[default]
    EulerAncestral,
    /// DPM-Solver++ (2M): second-order multistep, good in 15-25 steps.
    DpmPlusPlus2M,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 3] = [
        SchedulerKind::Ddim,
        SchedulerKind::EulerAncestral,
        SchedulerKind::DpmPlusPlus2M,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "ddim",
            SchedulerKind::EulerAncestral => "euler_a",
            SchedulerKind::DpmPlusPlus2M => "dpmpp_2m",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchedulerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "ddim" => Ok(SchedulerKind::Ddim),
            "eulera" | "eulerancestral" => Ok(SchedulerKind::EulerAncestral),
            "dpmpp2m" | "dpm2m" | "dpmsolver" => Ok(SchedulerKind::DpmPlusPlus2M),
            _ => Err(format!(
                "'{s}' is not a scheduler; expected one of: ddim, euler_a, dpmpp_2m"
            )),
        }
    }
}

/// The trained noise schedule: cumulative products of (1 - beta).
#[derive(Clone, Debug)]
pub struct Schedule {
    pub alphas_cumprod: Vec<f64>,
    /// sqrt((1 - alpha) / alpha) per training timestep.
    sigmas: Vec<f64>,
    pub config: ScheduleConfig,
}

impl Schedule {
    #[must_use]
    pub fn new(config: &ScheduleConfig) -> Self {
        let n = config.num_train_timesteps.max(2);
        let betas: Vec<f64> = match config.beta_schedule.as_str() {
            "linear" => linspace(config.beta_start, config.beta_end, n),
            _ => linspace(config.beta_start.sqrt(), config.beta_end.sqrt(), n)
                .into_iter()
                .map(|b| b * b)
                .collect(),
        };
        let mut acc = 1.0;
        let alphas_cumprod: Vec<f64> = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        let sigmas = alphas_cumprod
            .iter()
            .map(|a| ((1.0 - a) / a).sqrt())
            .collect();
        Self {
            alphas_cumprod,
            sigmas,
            config: config.clone(),
        }
    }

    fn train_steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    fn v_prediction(&self) -> bool {
        self.config.prediction_type == "v_prediction"
    }

    /// Sigma (noise over signal) of a possibly fractional timestep, interpolated as np.interp.
    fn sigma_at(&self, t: f64) -> f64 {
        interp(t, &self.sigmas)
    }
}

fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![start];
    }
    (0..n)
        .map(|i| start + (end - start) * i as f64 / (n - 1) as f64)
        .collect()
}

/// np.interp over the grid 0, 1, 2, ... with values `ys`, clamped at the ends.
fn interp(x: f64, ys: &[f64]) -> f64 {
    if ys.is_empty() {
        return 0.0;
    }
    if x <= 0.0 {
        return ys[0];
    }
    let last = ys.len() - 1;
    if x >= last as f64 {
        return ys[last];
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = x.floor() as usize;
    let f = x - i as f64;
    ys[i] * (1.0 - f) + ys[i + 1] * f
}

/// A sampler's run over `n` steps. `step_index` counts from the top of the schedule, so an
/// img2img run starting at step `k` calls `add_noise(.., k)` and then steps `k..n`.
pub trait Sampler: Send {
    /// The model's timesteps, noisiest first.
    fn timesteps(&self) -> &[f64];
    /// Scale of the initial noise for text-to-image.
    fn init_noise_sigma(&self) -> f64;
    /// What the UNet is fed at `step_index`.
    fn scale_model_input(&self, sample: &Tensor, step_index: usize) -> CandleResult<Tensor>;
    /// One denoising step. `noise` draws fresh Gaussian noise of the sample's shape (for
    /// ancestral samplers).
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
        noise: &mut dyn FnMut() -> CandleResult<Tensor>,
    ) -> CandleResult<Tensor>;
    /// The clean sample predicted at the last step (for previews).
    fn denoised(&self) -> Option<&Tensor>;
    /// A clean sample noised to the level of `step_index` (img2img, inpainting).
    fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step_index: usize,
    ) -> CandleResult<Tensor>;
}

/// Builds the sampler `kind` for `steps` steps over `schedule`.
#[must_use]
pub fn sampler(kind: SchedulerKind, schedule: &Schedule, steps: usize) -> Box<dyn Sampler> {
    let steps = steps.max(1);
    match kind {
        SchedulerKind::Ddim => Box::new(Ddim::new(schedule, steps)),
        SchedulerKind::EulerAncestral => Box::new(EulerAncestral::new(schedule, steps)),
        SchedulerKind::DpmPlusPlus2M => Box::new(DpmSolver2M::new(schedule, steps)),
    }
}

/// Integer timesteps for DDIM, per `timestep_spacing`.
fn ddim_timesteps(schedule: &Schedule, n: usize) -> Vec<f64> {
    let t = schedule.train_steps();
    let offset = schedule.config.steps_offset as f64;
    match schedule.config.timestep_spacing.as_str() {
        "trailing" => {
            let ratio = t as f64 / n as f64;
            (0..n)
                .map(|i| (t as f64 - i as f64 * ratio).round_ties_even() - 1.0)
                .collect()
        }
        "linspace" => linspace(0.0, (t - 1) as f64, n)
            .into_iter()
            .rev()
            .map(f64::round_ties_even)
            .collect(),
        _ => {
            let ratio = (t / n).max(1);
            (0..n).rev().map(|i| (i * ratio) as f64 + offset).collect()
        }
    }
}

fn clamp_t(t: f64, schedule: &Schedule) -> usize {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = t.max(0.0) as usize;
    i.min(schedule.train_steps() - 1)
}

/// Predicted clean sample and noise from the model's output.
fn split_prediction(
    v: bool,
    alpha_prod: f64,
    model_output: &Tensor,
    sample: &Tensor,
) -> CandleResult<(Tensor, Tensor)> {
    let (a, b) = (alpha_prod.sqrt(), (1.0 - alpha_prod).sqrt());
    if v {
        let x0 = ((sample * a)? - (model_output * b)?)?;
        let eps = ((model_output * a)? + (sample * b)?)?;
        Ok((x0, eps))
    } else {
        let x0 = ((sample - (model_output * b)?)? / a)?;
        Ok((x0, model_output.clone()))
    }
}

struct Ddim {
    schedule: Schedule,
    last_x0: Option<Tensor>,
    timesteps: Vec<f64>,
    step_ratio: usize,
    final_alpha: f64,
}

impl Ddim {
    fn new(schedule: &Schedule, n: usize) -> Self {
        let final_alpha = if schedule.config.set_alpha_to_one {
            1.0
        } else {
            schedule.alphas_cumprod[0]
        };
        Self {
            timesteps: ddim_timesteps(schedule, n),
            step_ratio: schedule.train_steps() / n,
            schedule: schedule.clone(),
            final_alpha,
            last_x0: None,
        }
    }
}

impl Sampler for Ddim {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }
    fn scale_model_input(&self, sample: &Tensor, _: usize) -> CandleResult<Tensor> {
        Ok(sample.clone())
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
        _noise: &mut dyn FnMut() -> CandleResult<Tensor>,
    ) -> CandleResult<Tensor> {
        let t = self.timesteps[step_index.min(self.timesteps.len() - 1)];
        let alpha = self.schedule.alphas_cumprod[clamp_t(t, &self.schedule)];
        let prev = t - self.step_ratio as f64;
        let alpha_prev = if prev >= 0.0 {
            self.schedule.alphas_cumprod[clamp_t(prev, &self.schedule)]
        } else {
            self.final_alpha
        };
        let (x0, eps) =
            split_prediction(self.schedule.v_prediction(), alpha, model_output, sample)?;
        let prev = ((&x0 * alpha_prev.sqrt())? + (eps * (1.0 - alpha_prev).sqrt())?)?;
        self.last_x0 = Some(x0);
        Ok(prev)
    }
    fn denoised(&self) -> Option<&Tensor> {
        self.last_x0.as_ref()
    }
    fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step_index: usize,
    ) -> CandleResult<Tensor> {
        let t = self.timesteps[step_index.min(self.timesteps.len() - 1)];
        let alpha = self.schedule.alphas_cumprod[clamp_t(t, &self.schedule)];
        (original * alpha.sqrt())? + (noise * (1.0 - alpha).sqrt())?
    }
}

/// Fractional timesteps for the sigma-based samplers, per `timestep_spacing`. `extra` asks for
/// one more point (DPM-Solver spaces n + 1 points and drops the last).
fn sigma_timesteps(schedule: &Schedule, n: usize, extra: bool) -> Vec<f64> {
    let t = schedule.train_steps();
    let offset = schedule.config.steps_offset as f64;
    let points = if extra { n + 1 } else { n };
    let mut out: Vec<f64> = match schedule.config.timestep_spacing.as_str() {
        "trailing" => {
            let ratio = t as f64 / n as f64;
            (0..n)
                .map(|i| (t as f64 - i as f64 * ratio).round_ties_even() - 1.0)
                .collect()
        }
        "linspace" => {
            let v: Vec<f64> = linspace(0.0, (t - 1) as f64, points)
                .into_iter()
                .rev()
                .collect();
            if extra {
                v.into_iter().map(f64::round_ties_even).collect()
            } else {
                v
            }
        }
        _ => {
            let ratio = (t / points).max(1);
            (0..points)
                .rev()
                .map(|i| (i * ratio) as f64 + offset)
                .collect()
        }
    };
    out.truncate(n);
    out
}

struct EulerAncestral {
    schedule: Schedule,
    last_x0: Option<Tensor>,
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
}

impl EulerAncestral {
    fn new(schedule: &Schedule, n: usize) -> Self {
        let timesteps = sigma_timesteps(schedule, n, false);
        let mut sigmas: Vec<f64> = timesteps.iter().map(|t| schedule.sigma_at(*t)).collect();
        sigmas.push(0.0);
        Self {
            schedule: schedule.clone(),
            last_x0: None,
            timesteps,
            sigmas,
        }
    }
    fn sigma(&self, i: usize) -> f64 {
        self.sigmas[i.min(self.sigmas.len() - 1)]
    }
}

impl Sampler for EulerAncestral {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }
    fn init_noise_sigma(&self) -> f64 {
        let max = self.sigmas.iter().copied().fold(0.0, f64::max);
        if matches!(
            self.schedule.config.timestep_spacing.as_str(),
            "linspace" | "trailing"
        ) {
            max
        } else {
            (max * max + 1.0).sqrt()
        }
    }
    fn scale_model_input(&self, sample: &Tensor, step_index: usize) -> CandleResult<Tensor> {
        let s = self.sigma(step_index);
        sample / (s * s + 1.0).sqrt()
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
        noise: &mut dyn FnMut() -> CandleResult<Tensor>,
    ) -> CandleResult<Tensor> {
        let sigma = self.sigma(step_index);
        let x0 = if self.schedule.v_prediction() {
            ((model_output * (-sigma / (sigma * sigma + 1.0).sqrt()))?
                + (sample / (sigma * sigma + 1.0))?)?
        } else {
            (sample - (model_output * sigma)?)?
        };
        let to = self.sigma(step_index + 1);
        let up = if sigma > 0.0 {
            (to * to * (sigma * sigma - to * to) / (sigma * sigma))
                .max(0.0)
                .sqrt()
        } else {
            0.0
        };
        let down = (to * to - up * up).max(0.0).sqrt();
        let derivative = ((sample - &x0)? / sigma)?;
        let prev = (sample + (derivative * (down - sigma))?)?;
        self.last_x0 = Some(x0);
        if up > 0.0 {
            prev + (noise()? * up)?
        } else {
            Ok(prev)
        }
    }
    fn denoised(&self) -> Option<&Tensor> {
        self.last_x0.as_ref()
    }
    fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step_index: usize,
    ) -> CandleResult<Tensor> {
        original + (noise * self.sigma(step_index))?
    }
}

struct DpmSolver2M {
    schedule: Schedule,
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    /// The last two predicted clean samples (newest last).
    history: Vec<Tensor>,
    lower_order_done: usize,
}

impl DpmSolver2M {
    fn new(schedule: &Schedule, n: usize) -> Self {
        let timesteps = sigma_timesteps(schedule, n, true);
        let mut sigmas: Vec<f64> = timesteps.iter().map(|t| schedule.sigma_at(*t)).collect();
        sigmas.push(0.0);
        Self {
            schedule: schedule.clone(),
            timesteps,
            sigmas,
            history: Vec::new(),
            lower_order_done: 0,
        }
    }
    /// (alpha_t, sigma_t, lambda_t) of sigma index `i`.
    fn coefficients(&self, i: usize) -> (f64, f64, f64) {
        let s = self.sigmas[i.min(self.sigmas.len() - 1)];
        let alpha = 1.0 / (s * s + 1.0).sqrt();
        let sigma = s * alpha;
        (alpha, sigma, alpha.ln() - sigma.ln())
    }
}

impl Sampler for DpmSolver2M {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }
    fn scale_model_input(&self, sample: &Tensor, _: usize) -> CandleResult<Tensor> {
        Ok(sample.clone())
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
        _noise: &mut dyn FnMut() -> CandleResult<Tensor>,
    ) -> CandleResult<Tensor> {
        let (alpha_s0, sigma_s0, lambda_s0) = self.coefficients(step_index);
        let x0 = if self.schedule.v_prediction() {
            ((sample * alpha_s0)? - (model_output * sigma_s0)?)?
        } else {
            ((sample - (model_output * sigma_s0)?)? / alpha_s0)?
        };
        self.history.push(x0);
        if self.history.len() > 2 {
            self.history.remove(0);
        }
        let (alpha_t, sigma_t, lambda_t) = self.coefficients(step_index + 1);
        let h = lambda_t - lambda_s0;
        // exp(-h) - 1, which is -1 at the last step (sigma_t = 0, h = inf).
        let phi = (-h).exp() - 1.0;
        let ratio = if sigma_s0 > 0.0 {
            sigma_t / sigma_s0
        } else {
            0.0
        };
        let last = step_index + 1 >= self.timesteps.len();
        let first_order = self.lower_order_done < 1 || last || self.history.len() < 2;
        let m0 = &self.history[self.history.len() - 1];
        let out = if first_order {
            ((sample * ratio)? - (m0 * (alpha_t * phi))?)?
        } else {
            let m1 = &self.history[self.history.len() - 2];
            let (_, _, lambda_s1) = self.coefficients(step_index.saturating_sub(1));
            let r0 = (lambda_s0 - lambda_s1) / h;
            let d1 = ((m0 - m1)? / r0)?;
            (((sample * ratio)? - (m0 * (alpha_t * phi))?)? - (d1 * (0.5 * alpha_t * phi))?)?
        };
        self.lower_order_done = (self.lower_order_done + 1).min(2);
        Ok(out)
    }
    fn denoised(&self) -> Option<&Tensor> {
        self.history.last()
    }
    fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step_index: usize,
    ) -> CandleResult<Tensor> {
        let (alpha, sigma, _) = self.coefficients(step_index);
        (original * alpha)? + (noise * sigma)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd15() -> Schedule {
        Schedule::new(&ScheduleConfig::default())
    }

    #[test]
    fn timesteps_follow_diffusers_spacings() {
        let s = sd15();
        // diffusers DDIM, leading, steps_offset 1, 4 steps: [751, 501, 251, 1].
        assert_eq!(ddim_timesteps(&s, 4), vec![751.0, 501.0, 251.0, 1.0]);
        let mut trailing = s.clone();
        trailing.config.timestep_spacing = "trailing".into();
        assert_eq!(
            ddim_timesteps(&trailing, 4),
            vec![999.0, 749.0, 499.0, 249.0]
        );
        // DPM-Solver leading spaces n + 1 points: 1000 // 5 = 200 -> [801, 601, 401, 201].
        assert_eq!(
            sigma_timesteps(&s, 4, true),
            vec![801.0, 601.0, 401.0, 201.0]
        );
        let mut lin = s.clone();
        lin.config.timestep_spacing = "linspace".into();
        let t = sigma_timesteps(&lin, 3, false);
        assert_eq!(t, vec![999.0, 499.5, 0.0]);
    }

    #[test]
    fn the_schedule_matches_sd15s_known_values() {
        let s = sd15();
        // alphas_cumprod[0] = 1 - 0.00085; the last is ~0.0047 for SD 1.5.
        assert!((s.alphas_cumprod[0] - 0.99915).abs() < 1e-9);
        assert!(
            (s.alphas_cumprod[999] - 0.004_660_8).abs() < 1e-5,
            "{}",
            s.alphas_cumprod[999]
        );
        // Euler ancestral, leading spacing: the first sigma is that of the first timestep, the
        // initial noise sqrt(sigma^2 + 1); the last sigma is zero.
        let e = EulerAncestral::new(&s, 30);
        let first = s.sigma_at(e.timesteps[0]);
        assert!((e.init_noise_sigma() - (first * first + 1.0).sqrt()).abs() < 1e-12);
        assert_eq!(*e.sigmas.last().unwrap(), 0.0);
    }

    #[test]
    fn names_parse_and_print() {
        for k in SchedulerKind::ALL {
            assert_eq!(k.as_str().parse::<SchedulerKind>().unwrap(), k);
        }
        assert_eq!(
            "DPM++ 2M".parse::<SchedulerKind>().unwrap(),
            SchedulerKind::DpmPlusPlus2M
        );
        assert!(
            "pndm"
                .parse::<SchedulerKind>()
                .unwrap_err()
                .contains("ddim, euler_a")
        );
    }
}
