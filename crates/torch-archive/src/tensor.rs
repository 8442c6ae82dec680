//! Copies a (possibly strided, possibly shared) storage view into a contiguous tensor, and
//! converts tensor bytes to f32.

use crate::{DType, Tensor};

/// Caps what one archive may expand to, so shared references (a DAG pickled as a tree) cannot
/// turn a small file into unbounded allocations.
pub(crate) struct Budget {
    pub limit: usize,
    left: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { limit, left: limit }
    }

    /// Takes `n` bytes from the budget; `false` when it is spent.
    pub fn charge(&mut self, n: usize) -> bool {
        match self.left.checked_sub(n) {
            Some(l) => {
                self.left = l;
                true
            }
            None => false,
        }
    }
}

/// Why a view cannot be materialised (the caller adds the tensor's name).
#[derive(Debug)]
pub(crate) enum GatherError {
    Bounds(String),
    Budget,
}

/// Materialises `storage[offset + Σ idx·stride]` for every index of `shape`, row-major.
///
/// Contiguous views (the common case for checkpoints) are one `memcpy`; strided ones copy the
/// largest contiguous inner block at a time. Every index is bounds-checked up front against the
/// bytes actually present, so the copy loop itself cannot go out of range.
pub(crate) fn gather(
    storage: &[u8],
    dtype: DType,
    offset: u64,
    shape: &[u64],
    stride: &[u64],
    budget: &mut Budget,
) -> Result<Tensor, GatherError> {
    let elem = dtype.size();
    let bounds = |m: String| GatherError::Bounds(m);
    let numel = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bounds(format!("shape {shape:?} overflows")))?;
    let shape_us: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bounds(format!("dimension {d} too large"))))
        .collect::<Result<_, _>>()?;
    if numel == 0 {
        return Ok(Tensor {
            dtype,
            shape: shape_us,
            data: Vec::new(),
        });
    }
    let storage_elems = (storage.len() / elem) as u64;
    let mut last = offset;
    for (&d, &s) in shape.iter().zip(stride) {
        last = (d - 1)
            .checked_mul(s)
            .and_then(|x| x.checked_add(last))
            .ok_or_else(|| bounds(format!("strides {stride:?} overflow")))?;
    }
    if last >= storage_elems {
        return Err(bounds(format!(
            "offset {offset}, size {shape:?}, stride {stride:?} reach element {last} but the storage \
             record holds {storage_elems} elements of {elem} bytes"
        )));
    }
    // `last < storage_elems` bounds every index, so the sizes below fit in usize.
    let nbytes = (numel as usize)
        .checked_mul(elem)
        .ok_or(GatherError::Budget)?;
    if !budget.charge(nbytes) {
        return Err(GatherError::Budget);
    }

    // Inner dims that are laid out contiguously form one block copied at once.
    let mut block = 1u64;
    let mut k = shape.len();
    while k > 0 && (shape[k - 1] == 1 || stride[k - 1] == block) {
        block *= shape[k - 1];
        k -= 1;
    }
    let block_bytes = block as usize * elem;
    let start = offset as usize * elem;
    if k == 0 {
        let data = storage[start..start + block_bytes].to_vec();
        return Ok(Tensor {
            dtype,
            shape: shape_us,
            data,
        });
    }

    let mut data = Vec::with_capacity(nbytes);
    let outer = &shape[..k];
    let mut idx = vec![0u64; k];
    let mut base = offset;
    loop {
        let b = base as usize * elem;
        data.extend_from_slice(&storage[b..b + block_bytes]);
        // Odometer increment over the outer dims, keeping `base` in step.
        let mut d = k;
        loop {
            if d == 0 {
                return Ok(Tensor {
                    dtype,
                    shape: shape_us,
                    data,
                });
            }
            d -= 1;
            idx[d] += 1;
            base = base.wrapping_add(stride[d]);
            if idx[d] < outer[d] {
                break;
            }
            base = base.wrapping_sub(stride[d].wrapping_mul(idx[d]));
            idx[d] = 0;
        }
    }
}

impl Tensor {
    /// Number of elements (`shape` product).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values widened/narrowed to f32 (integers and bools converted numerically).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            DType::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => d
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => d
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(arr8(c)) as f32)
                .collect(),
            DType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(arr8(c)) as f32)
                .collect(),
            DType::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            DType::I16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
                .collect(),
            DType::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            DType::U8 => d.iter().map(|&b| b as f32).collect(),
            DType::Bool => d.iter().map(|&b| if b != 0 { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// Integer tensors as i64 (floats truncated toward zero).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        let d = &self.data;
        match self.dtype {
            DType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(arr8(c)))
                .collect(),
            DType::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::I16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::I8 => d.iter().map(|&b| b as i8 as i64).collect(),
            DType::U8 | DType::Bool => d.iter().map(|&b| b as i64).collect(),
            _ => self.to_f32_vec().into_iter().map(|x| x as i64).collect(),
        }
    }
}

fn arr8(c: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn transposed_view_is_copied_row_major() {
        // storage = [[0,1,2],[3,4,5]]; its transpose has size (3,2), stride (1,3).
        let s = f32s(&[0., 1., 2., 3., 4., 5.]);
        let mut b = Budget::new(1 << 20);
        let t = gather(&s, DType::F32, 0, &[3, 2], &[1, 3], &mut b).unwrap();
        assert_eq!(t.to_f32_vec(), vec![0., 3., 1., 4., 2., 5.]);
        assert_eq!(t.shape, vec![3, 2]);
    }

    #[test]
    fn offset_slice_and_stride_zero_broadcast() {
        let s = f32s(&[0., 1., 2., 3., 4., 5.]);
        let mut b = Budget::new(1 << 20);
        let t = gather(&s, DType::F32, 2, &[2, 2], &[0, 1], &mut b).unwrap();
        assert_eq!(t.to_f32_vec(), vec![2., 3., 2., 3.]);
        let t = gather(&s, DType::F32, 1, &[2, 1, 2], &[3, 7, 1], &mut b).unwrap();
        assert_eq!(t.to_f32_vec(), vec![1., 2., 4., 5.]);
    }

    #[test]
    fn out_of_bounds_and_budget_are_errors() {
        let s = f32s(&[0., 1., 2.]);
        let mut b = Budget::new(1 << 20);
        assert!(matches!(
            gather(&s, DType::F32, 1, &[3], &[1], &mut b),
            Err(GatherError::Bounds(_))
        ));
        assert!(matches!(
            gather(&s, DType::F32, 0, &[u64::MAX, 2], &[1, 1], &mut b),
            Err(GatherError::Bounds(_))
        ));
        let mut small = Budget::new(8);
        assert!(matches!(
            gather(&s, DType::F32, 0, &[3], &[1], &mut small),
            Err(GatherError::Budget)
        ));
    }
}
