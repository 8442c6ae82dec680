//! Per-layer key/value cache of the autoregressive GPT decode, after mlx-lm's `KVCache`
//! (`mlx_lm/models/cache.py`).
//!
//! Keys and values live in preallocated buffers `[B, H, capacity, head_dim]` that grow by whole
//! blocks of [`KvCache::STEP`] positions. Each update writes the new positions in place (a slice
//! assignment, which MLX performs without copying the buffer when nothing else holds it) and
//! returns views `[.., :offset, :]`, so a decode step costs O(1) in the cache length instead of
//! the O(n) copy of upstream's `torch.cat` per token.
//!
//! Batched decoding (several sequences in one forward) keeps every row at the same `offset`:
//! shorter sequences are left-padded, and the decoder masks their padded columns. The batch
//! helpers here ([`KvCache::filter_rows`], [`KvCache::pad_left`], [`KvCache::trim_left`],
//! [`KvCache::concat_rows`]) are the cache side of that (mlx-lm's `BatchKVCache` is the model).
use mlx_rs::ops::indexing::{IndexOp, TryIndexMutOp};
use mlx_rs::{ops, Array};

use crate::models::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct KvCache {
    keys: Option<Array>,
    values: Option<Array>,
    offset: i32,
}

impl KvCache {
    /// Allocation granularity in positions (mlx-lm's `step`).
    pub const STEP: i32 = 256;

    pub fn new() -> Self {
        Self::default()
    }

    /// Number of positions written so far (the length of the views returned).
    pub fn offset(&self) -> i32 {
        self.offset
    }

    /// Positions the buffers can hold before the next growth.
    pub fn capacity(&self) -> i32 {
        self.keys.as_ref().map_or(0, |k| k.shape()[2])
    }

    /// Batch rows (0 when empty).
    pub fn batch(&self) -> i32 {
        self.keys.as_ref().map_or(0, |k| k.shape()[0])
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_none()
    }

    /// Appends `keys`/`values` (`[B, H, L, head_dim]`) and returns the whole cache as views
    /// `[B, H, offset, head_dim]`.
    pub fn update_and_fetch(&mut self, keys: &Array, values: &Array) -> Result<(Array, Array)> {
        let shape = keys.shape().to_vec();
        if shape.len() != 4 || values.shape() != shape.as_slice() {
            return Err(Error::Invalid(format!(
                "kv cache update: keys {:?} and values {:?} must both be [B, H, L, head_dim]",
                keys.shape(),
                values.shape()
            )));
        }
        let (b, h, l, d) = (shape[0], shape[1], shape[2], shape[3]);
        if let Some(k) = &self.keys {
            let ks = k.shape();
            if ks[0] != b || ks[1] != h || ks[3] != d {
                return Err(Error::Invalid(format!(
                    "kv cache update: new keys {shape:?} do not match the cache {ks:?}"
                )));
            }
        }
        let prev = self.offset;
        self.reserve(&[b, h, l, d], keys.dtype(), values.dtype())?;
        self.offset = prev + l;
        let off = self.offset;
        let (k_buf, v_buf) = self.buffers_mut()?;
        k_buf.try_index_mut((.., .., prev..off, ..), keys)?;
        v_buf.try_index_mut((.., .., prev..off, ..), values)?;
        self.fetch()
    }

    /// Makes room for `l` more positions. Capacity is always rounded up to whole
    /// [`KvCache::STEP`] blocks, also after padding or trimming left the buffers at an odd
    /// length, so the buffer shapes (and a compiled step's traces) come from a small set.
    fn reserve(&mut self, new: &[i32; 4], k_dtype: mlx_rs::Dtype, v_dtype: mlx_rs::Dtype) -> Result<()> {
        let [b, h, l, d] = *new;
        let prev = self.offset;
        if self.keys.is_some() && prev + l <= self.capacity() {
            return Ok(());
        }
        let cap = (prev + l + Self::STEP - 1) / Self::STEP * Self::STEP;
        let grow = [b, h, cap - prev, d];
        let new_k = ops::zeros_dtype(&grow, k_dtype)?;
        let new_v = ops::zeros_dtype(&grow, v_dtype)?;
        match (self.keys.take(), self.values.take()) {
            (Some(k), Some(v)) => {
                // Only the written part is kept (an earlier trim may have left more).
                let (k, v) = if prev != k.shape()[2] {
                    (k.index((.., .., ..prev, ..)), v.index((.., .., ..prev, ..)))
                } else {
                    (k, v)
                };
                self.keys = Some(ops::concatenate(&[k, new_k], 2)?);
                self.values = Some(ops::concatenate(&[v, new_v], 2)?);
            }
            _ => {
                self.keys = Some(new_k);
                self.values = Some(new_v);
            }
        }
        Ok(())
    }

    /// Hands out the whole buffers `[B, H, capacity, head_dim]` (room for `l` more positions
    /// guaranteed) for a step that writes positions `offset..offset + l` itself; the cache is
    /// empty until [`KvCache::put_written`] returns them. Taking them out leaves the step the
    /// only owner, so MLX can write in place.
    pub fn take_for_write(&mut self, l: i32) -> Result<(Array, Array)> {
        let (Some(k), Some(v)) = (&self.keys, &self.values) else {
            return Err(Error::Invalid("kv cache is empty".into()));
        };
        let ks = k.shape();
        let new = [ks[0], ks[1], l, ks[3]];
        let (kd, vd) = (k.dtype(), v.dtype());
        self.reserve(&new, kd, vd)?;
        match (self.keys.take(), self.values.take()) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(Error::Invalid("kv cache is empty".into())),
        }
    }

    /// Takes back the buffers of [`KvCache::take_for_write`] after `l` positions were written.
    pub fn put_written(&mut self, keys: Array, values: Array, l: i32) -> Result<()> {
        if self.keys.is_some() {
            return Err(Error::Invalid("kv cache: buffers returned twice".into()));
        }
        if keys.shape()[2] < self.offset + l {
            return Err(Error::Invalid("kv cache: returned buffers are too short".into()));
        }
        self.keys = Some(keys);
        self.values = Some(values);
        self.offset += l;
        Ok(())
    }

    /// The written part of the cache as views `[B, H, offset, head_dim]`.
    pub fn fetch(&self) -> Result<(Array, Array)> {
        match (&self.keys, &self.values) {
            (Some(k), Some(v)) => {
                let o = self.offset;
                Ok((k.index((.., .., ..o, ..)), v.index((.., .., ..o, ..))))
            }
            _ => Err(Error::Invalid("kv cache is empty".into())),
        }
    }

    /// The buffers, for evaluation together with a step's outputs.
    pub fn state(&self) -> Vec<&Array> {
        self.keys.iter().chain(self.values.iter()).collect()
    }

    fn buffers_mut(&mut self) -> Result<(&mut Array, &mut Array)> {
        match (&mut self.keys, &mut self.values) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(Error::Invalid("kv cache is empty".into())),
        }
    }

    /// Keeps only the batch rows `rows` (in that order); an empty list empties the cache.
    pub fn filter_rows(&mut self, rows: &[i32]) -> Result<()> {
        if rows.is_empty() {
            *self = Self::default();
            return Ok(());
        }
        let b = self.batch();
        if let Some(bad) = rows.iter().find(|&&r| r < 0 || r >= b) {
            return Err(Error::Invalid(format!("kv cache: row {bad} out of range for batch {b}")));
        }
        let idx = Array::from_slice(rows, &[rows.len() as i32]);
        let (k, v) = self.buffers_mut()?;
        *k = k.take_axis(&idx, 0)?;
        *v = v.take_axis(&idx, 0)?;
        Ok(())
    }

    /// Inserts `n` zero positions in front of every row (left padding, to align with a longer
    /// batch); the buffers are compacted to the written length.
    pub fn pad_left(&mut self, n: i32) -> Result<()> {
        if n <= 0 || self.is_empty() {
            return Ok(());
        }
        let (k, v) = self.fetch()?;
        let s = k.shape().to_vec();
        let zk = ops::zeros_dtype(&[s[0], s[1], n, s[3]], k.dtype())?;
        let zv = ops::zeros_dtype(&[s[0], s[1], n, s[3]], v.dtype())?;
        self.keys = Some(ops::concatenate(&[zk, k], 2)?);
        self.values = Some(ops::concatenate(&[zv, v], 2)?);
        self.offset += n;
        Ok(())
    }

    /// Drops the first `n` positions of every row (padding no row needs any more).
    pub fn trim_left(&mut self, n: i32) -> Result<()> {
        if n <= 0 || self.is_empty() {
            return Ok(());
        }
        if n > self.offset {
            return Err(Error::Invalid(format!(
                "kv cache: cannot trim {n} of {} positions",
                self.offset
            )));
        }
        let o = self.offset;
        let (k, v) = self.buffers_mut()?;
        *k = k.index((.., .., n..o, ..));
        *v = v.index((.., .., n..o, ..));
        self.offset -= n;
        Ok(())
    }

    /// Stacks the rows of several caches with the same offset into one (batch order kept).
    pub fn concat_rows(caches: Vec<KvCache>) -> Result<KvCache> {
        let caches: Vec<KvCache> = caches.into_iter().filter(|c| !c.is_empty()).collect();
        let Some(first) = caches.first() else {
            return Ok(KvCache::default());
        };
        let offset = first.offset;
        if let Some(c) = caches.iter().find(|c| c.offset != offset) {
            return Err(Error::Invalid(format!(
                "kv cache: cannot stack caches of lengths {offset} and {}",
                c.offset
            )));
        }
        if caches.len() == 1 {
            return Ok(caches.into_iter().next().unwrap_or_default());
        }
        let mut ks = Vec::with_capacity(caches.len());
        let mut vs = Vec::with_capacity(caches.len());
        for c in &caches {
            let (k, v) = c.fetch()?;
            ks.push(k);
            vs.push(v);
        }
        Ok(KvCache {
            keys: Some(ops::concatenate(&ks, 0)?),
            values: Some(ops::concatenate(&vs, 0)?),
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_rs::random;

    fn rand(shape: &[i32]) -> Array {
        random::normal::<f32>(shape, None, None, None).expect("normal")
    }

    fn max_diff(a: &Array, b: &Array) -> f32 {
        assert_eq!(a.shape(), b.shape());
        a.subtract(b).unwrap().abs().unwrap().max(None).unwrap().item_cast::<f32>()
    }

    /// Writes `total` positions (a prefill of `total - 2` then two single tokens, or all single
    /// tokens) and checks length, capacity and contents against a plain concatenation.
    fn check(total: i32, prefill: i32) {
        let (b, h, d) = (2, 3, 4);
        let mut cache = KvCache::new();
        let mut all_k = Vec::new();
        let mut all_v = Vec::new();
        let mut written = 0;
        let mut sizes = vec![];
        if prefill > 0 {
            sizes.push(prefill);
        }
        sizes.extend(std::iter::repeat_n(1, (total - prefill) as usize));
        for l in sizes {
            let k = rand(&[b, h, l, d]);
            let v = rand(&[b, h, l, d]);
            let (fk, fv) = cache.update_and_fetch(&k, &v).expect("update");
            all_k.push(k);
            all_v.push(v);
            written += l;
            assert_eq!(fk.shape(), &[b, h, written, d]);
            assert_eq!(cache.offset(), written);
            let want_cap = ((written + KvCache::STEP - 1) / KvCache::STEP) * KvCache::STEP;
            assert_eq!(cache.capacity(), want_cap, "capacity after {written}");
            let _ = fv;
        }
        let (fk, fv) = cache.fetch().expect("fetch");
        let ek = ops::concatenate(&all_k, 2).unwrap();
        let ev = ops::concatenate(&all_v, 2).unwrap();
        assert_eq!(max_diff(&fk, &ek), 0.0);
        assert_eq!(max_diff(&fv, &ev), 0.0);
    }

    #[test]
    fn lengths_around_one_block() {
        for total in [255, 256, 257] {
            check(total, total - 2);
            check(total, 0);
        }
    }

    #[test]
    fn prefill_longer_than_a_block() {
        check(600, 599);
    }

    #[test]
    fn batch_helpers_keep_rows_aligned() {
        let (h, d) = (2, 3);
        let mut a = KvCache::new();
        let ka = rand(&[2, h, 5, d]);
        a.update_and_fetch(&ka, &ka).unwrap();
        let mut b = KvCache::new();
        let kb = rand(&[1, h, 3, d]);
        b.update_and_fetch(&kb, &kb).unwrap();
        b.pad_left(2).unwrap();
        assert_eq!(b.offset(), 5);
        let mut c = KvCache::concat_rows(vec![a, b]).unwrap();
        assert_eq!(c.batch(), 3);
        let (k, _) = c.fetch().unwrap();
        assert_eq!(max_diff(&k.index((2..3, .., 2.., ..)), &kb), 0.0);
        assert_eq!(k.index((2..3, .., ..2, ..)).abs().unwrap().max(None).unwrap().item_cast::<f32>(), 0.0);
        // Grows after the compaction and keeps the contents.
        let one = rand(&[3, h, 1, d]);
        let (k2, _) = c.update_and_fetch(&one, &one).unwrap();
        assert_eq!(k2.shape(), &[3, h, 6, d]);
        assert_eq!(max_diff(&k2.index((.., .., ..5, ..)), &k), 0.0);
        c.filter_rows(&[2]).unwrap();
        c.trim_left(2).unwrap();
        let (k3, _) = c.fetch().unwrap();
        assert_eq!(k3.shape(), &[1, h, 4, d]);
        assert_eq!(max_diff(&k3.index((.., .., ..3, ..)), &kb), 0.0);
        assert!(c.filter_rows(&[1]).is_err());
    }
}

/// Writes one position's keys and values `[B, H, 1, hd]` into whole cache buffers
/// `[B, H, capacity, hd]` at `offset` (an int32 `[1]` array, so the write position is data, not
/// part of a compiled graph): one scatter per buffer, in place when the buffer has no other owner.
pub fn write_at(k_buf: &Array, v_buf: &Array, k_new: &Array, v_new: &Array, offset: &Array) -> Result<(Array, Array)> {
    let at = ops::broadcast_to(offset.reshape(&[1, 1, 1, 1])?, k_new.shape())?;
    Ok((k_buf.put_along_axis(&at, k_new, 2)?, v_buf.put_along_axis(&at, v_new, 2)?))
}
