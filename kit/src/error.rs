//! The errors a user sees: each names the field path of the spec and what is allowed.

use std::fmt;

/// One invalid field: `spec.galera.nodes: 2 is even; ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path from the document root (`spec.domains[1]`).
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl FieldError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file is not YAML of the spec's shape (syntax, unknown field, wrong type).
    #[error("{0}")]
    Parse(FieldError),
    /// The file has the right shape but some values are not allowed; every one is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<FieldError>),
}

impl SpecError {
    /// Every field error, in spec order.
    pub fn fields(&self) -> Vec<&FieldError> {
        match self {
            SpecError::Parse(e) => vec![e],
            SpecError::Invalid(v) => v.iter().collect(),
        }
    }
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
