//! `BankProcessorService`: admission (allow-list, fault injection), parsing, and the store.

use std::sync::Arc;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_server::BankProcessorService;
use ompp::requests::Request as _;
use ompp::requests::bank::{ExecuteTransfer, GetTransfer};
use ompp::types::PartyIdentity;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::BankFaults;
use super::store::{BankStore, Execution};
use crate::clock::{Clock as _, SystemClock};
use crate::errors::{blocking, internal};

/// The bank processor service.
#[derive(Debug, Clone)]
pub(crate) struct BankHandler {
    store: Arc<BankStore>,
    faults: BankFaults,
    allowed_clients: Arc<[PartyIdentity]>,
    shutdown: watch::Receiver<bool>,
}

impl BankHandler {
    pub(crate) fn new(
        store: Arc<BankStore>,
        faults: BankFaults,
        allowed_clients: Arc<[PartyIdentity]>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            faults,
            allowed_clients,
            shutdown,
        }
    }

    /// Lets a call in: the caller must be allow-listed; then the injected latency and
    /// unavailability apply.
    async fn admit<T>(&self, request: &Request<T>) -> Result<PartyIdentity, ProtocolError> {
        let identity = crate::tls::peer_identity(request).ok_or_else(|| {
            ProtocolError::new(
                pb::ErrorReason::UnauthenticatedPeer,
                "this service requires a client certificate",
            )
        })?;
        if !self.allowed_clients.contains(&identity) {
            tracing::warn!(peer = %identity, "bank call from a peer that is not allow-listed");
            return Err(ProtocolError::new(
                pb::ErrorReason::PeerNotAllowed,
                "the caller is not allowed to call this bank processor",
            ));
        }
        let latency = self.faults.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.faults.is_unavailable() {
            return Err(ProtocolError::new(
                pb::ErrorReason::ServiceUnavailable,
                "the bank processor is temporarily unavailable",
            ));
        }
        Ok(identity)
    }

    /// Holds an answer back for `hold` (fault injection), or until shutdown.
    async fn hold(&self, hold: std::time::Duration) {
        let mut shutdown = self.shutdown.clone();
        let stopped = async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(hold) => {}
            () = stopped => {}
        }
    }
}

impl BankHandler {
    /// A retried transfer as a broken variant handles it: booked again under another id
    /// ([`crate::defects::Defect::BookRetriedTransferAgain`]), or, when rejected, decided anew
    /// ([`crate::defects::Defect::RetryRejectedTransfer`]).
    #[cfg(feature = "defects")]
    async fn broken_replay(
        &self,
        record: super::store::TransferRecord,
    ) -> Result<super::store::TransferRecord, Status> {
        use crate::defects::Defect;
        let again = self.faults.defect(Defect::BookRetriedTransferAgain);
        let rejected = matches!(record.decision, super::store::Decision::Rejected(_));
        let redecide = rejected && self.faults.defect(Defect::RetryRejectedTransfer);
        if !again && !redecide {
            return Ok(record);
        }
        let mut copy = record.request.clone();
        copy.transfer_id =
            ompp::types::TransferId::parse(&crate::clock::random_id("dup-")).map_err(internal)?;
        let store = self.store.clone();
        let now = SystemClock.now();
        let execution = blocking(move || store.execute(&copy, now).map_err(internal)).await?;
        match execution {
            Execution::Decided(mut decided) if redecide => {
                decided.request.transfer_id = record.request.transfer_id.clone();
                Ok(decided)
            }
            _ => Ok(record),
        }
    }
}

#[tonic::async_trait]
impl BankProcessorService for BankHandler {
    async fn execute_transfer(
        &self,
        request: Request<pb::ExecuteTransferRequest>,
    ) -> Result<Response<pb::ExecuteTransferResponse>, Status> {
        let peer = self.admit(&request).await?;
        let transfer = ExecuteTransfer::parse(request.get_ref())?;
        let transfer_id = transfer.transfer_id.clone();
        let store = self.store.clone();
        let now = SystemClock.now();
        // The store work runs to completion even if the caller goes away meanwhile.
        let execution = blocking(move || store.execute(&transfer, now).map_err(internal)).await?;
        let record = match execution {
            Execution::Decided(record) => {
                tracing::info!(peer = %peer, transfer_id = %transfer_id, "bank transfer decided");
                record
            }
            Execution::Replayed(record) => {
                tracing::info!(peer = %peer, transfer_id = %transfer_id, "bank transfer replayed");
                // Broken variants for the conformance suite's own tests (feature "defects").
                #[cfg(feature = "defects")]
                let record = self.broken_replay(record).await?;
                record
            }
            Execution::Conflict => {
                tracing::info!(peer = %peer, transfer_id = %transfer_id, "bank transfer id reused with other content");
                return Err(ProtocolError::new(
                    pb::ErrorReason::IdempotencyConflict,
                    "the transfer id was used before with a different transfer",
                )
                .into());
            }
        };
        if let Some(hold) = self.faults.take_dropped_response() {
            tracing::info!(transfer_id = %transfer_id, "fault injection: holding the answer back");
            self.hold(hold).await;
        }
        Ok(Response::new(pb::ExecuteTransferResponse {
            transfer: Some(record.to_proto()),
        }))
    }

    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> Result<Response<pb::GetTransferResponse>, Status> {
        self.admit(&request).await?;
        let GetTransfer { transfer_id } = GetTransfer::parse(request.get_ref())?;
        let store = self.store.clone();
        let record = blocking(move || store.get(&transfer_id).map_err(internal)).await?;
        let record = record
            .ok_or_else(|| ProtocolError::new(pb::ErrorReason::NotFound, "no such transfer"))?;
        Ok(Response::new(pb::GetTransferResponse {
            transfer: Some(record.to_proto()),
        }))
    }
}
