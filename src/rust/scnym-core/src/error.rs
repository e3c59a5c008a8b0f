//! The one error type of the engine. Every public function returns [`Result`]; `Error::kind` is the
//! stable, snake_case name the R layer turns into a condition class (`scnym_error_<kind>`).

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value or argument (the caller can fix it by passing something else).
    #[error("{0}")]
    InvalidArgument(String),
    /// Inputs of the wrong shape or with values the model cannot use (NaN, negative, ...).
    #[error("{0}")]
    InvalidData(String),
    /// An error raised inside libtorch (the C++ backtrace is cut off).
    #[error("libtorch error: {0}")]
    Torch(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// A model file or byte string that is truncated, corrupt, or of an unsupported/newer format.
    #[error("{0}")]
    ModelFile(String),
    /// The training loss became NaN or infinite.
    #[error(
        "the {what} became non-finite in epoch {epoch}; training stopped \
         (try a lower learning rate, or check the input data)"
    )]
    NonFiniteLoss {
        /// 1-based epoch in which it happened.
        epoch: usize,
        /// Which quantity was non-finite (e.g. "training loss").
        what: String,
    },
    /// The caller's `should_stop` callback asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// A bug in scnym: something that should not happen did.
    #[error("internal error in scnym-core (please report): {0}")]
    Internal(String),
}

impl Error {
    /// Stable snake_case name of the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid_argument",
            Error::InvalidData(_) => "invalid_data",
            Error::Torch(_) => "torch",
            Error::Io(_) => "io",
            Error::ModelFile(_) => "model_file",
            Error::NonFiniteLoss { .. } => "non_finite_loss",
            Error::Interrupted => "interrupted",
            Error::Internal(_) => "internal",
        }
    }

    pub(crate) fn arg(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn data(msg: impl Into<String>) -> Error {
        Error::InvalidData(msg.into())
    }

    pub(crate) fn internal(msg: impl Into<String>) -> Error {
        Error::Internal(msg.into())
    }

    pub(crate) fn model_file(msg: impl Into<String>) -> Error {
        Error::ModelFile(msg.into())
    }
}

/// Cuts libtorch's C++ backtrace ("Exception raised from ...") off a message and trims it.
pub fn clean_torch_message(message: &str) -> String {
    let cut = message
        .find("Exception raised from")
        .unwrap_or(message.len());
    message[..cut].trim().to_string()
}

impl From<tch::TchError> for Error {
    fn from(err: tch::TchError) -> Self {
        let text = match err {
            tch::TchError::Torch(msg) => msg,
            other => other.to_string(),
        };
        Error::Torch(clean_torch_message(&text))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err.to_string())
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
