//! Counting the nodes of a lazy MLX graph, per primitive kind.
//!
//! On a GPU a decode step costs host work per graph node (MLX's CUDA backend re-adds each kernel
//! node to a CUDA graph on every evaluation), so the node count of one step is the number that
//! bounds batch-1 speed there. MLX has no C API to walk a graph, but it can write one as DOT
//! (`mlx_export_to_dot`); every primitive appears there once as `{ ID [label ="Name", …`.
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CString};

use mlx_rs::Array;

use super::{Error, Result};

// The C library's stdio, which `mlx_export_to_dot` writes to.
extern "C" {
    fn fopen(path: *const c_char, mode: *const c_char) -> *mut mlx_sys::FILE;
    fn fclose(f: *mut mlx_sys::FILE) -> c_int;
}

/// Primitive name → how many nodes of it the graph behind `outputs` has (unevaluated nodes
/// only: evaluated arrays are leaves). Writes and removes a temporary DOT file.
pub fn node_counts(outputs: &[&Array]) -> Result<BTreeMap<String, usize>> {
    let path = std::env::temp_dir().join(format!("gsv-graph-{}-{:?}.dot", std::process::id(), std::thread::current().id()));
    let cpath = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
    let raw: Vec<mlx_sys::mlx_array> = outputs.iter().map(|a| a.as_ptr()).collect();
    // SAFETY: valid C strings; the FILE is closed before the file is read; the vector and namer
    // are freed after use; mlx-c only reads the arrays.
    let status = unsafe {
        let f = fopen(cpath.as_ptr(), c"w".as_ptr());
        if f.is_null() {
            return Err(Error::Invalid(format!("cannot write {}", path.display())));
        }
        let vec = mlx_sys::mlx_vector_array_new_data(raw.as_ptr(), raw.len());
        let namer = mlx_sys::mlx_node_namer_new();
        let status = mlx_sys::mlx_export_to_dot(f, namer, vec);
        mlx_sys::mlx_node_namer_free(namer);
        mlx_sys::mlx_vector_array_free(vec);
        fclose(f);
        status
    };
    let dot = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    if status != 0 {
        return Err(Error::Invalid("mlx_export_to_dot failed".into()));
    }
    Ok(count_dot(&dot.map_err(|e| Error::Invalid(format!("reading the graph: {e}")))?))
}

/// Counts `{ ID [label ="Name", shape=rectangle]; }` lines by name, each ID once.
fn count_dot(dot: &str) -> BTreeMap<String, usize> {
    let mut seen = std::collections::HashSet::new();
    let mut counts = BTreeMap::new();
    for line in dot.lines() {
        let Some(rest) = line.strip_prefix("{ ") else { continue };
        let Some((id, rest)) = rest.split_once(" [label =\"") else { continue };
        let Some((name, _)) = rest.split_once('"') else { continue };
        if seen.insert(id.to_string()) {
            *counts.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_primitive_once_by_kind() {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]);
        let b = a.add(&a).unwrap();
        let c = b.multiply(&b).unwrap().add(&a).unwrap();
        let counts = node_counts(&[&c, &b]).unwrap();
        assert_eq!(counts.get("Add"), Some(&2), "{counts:?}");
        assert_eq!(counts.get("Multiply"), Some(&1), "{counts:?}");
        assert_eq!(counts.values().sum::<usize>(), 3);
        c.eval().unwrap();
        assert!(node_counts(&[&c]).unwrap().is_empty(), "evaluated arrays are leaves");
    }
}
