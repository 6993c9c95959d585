//! The autoencoder (diffusers' `AutoencoderKL`) assembled from candle-transformers' public
//! blocks, so that encoding returns the latent distribution's mean and log-variance (img2img
//! samples it with the request's seed; candle's own `encode` samples from an unseedable source)
//! and so that large frames decode in tiles.
//!
//! Tiled decoding ([`Vae::decode_tiled`]) follows diffusers' `AutoencoderKL.tiled_decode`:
//! overlapping square tiles of latents are decoded one at a time, each tile's top and left edge
//! are blended (linear ramps, diffusers' `blend_v` / `blend_h`) with the already blended tile
//! above and to the left, and each tile is cropped to its stride before the tiles are joined.
//! Peak memory is then that of one tile, whatever the frame size. Each tile normalises its own
//! group-norm statistics and attends only within itself, so a tiled picture differs slightly
//! from a whole one (as with diffusers' `enable_tiling()`). [`Vae::decode_auto`] tiles when the
//! latents are larger than [`Vae::tile`] on a side (see [`Vae::with_tile`], [`DEFAULT_TILE`]).

use std::path::Path;

use candle_core::{DType, Device, Module, Result as CandleResult, Tensor};
use candle_nn::VarBuilder;

use super::DiffusionError;
use super::blocks::{DecoderBlock, EncoderBlock, Norms, VaeMid};
use super::config::{VaeConfig, vae_config};
use super::conv::{Conv1x1, Conv3x3};
use super::norm::GroupNormAct;

fn conv3(vb: VarBuilder, cin: usize, cout: usize) -> CandleResult<Conv3x3> {
    Conv3x3::new(vb, cin, cout)
}

pub struct Vae {
    enc_conv_in: Conv3x3,
    enc_down: Vec<EncoderBlock>,
    enc_mid: VaeMid,
    enc_norm: GroupNormAct,
    enc_conv_out: Conv3x3,
    quant_conv: Option<Conv1x1>,
    post_quant_conv: Option<Conv1x1>,
    dec_conv_in: Conv3x3,
    dec_mid: VaeMid,
    dec_up: Vec<DecoderBlock>,
    dec_norm: GroupNormAct,
    dec_conv_out: Conv3x3,
    pub latent_channels: usize,
    pub scaling_factor: f64,
    /// Pixels per latent: 2^(blocks - 1), 8 for every released SD autoencoder.
    pub downscale: usize,
    /// [`Vae::decode_auto`] tiles latents larger than this on a side into tiles of this many
    /// latents; 0 never tiles.
    pub tile: usize,
}

/// Tiles overlap by a quarter of their side, as diffusers' `tile_overlap_factor`.
pub const TILE_OVERLAP: f64 = 0.25;

/// The tile side (latents) when the options do not say, on every device (so a frame of a given
/// size decodes the same way on CPU and GPU): diffusers' tile for SD 1.x (`sample_size` 512 px),
/// so frames up to 512 x 512 decode whole, as diffusers decodes them, and larger ones in tiles.
/// Measured on CPU in f32 with SD's channel widths (128, 256, 512, 512): a whole 256 x 256
/// decode peaks at 0.66 GB resident, 512 x 512 at 1.8 GB (94 s on 2 cores), and 512 x 512 in
/// 32-latent tiles at 0.67 GB (120 s: the overlaps are decoded twice); memory grows with
/// the pixels, so a 2048 x 2048 frame whole would need about 25 GB (extrapolated) while its
/// 64-latent tiles each peak as a 512 x 512 decode.
pub const DEFAULT_TILE: usize = 64;

impl Vae {
    pub fn new(vb: &VarBuilder, c: &VaeConfig) -> CandleResult<Self> {
        let ch = &c.block_out_channels;
        let groups = c.norm_num_groups;
        let last = ch[ch.len() - 1];
        let lat = c.latent_channels;
        let n = Norms { groups, eps: 1e-6 };
        let e = vb.pp("encoder");
        let mut enc_down = Vec::with_capacity(ch.len());
        for (i, &out) in ch.iter().enumerate() {
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            enc_down.push(EncoderBlock::new(
                &e.pp("down_blocks").pp(i.to_string()),
                cin,
                out,
                c.layers_per_block,
                n,
                i + 1 < ch.len(),
            )?);
        }
        let d = vb.pp("decoder");
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut dec_up = Vec::with_capacity(ch.len());
        for (i, &out) in rev.iter().enumerate() {
            let cin = if i == 0 { rev[0] } else { rev[i - 1] };
            dec_up.push(DecoderBlock::new(
                &d.pp("up_blocks").pp(i.to_string()),
                cin,
                out,
                c.layers_per_block + 1,
                n,
                i + 1 < ch.len(),
            )?);
        }
        Ok(Self {
            enc_conv_in: conv3(e.pp("conv_in"), c.in_channels, ch[0])?,
            enc_down,
            enc_mid: VaeMid::new(&e.pp("mid_block"), last, n)?,
            enc_norm: GroupNormAct::new(groups, last, 1e-6, true, &e.pp("conv_norm_out"))?,
            enc_conv_out: conv3(e.pp("conv_out"), last, 2 * lat)?,
            quant_conv: if c.use_quant_conv {
                Some(Conv1x1::new(vb.pp("quant_conv"), 2 * lat, 2 * lat)?)
            } else {
                None
            },
            post_quant_conv: if c.use_post_quant_conv {
                Some(Conv1x1::new(vb.pp("post_quant_conv"), lat, lat)?)
            } else {
                None
            },
            dec_conv_in: conv3(d.pp("conv_in"), lat, last)?,
            dec_mid: VaeMid::new(&d.pp("mid_block"), last, n)?,
            dec_up,
            dec_norm: GroupNormAct::new(groups, ch[0], 1e-6, true, &d.pp("conv_norm_out"))?,
            dec_conv_out: conv3(d.pp("conv_out"), ch[0], c.out_channels)?,
            latent_channels: lat,
            scaling_factor: c.scaling_factor,
            downscale: 1 << (ch.len() - 1),
            tile: 0,
        })
    }

    /// Loads the autoencoder of a diffusers folder (`config.json` and its safetensors weights);
    /// it never tiles until [`Vae::with_tile`] says.
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self, DiffusionError> {
        let config_path = dir.join("config.json");
        let config = vae_config(&super::read_text(&config_path)?, &config_path)?;
        let files = super::layout::weight_files(dir, "diffusion_pytorch_model")?;
        let vb = super::var_builder(&files, dtype, device, &[])?;
        Self::new(&vb, &config).map_err(|e| super::weights_error(&files[0], &e))
    }

    /// Sets when [`Vae::decode_auto`] tiles: `Some(0)` never, `Some(n)` above `n` latents on a
    /// side, `None` above [`DEFAULT_TILE`].
    #[must_use]
    pub fn with_tile(mut self, tile: Option<usize>) -> Self {
        self.tile = tile.unwrap_or(DEFAULT_TILE);
        self
    }

    /// Mean and log-variance of the latent distribution of `image` (`(b, 3, h, w)` in [-1, 1]).
    pub fn encode(&self, image: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        self.split_moments(&self.moments(image)?)
    }

    /// The encoder's output: mean and log-variance stacked on the channels.
    fn moments(&self, image: &Tensor) -> CandleResult<Tensor> {
        let mut x = self.enc_conv_in.forward(image)?;
        for block in &self.enc_down {
            x = block.forward(&x)?;
        }
        let x = self.enc_mid.forward(&x)?;
        let mut x = self.enc_conv_out.forward_normed(&x, &self.enc_norm)?;
        if let Some(q) = &self.quant_conv {
            x = q.forward(&x)?;
        }
        Ok(x)
    }

    fn split_moments(&self, x: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        let mean = x.narrow(1, 0, self.latent_channels)?;
        let logvar = x
            .narrow(1, self.latent_channels, self.latent_channels)?
            .clamp(-30.0, 20.0)?;
        Ok((mean, logvar))
    }

    /// [`Vae::encode`], in tiles when the picture is larger than [`Vae::tile`] latents on a
    /// side (the same rule as [`Vae::decode_auto`]): img2img from a large frame.
    pub fn encode_auto(&self, image: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        let (_, _, h, w) = image.dims4()?;
        let ds = self.downscale;
        if self.tile > 0 && (h > self.tile * ds || w > self.tile * ds) {
            self.encode_tiled(image, self.tile, TILE_OVERLAP)
        } else {
            self.encode(image)
        }
    }

    /// [`Vae::encode`] in overlapping tiles of `tile * downscale` pixels, as diffusers'
    /// `AutoencoderKL._tiled_encode` (`tile_sample_min_size = tile * downscale`,
    /// `tile_latent_min_size = tile`, `tile_overlap_factor = overlap`): the encoder's moments
    /// are blended over the overlap and cropped, then split into mean and log-variance.
    pub fn encode_tiled(
        &self,
        image: &Tensor,
        tile: usize,
        overlap: f64,
    ) -> CandleResult<(Tensor, Tensor)> {
        let stride = tile_stride(tile, overlap)?;
        let ds = self.downscale;
        let moments = tiled(image, tile * ds, stride * ds, tile - stride, stride, |x| {
            self.moments(x)
        })?;
        self.split_moments(&moments)
    }

    /// Pixels in [-1, 1] from unscaled latents.
    pub fn decode(&self, latents: &Tensor) -> CandleResult<Tensor> {
        let x = match &self.post_quant_conv {
            Some(p) => p.forward(latents)?,
            None => latents.clone(),
        };
        let mut x = self.dec_mid.forward(&self.dec_conv_in.forward(&x)?)?;
        for block in &self.dec_up {
            x = block.forward(&x)?;
        }
        self.dec_conv_out.forward_normed(&x, &self.dec_norm)
    }

    /// [`Vae::decode`], in tiles of [`Vae::tile`] latents with [`TILE_OVERLAP`] when the latents
    /// are larger than that on a side.
    pub fn decode_auto(&self, latents: &Tensor) -> CandleResult<Tensor> {
        let (_, _, h, w) = latents.dims4()?;
        if self.tile > 0 && (h > self.tile || w > self.tile) {
            self.decode_tiled(latents, self.tile, TILE_OVERLAP)
        } else {
            self.decode(latents)
        }
    }

    /// [`Vae::decode`] in overlapping tiles of `tile` x `tile` latents, as diffusers'
    /// `AutoencoderKL.tiled_decode` with `tile_latent_min_size = tile`,
    /// `tile_sample_min_size = tile * downscale` and `tile_overlap_factor = overlap`: tiles
    /// start every `int(tile * (1 - overlap))` latents, the overlap is blended with linear ramps
    /// and each tile keeps its first `stride * downscale` pixels. (diffusers computes the blend
    /// width as `int(tile_sample * overlap)`; here it is the tiles' actual overlap, the same
    /// number whenever `tile * overlap` is whole, and the picture keeps its size when it is not.)
    pub fn decode_tiled(
        &self,
        latents: &Tensor,
        tile: usize,
        overlap: f64,
    ) -> CandleResult<Tensor> {
        let stride = tile_stride(tile, overlap)?;
        let ds = self.downscale;
        tiled(
            latents,
            tile,
            stride,
            (tile - stride) * ds,
            stride * ds,
            |z| self.decode(z),
        )
    }
}

/// How far tiles of `tile` with `overlap` advance: `int(tile * (1 - overlap))`, as diffusers.
fn tile_stride(tile: usize, overlap: f64) -> CandleResult<usize> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let stride = (tile as f64 * (1.0 - overlap)) as usize;
    if tile == 0 || !(0.0..1.0).contains(&overlap) || stride == 0 {
        return Err(candle_core::Error::Msg(format!(
            "tiled autoencoder: tile {tile} with overlap {overlap} does not advance; use a tile of at least 1 latent and an overlap in [0, 1) that leaves a stride"
        )));
    }
    Ok(stride)
}

/// Runs `f` on `tile` x `tile` windows of `input` starting every `stride`, blends each output
/// tile's first `blend` rows and columns with its upper and left neighbours (already blended,
/// as diffusers blends in place), keeps its first `keep` rows and columns, and joins them.
fn tiled(
    input: &Tensor,
    tile: usize,
    stride: usize,
    blend: usize,
    keep: usize,
    f: impl Fn(&Tensor) -> CandleResult<Tensor>,
) -> CandleResult<Tensor> {
    let (_, _, h, w) = input.dims4()?;
    let mut above: Vec<Tensor> = Vec::new();
    let mut out_rows = Vec::new();
    for i in (0..h).step_by(stride) {
        let mut row: Vec<Tensor> = Vec::new();
        for j in (0..w).step_by(stride) {
            let window = input
                .narrow(2, i, tile.min(h - i))?
                .narrow(3, j, tile.min(w - j))?;
            let mut t = f(&window)?;
            if let Some(a) = above.get(row.len()) {
                t = blend_edge(a, &t, blend, 2)?;
            }
            if let Some(a) = row.last() {
                t = blend_edge(a, &t, blend, 3)?;
            }
            row.push(t);
        }
        let cropped = row
            .iter()
            .map(|t| {
                let (_, _, th, tw) = t.dims4()?;
                t.narrow(2, 0, keep.min(th))?.narrow(3, 0, keep.min(tw))
            })
            .collect::<CandleResult<Vec<_>>>()?;
        out_rows.push(Tensor::cat(&cropped, 3)?);
        above = row;
    }
    Tensor::cat(&out_rows, 2)
}

/// diffusers' `blend_v` (`dim` 2) / `blend_h` (`dim` 3): the first `extent` rows (columns) of
/// `b` fade in linearly from the last ones of `a`.
fn blend_edge(a: &Tensor, b: &Tensor, extent: usize, dim: usize) -> CandleResult<Tensor> {
    let (la, lb) = (a.dim(dim)?, b.dim(dim)?);
    let n = extent.min(la).min(lb);
    if n == 0 {
        return Ok(b.clone());
    }
    #[allow(clippy::cast_precision_loss)]
    let ramp: Vec<f32> = (0..n).map(|y| y as f32 / n as f32).collect();
    let mut shape = [1usize; 4];
    shape[dim] = n;
    let wb = Tensor::from_vec(ramp, &shape, b.device())?.to_dtype(b.dtype())?;
    let wa = (1.0 - &wb)?;
    let head = (a.narrow(dim, la - n, n)?.broadcast_mul(&wa)?
        + b.narrow(dim, 0, n)?.broadcast_mul(&wb)?)?;
    if n == lb {
        Ok(head)
    } else {
        Tensor::cat(&[&head, &b.narrow(dim, n, lb - n)?], dim)
    }
}

impl std::fmt::Debug for Vae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vae")
            .field("latent_channels", &self.latent_channels)
            .field("scaling_factor", &self.scaling_factor)
            .finish_non_exhaustive()
    }
}
