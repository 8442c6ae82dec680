//! Errors a user can act on: each names the offending entry, opcode, offset or tensor.

/// Everything that can go wrong reading an archive. No input makes the reader panic; it answers
/// with one of these instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a zip file at all (neither `PK` nor a SoVITS version tag in front).
    #[error("not a torch.save archive: {0}")]
    NotZip(String),

    /// A pre-1.6 torch file (bare pickle stream or tar), which this reader does not handle.
    #[error(
        "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save the file with \
         torch >= 1.6 (torch.save(torch.load(f), f))"
    )]
    LegacyFormat,

    /// The zip structure is damaged or cut short (central directory missing, bad header, bad CRC).
    #[error("corrupt or truncated zip archive: {0}")]
    Zip(String),

    /// A zip without `<folder>/data.pkl`.
    #[error("zip archive has no `*/data.pkl` entry, so it is not a torch.save archive (entries: {entries})")]
    NoDataPkl { entries: String },

    /// The pickle references a storage whose `<folder>/data/<key>` entry is absent.
    #[error("missing storage record `{name}` in the archive (referenced by tensor {tensor})")]
    MissingRecord { name: String, tensor: String },

    /// The zip declares a compression we do not decode, or an entry is implausibly large.
    #[error("zip entry `{name}`: {msg}")]
    Entry { name: String, msg: String },

    #[error("archive records byte order `{0}`; only little-endian archives are supported")]
    BigEndian(String),

    /// A pickle opcode outside protocols 0-5.
    #[error("unknown pickle opcode 0x{opcode:02x} at offset {offset} of data.pkl")]
    UnknownOpcode { opcode: u8, offset: usize },

    /// The pickle stream is malformed at `offset` (stack underflow, wrong types, cut short...).
    #[error("malformed pickle at offset {offset} ({opcode}): {msg}")]
    Pickle {
        offset: usize,
        opcode: &'static str,
        msg: String,
    },

    /// A storage class such as `torch.ComplexFloatStorage` we cannot represent.
    #[error("unsupported storage dtype `{0}`")]
    UnsupportedStorage(String),

    /// A tensor's offset/size/stride reach outside its storage record.
    #[error("tensor {tensor} is out of its storage bounds: {msg}")]
    TensorBounds { tensor: String, msg: String },

    /// The value tree would exceed the output budget (e.g. a tensor referenced a billion times).
    #[error("archive expands beyond the allowed output size ({limit} bytes)")]
    TooLarge { limit: usize },

    /// Nesting deeper than the reader allows (or a self-referencing container).
    #[error("values nested deeper than {0} levels (or a self-referencing container)")]
    TooDeep(usize),

    /// [`crate::save`] was given a value it cannot write (a class name without a module, a
    /// tensor whose bytes do not match its shape).
    #[error("cannot write this value as a torch.save archive: {0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;
