//! Upstream `module/mrte_model.py` `MRTE`: the content frames attend over the phone encodings
//! (plain multi-head cross attention, no relative terms) and get the style vector added.
use mlx_rs::Array;

use super::attentions::MultiHeadAttention;
use super::config::{MRTE_HEADS, MRTE_HIDDEN};
use super::mask::FrameMask;
use super::modules::pointwise;
use crate::models::layers::Linear;
use crate::models::weights::Weights;
use crate::models::Result;

#[derive(Clone)]
pub struct Mrte {
    cross_attention: MultiHeadAttention,
    c_pre: Linear,
    text_pre: Linear,
    c_post: Linear,
}

impl Mrte {
    /// `content` is the encoder width (192); MRTE's 512 width and 4 heads are upstream constants.
    pub fn load(w: &mut Weights, prefix: &str, content: i32) -> Result<Self> {
        let h = MRTE_HIDDEN;
        Ok(Self {
            cross_attention: MultiHeadAttention::load(w, &format!("{prefix}.cross_attention"), h, h, MRTE_HEADS, None, false)?,
            c_pre: pointwise(w, &format!("{prefix}.c_pre"), content, h)?,
            text_pre: pointwise(w, &format!("{prefix}.text_pre"), content, h)?,
            c_post: pointwise(w, &format!("{prefix}.c_post"), h, content)?,
        })
    }

    /// `ssl [1,T,C]`, `text [1,P,C]`, `ge [1,1,512]` → `[1,T,C]`; `text_mask`: the real phones of
    /// a padded `text` (the attention's keys).
    pub fn forward(&self, ssl: &Array, text: &Array, ge: &Array, text_mask: Option<&FrameMask>) -> Result<Array> {
        let ssl_enc = self.c_pre.forward(ssl)?;
        let text_enc = self.text_pre.forward(text)?;
        let x = self
            .cross_attention
            .forward(&ssl_enc, &text_enc, text_mask)?
            .add(&ssl_enc)?
            .add(ge)?;
        self.c_post.forward(&x)
    }
}
