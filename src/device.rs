//! Device selection and the `doctor` report.
use mlx_rs::Array;

pub fn doctor() -> anyhow::Result<()> {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    let b = a.matmul(&a)?;
    b.eval()?;
    println!("{:?}", b.as_slice::<f32>());
    Ok(())
}
