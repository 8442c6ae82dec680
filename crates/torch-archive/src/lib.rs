//! Reads `torch.save` archives.
