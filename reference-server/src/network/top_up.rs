//! Wallet top-ups through the bank processor (OMPP-LEDGER-010, OMPP-LEDGER-011): the customer's
//! registered bank account is debited and the operator's credited by one bank transfer, and the
//! wallet is credited from the operator's clearing account only once the bank says `COMPLETED`.
//!
//! The device's idempotency key is bound to the transfer (table `top_ups`) before the transfer
//! is sent, so a lost answer is recovered with the identical request (OMPP-BANK-009), by a
//! retry under the same key or by [`Network::recover_top_ups`], and booked exactly once. A
//! rejected transfer unbinds the key (OMPP-IDEM-006).

use std::time::Duration;

use ompp::error::ProtocolError;
use ompp::money::Amount;
use ompp::proto::v1 as pb;
use ompp::types::{BankAccountRef, UnixMillis};

use super::Network;
use super::gateway::UPSTREAM_DEADLINE;
use crate::errors::blocking;
use crate::store::{Created, LedgerEntry, TopUpRecord};

/// What the bank transfer of every top-up says about itself (OMPP-BANK-002 `remittance_info`).
const REMITTANCE: &str = "OMPP wallet top-up";

impl Network {
    /// The bank transfer of a top-up of `amount` from `debit`, to the operator's account.
    pub(super) fn top_up_transfer(
        &self,
        debit: &BankAccountRef,
        amount: Amount,
        transfer_id: String,
    ) -> pb::ExecuteTransferRequest {
        pb::ExecuteTransferRequest {
            transfer_id,
            debit_account: Some(debit.to_proto()),
            credit_account: Some(self.inner.operator_account.to_proto()),
            amount: Some(amount.to_proto()),
            remittance_info: REMITTANCE.to_owned(),
        }
    }

    /// Binds the key to `record`'s transfer, then asks the bank. A concurrent request that bound
    /// the key first is answered as a retry of it.
    pub(super) async fn begin_top_up(
        &self,
        record: TopUpRecord,
        digest: &[u8],
    ) -> Result<LedgerEntry, ProtocolError> {
        let store = self.store();
        let now = self.now();
        match blocking(move || Ok(store.begin_top_up(&record, now)?)).await? {
            Created::New(record) => self.finish_top_up(record).await,
            Created::Existing(bound) => self.resume_top_up(bound, digest).await,
        }
    }

    /// A request under a key already bound to `bound`: the same content gets the first top-up's
    /// outcome, learned from the bank if it is still unknown (OMPP-IDEM-003); other content is
    /// `IDEMPOTENCY_CONFLICT` (OMPP-IDEM-004).
    pub(super) async fn resume_top_up(
        &self,
        bound: TopUpRecord,
        digest: &[u8],
    ) -> Result<LedgerEntry, ProtocolError> {
        if bound.digest != digest {
            return Err(ProtocolError::new(
                pb::ErrorReason::IdempotencyConflict,
                "the idempotency key was used for another top-up",
            ));
        }
        self.finish_top_up(bound).await
    }

    /// Sends the top-up's transfer (again: the identical request is safe, OMPP-BANK-003) and
    /// acts on the bank's outcome: `COMPLETED` books the wallet entry (once, by transfer id),
    /// `REJECTED` fails with the bank's reason and unbinds the key, unknown is `UPSTREAM_TIMEOUT`
    /// with the key still bound.
    async fn finish_top_up(&self, record: TopUpRecord) -> Result<LedgerEntry, ProtocolError> {
        let transfer_id = record.transfer.transfer_id.clone();
        let outcome = self.execute_transfer(record.transfer.clone()).await?;
        let status = outcome
            .as_ref()
            .and_then(|t| pb::BankTransferStatus::try_from(t.status).ok());
        match (status, outcome) {
            (Some(pb::BankTransferStatus::Completed), _) => {
                let store = self.store();
                let now = self.now();
                let customer = record.customer_id.clone();
                let booked_id = transfer_id.clone();
                let entry = blocking(move || {
                    Ok(store.top_up(&customer, record.amount, &booked_id, now)?)
                })
                .await
                .inspect_err(|error| {
                    // Money left the customer's bank account: the key stays bound and recovery
                    // tries again (it books once the wallet has room); the operator must know.
                    tracing::error!(%transfer_id, reason = ?error.reason, "a top-up the bank completed cannot be booked");
                })?;
                tracing::info!(transfer_id = %entry.transfer_id, amount = %record.amount, "wallet topped up by a bank transfer");
                Ok(entry)
            }
            (Some(pb::BankTransferStatus::Rejected), Some(transfer)) => {
                let reason = pb::ErrorReason::try_from(transfer.reject_reason)
                    .ok()
                    .filter(|r| *r != pb::ErrorReason::Unspecified)
                    .unwrap_or(pb::ErrorReason::ServiceUnavailable);
                let store = self.store();
                let forget = transfer_id.clone();
                blocking(move || Ok(store.forget_top_up(&forget)?)).await?;
                tracing::info!(%transfer_id, ?reason, "top-up rejected by the bank");
                Err(ProtocolError::new(
                    reason,
                    "the bank rejected the top-up's transfer",
                ))
            }
            _ => {
                tracing::warn!(%transfer_id, "top-up transfer outcome unknown; it will be recovered");
                Err(ProtocolError::new(
                    pb::ErrorReason::UpstreamTimeout,
                    "the bank has not answered; the top-up completes or fails on its own, retry with the same idempotency key to learn which",
                ))
            }
        }
    }

    /// Learns the outcome of every top-up whose transfer was sent at least one upstream
    /// deadline ago and is not known yet (younger ones are most likely still being asked by
    /// their own request); run periodically. Returns how many were resolved.
    pub async fn recover_top_ups(&self) -> Result<usize, ProtocolError> {
        let store = self.store();
        let settled_before = self.now().0 - millis(UPSTREAM_DEADLINE);
        let pending =
            blocking(move || Ok(store.pending_top_ups(UnixMillis(settled_before))?)).await?;
        let mut resolved = 0;
        for record in pending {
            match self.finish_top_up(record).await {
                Ok(_) => resolved += 1,
                Err(error) if error.reason != pb::ErrorReason::UpstreamTimeout => resolved += 1,
                Err(_) => {}
            }
        }
        Ok(resolved)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
