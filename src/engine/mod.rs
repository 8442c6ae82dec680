//! The inference engine: one OS thread owns every MLX object. (to be written)
