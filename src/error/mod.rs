//! The error model: the reason catalogue as data, and the mapping between protocol errors and
//! gRPC statuses carrying `google.rpc.ErrorInfo` and `google.rpc.BadRequest`.

pub mod catalogue;
mod status;

pub use catalogue::{CATALOGUE, Party, ReasonInfo, Retry, info};
pub use status::{FieldViolation, NotAnOmppStatus, ProtocolError};

/// `google.rpc.ErrorInfo.domain` of every OMPP error (OMPP-ERR-001).
pub const ERROR_DOMAIN: &str = "ompp.v1";
