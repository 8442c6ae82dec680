//! Prints the structure of a torch.save archive: `cargo run -p torch-archive --example dump -- FILE`.

use torch_archive::Value;

fn show(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Dict(items) => {
            for (k, v) in items {
                out.push_str(&format!("{pad}{k:?}:"));
                if matches!(v, Value::Dict(_) | Value::Object { .. }) {
                    out.push('\n');
                    show(v, indent + 2, out);
                } else {
                    out.push(' ');
                    show(v, 0, out);
                }
            }
        }
        Value::Object { class, state } => {
            out.push_str(&format!("{pad}<{class}>\n"));
            show(state, indent + 2, out);
        }
        Value::Tensor(t) => out.push_str(&format!("{:?} {:?}\n", t.dtype, t.shape)),
        other => out.push_str(&format!("{other:?}\n")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let v = torch_archive::load_file(&path)?;
        let dt = t.elapsed();
        let mut s = String::new();
        show(&v, 0, &mut s);
        println!("== {path} ({dt:?})\n{s}");
    }
    Ok(())
}
