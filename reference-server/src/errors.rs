//! Mapping the server's internal failures to protocol errors. Internal details are logged here,
//! once, and never sent to the caller.

use ompp::error::ProtocolError;
use ompp::proto::v1::ErrorReason;

use crate::store::StoreError;

impl From<StoreError> for ProtocolError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::IdempotencyConflict => ProtocolError::new(
                ErrorReason::IdempotencyConflict,
                "the idempotency key was used before with a different request",
            ),
            StoreError::NotFound(what) => {
                ProtocolError::new(ErrorReason::NotFound, format!("{what} not found"))
            }
            StoreError::AlreadyExists(what) => ProtocolError::new(
                ErrorReason::AlreadyRegistered,
                format!("{what} is already registered"),
            ),
            StoreError::EnrollmentRejected => ProtocolError::new(
                ErrorReason::EnrollmentRejected,
                "the enrollment token is unknown or already used",
            ),
            StoreError::InsufficientFunds => {
                ProtocolError::new(ErrorReason::InsufficientFunds, "insufficient funds")
            }
            StoreError::AmountLimitExceeded => ProtocolError::new(
                ErrorReason::AmountLimitExceeded,
                "a balance would leave the 64-bit range; nothing was booked",
            ),
            other => internal(other),
        }
    }
}

/// An internal failure: logged with its detail, answered as `INTERNAL` without it.
pub fn internal(error: impl std::fmt::Display) -> ProtocolError {
    tracing::error!(%error, "internal error");
    ProtocolError::new(ErrorReason::Internal, "internal error")
}

/// Runs blocking work (storage, password hashing) off the async runtime. Before the result
/// is handed back, whatever the work read from the store is durable
/// ([`crate::store::sqlite::settle_reads`]), so no answer rests on a state a crash could undo.
pub async fn blocking<T, F>(work: F) -> Result<T, ProtocolError>
where
    F: FnOnce() -> Result<T, ProtocolError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let result = work();
        crate::store::sqlite::settle_reads().map_err(ProtocolError::from)?;
        result
    })
    .await
    .map_err(internal)?
}
