//! A speaker model with random weights in the released model's dimensions (m_channels 64,
//! blocks [3,4,6,3], baseWidth 24, scale 4, expansion 4), for `gsv-server bench --version v2Pro…`.
use std::collections::BTreeMap;

use mlx_rs::{random, Array, Dtype};

use super::SpeakerEncoder;
use crate::models::weights::Weights;
use crate::models::Result;

/// State-dict names and torch shapes of an ERes2NetV2 (`forward3` part plus `seg_1`).
pub fn state_dict_shapes(m: i32, blocks: [usize; 4], base_width: i32, scale: i32, expansion: i32, embedding: i32) -> Vec<(String, Vec<i32>)> {
    let mut s: Vec<(String, Vec<i32>)> = Vec::new();
    let bn = |s: &mut Vec<(String, Vec<i32>)>, p: &str, c: i32| {
        for n in ["weight", "bias", "running_mean", "running_var"] {
            s.push((format!("{p}.{n}"), vec![c]));
        }
    };
    let aff = |s: &mut Vec<(String, Vec<i32>)>, p: &str, c: i32| {
        let inter = c / 4;
        s.push((format!("{p}.local_att.0.weight"), vec![inter, 2 * c, 1, 1]));
        s.push((format!("{p}.local_att.0.bias"), vec![inter]));
        bn(s, &format!("{p}.local_att.1"), inter);
        s.push((format!("{p}.local_att.3.weight"), vec![c, inter, 1, 1]));
        s.push((format!("{p}.local_att.3.bias"), vec![c]));
        bn(s, &format!("{p}.local_att.4"), c);
    };
    s.push(("conv1.weight".into(), vec![m, 1, 3, 3]));
    bn(&mut s, "bn1", m);
    let mut cin = m;
    for (l, &n) in blocks.iter().enumerate() {
        let planes = m << l;
        let width = planes * base_width / 64;
        let cout = planes * expansion;
        for i in 0..n {
            let p = format!("layer{}.{i}", l + 1);
            s.push((format!("{p}.conv1.weight"), vec![width * scale, cin, 1, 1]));
            bn(&mut s, &format!("{p}.bn1"), width * scale);
            for j in 0..scale {
                s.push((format!("{p}.convs.{j}.weight"), vec![width, width, 3, 3]));
                bn(&mut s, &format!("{p}.bns.{j}"), width);
            }
            if l >= 2 {
                for j in 0..scale - 1 {
                    aff(&mut s, &format!("{p}.fuse_models.{j}"), width);
                }
            }
            s.push((format!("{p}.conv3.weight"), vec![cout, width * scale, 1, 1]));
            bn(&mut s, &format!("{p}.bn3"), cout);
            if i == 0 && (l > 0 || cin != cout) {
                s.push((format!("{p}.shortcut.0.weight"), vec![cout, cin, 1, 1]));
                bn(&mut s, &format!("{p}.shortcut.1"), cout);
            }
            cin = cout;
        }
    }
    let c4 = 8 * m * expansion;
    s.push(("layer3_ds.weight".into(), vec![c4, 4 * m * expansion, 3, 3]));
    aff(&mut s, "fuse34", c4);
    s.push(("seg_1.weight".into(), vec![embedding, 2 * c4 * 10]));
    s.push(("seg_1.bias".into(), vec![embedding]));
    s
}

/// The released model's dimensions with random weights (BatchNorm statistics at identity).
pub fn random_released(seed: u64, dtype: Dtype) -> Result<SpeakerEncoder> {
    let mut key = random::key(seed)?;
    let mut map = BTreeMap::new();
    for (name, shape) in state_dict_shapes(64, [3, 4, 6, 3], 24, 4, 4, 192) {
        let (k, next) = random::split(&key, 2)?;
        key = next;
        let a = if name.ends_with("running_var") || (name.ends_with(".weight") && shape.len() == 1) {
            Array::ones::<f32>(&shape)?
        } else if shape.len() == 1 {
            Array::zeros::<f32>(&shape)?
        } else {
            let fan_in: i32 = shape.iter().skip(1).product::<i32>().max(1);
            random::normal::<f32>(&shape[..], 0.0, 1.0 / (fan_in as f32).sqrt(), &k)?
        };
        map.insert(name.clone(), a.as_dtype(dtype)?);
        if name.ends_with("running_var") {
            let p = name.trim_end_matches("running_var");
            map.insert(format!("{p}num_batches_tracked"), Array::from_slice(&[0i64], &[]));
        }
    }
    SpeakerEncoder::from_weights(Weights::from_map(map, "random ERes2NetV2 weights"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released checkpoint has 1001 keys (fixtures-pro README) and a 20480-wide embedding.
    #[test]
    fn released_dimensions_match_the_real_checkpoint() {
        let keys = state_dict_shapes(64, [3, 4, 6, 3], 24, 4, 4, 192);
        let bns = keys.iter().filter(|(k, _)| k.ends_with("running_var")).count();
        assert_eq!(keys.len() + bns, 1001);
        let tiny = state_dict_shapes(6, [2, 1, 2, 1], 24, 4, 4, 16);
        let bns = tiny.iter().filter(|(k, _)| k.ends_with("running_var")).count();
        assert_eq!(tiny.len() + bns, 389);
    }
}
