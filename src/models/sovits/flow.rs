//! Upstream `models.ResidualCouplingBlock` (mean-only affine couplings with `Flip`), run in
//! reverse at inference: prior sample `z_p` → latent `z`.
use mlx_rs::Array;

use super::config::{SovitsConfig, FLOW_COUPLINGS, FLOW_WN_KERNEL, FLOW_WN_LAYERS};
use super::mask::FrameMask;
use super::modules::{channels, pointwise, Wn};
use crate::models::layers::Linear;
use crate::models::weights::Weights;
use crate::models::Result;

/// `modules.ResidualCouplingLayer(mean_only=True)`.
#[derive(Clone)]
struct Coupling {
    pre: Linear,
    enc: Wn,
    post: Linear,
    half: i32,
}

impl Coupling {
    /// Reverse pass: `x1 ← x1 − post(WN(pre(x0), g))` (logs = 0 for mean-only couplings).
    fn reverse(&self, x: &Array, g: &Array, mask: Option<&FrameMask>) -> Result<Array> {
        let c = 2 * self.half;
        let x0 = channels(x, 0, self.half);
        let x1 = channels(x, self.half, c);
        let h = self.pre.forward(&x0)?;
        let h = self.enc.forward(&h, Some(g), mask)?;
        let m = self.post.forward(&h)?;
        Ok(mlx_rs::ops::concatenate(&[x0, x1.subtract(&m)?], 2)?)
    }
}

#[derive(Clone)]
pub struct Flow {
    couplings: Vec<Coupling>,
    /// Reversed channel order for `modules.Flip`.
    flip: Array,
}

impl Flow {
    pub fn load(w: &mut Weights, prefix: &str, cfg: &SovitsConfig) -> Result<Self> {
        let c = cfg.inter_channels;
        let h = cfg.hidden_channels;
        let half = c / 2;
        // flows = [Coupling, Flip] × 4: couplings sit at the even indices of `flow.flows`.
        let couplings = (0..FLOW_COUPLINGS)
            .map(|i| {
                let p = format!("{prefix}.flows.{}", 2 * i);
                Ok(Coupling {
                    pre: pointwise(w, &format!("{p}.pre"), half, h)?,
                    enc: Wn::load(w, &format!("{p}.enc"), h, FLOW_WN_KERNEL, 1, FLOW_WN_LAYERS, cfg.gin_channels)?,
                    post: pointwise(w, &format!("{p}.post"), h, half)?,
                    half,
                })
            })
            .collect::<Result<_>>()?;
        let rev: Vec<i32> = (0..c).rev().collect();
        Ok(Self {
            couplings,
            flip: Array::from_slice(&rev, &[c]),
        })
    }

    /// `z_p [1,T,C]`, `g [1,1,gin]` → `z [1,T,C]`: for each coupling from last to first,
    /// Flip then the coupling's reverse. `mask`: the real frames of a padded `z_p` (the padded
    /// frames of `z` are not zeroed: the Generator does that).
    pub fn reverse(&self, z_p: &Array, g: &Array, mask: Option<&FrameMask>) -> Result<Array> {
        let mut x = z_p.clone();
        for c in self.couplings.iter().rev() {
            x = x.take_axis(&self.flip, 2)?;
            x = c.reverse(&x, g, mask)?;
        }
        Ok(x)
    }
}
