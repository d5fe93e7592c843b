//! `NetworkLinkService`: the network server's end of the secure link. Every message passes the
//! firewall first; then the network server resolves the device's customer from its own
//! database, checks the password against its customer database (seed 000, claim 16 e.6) and
//! settles.

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::network_link_service_server::NetworkLinkService;
use ompp::requests::device::{
    ConfirmPayment, DeclinePayment, GetWalletBalance, ListWalletHistory, PreviewPayeeCode,
    SubmitPayeeCode, TopUpWallet,
};
use ompp::requests::link::{ListPendingRequests, Relayed};
use ompp::types::{CustomerId, DeviceId, UnixMillis};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::{Network, pushed_pb, receipt_pb};
use crate::clock::random_id;
use crate::errors::{blocking, internal};
use crate::store::{LedgerEntry, Owner, PaymentRecord, Settle, TopUpRecord};

/// The network server's link service.
#[derive(Debug, Clone)]
pub struct NetworkLinkHandler {
    network: Network,
}

impl NetworkLinkHandler {
    /// The service over `network`.
    pub fn new(network: Network) -> Self {
        Self { network }
    }

    /// The customer a device is paired with; an unpaired device is `DEVICE_NOT_PAIRED`.
    async fn customer_of(&self, device: &DeviceId) -> Result<CustomerId, ProtocolError> {
        self.network.device_customer(device).await?.ok_or_else(|| {
            ProtocolError::new(pb::ErrorReason::DeviceNotPaired, "the device is not paired")
        })
    }

    /// A flow A payment of `customer` that the device may act on; anything else is `NOT_FOUND`.
    async fn customer_payment(
        &self,
        customer: &CustomerId,
        payment_id: &ompp::types::PaymentId,
    ) -> Result<PaymentRecord, ProtocolError> {
        let payment = self.network.fresh_payment(payment_id).await?;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if let Some(p) = payment.as_ref().filter(|_| {
            self.network
                .defect(crate::defects::Defect::ActOnOtherCustomersPayment)
        }) {
            return Ok(p.clone());
        }
        match payment {
            Some(p)
                if p.customer_id.as_ref() == Some(customer) && p.flow == pb::PaymentFlow::Push =>
            {
                Ok(p)
            }
            _ => Err(ProtocolError::new(
                pb::ErrorReason::NotFound,
                "no such payment",
            )),
        }
    }

    async fn password_hash(&self, customer: &CustomerId) -> Result<Option<String>, ProtocolError> {
        Ok(self
            .network
            .customer(customer)
            .await?
            .map(|c| c.password_hash))
    }
}

/// Whether settlement already ran: SETTLED, or FAILED after confirmation (e.g. insufficient
/// funds), as opposed to failed before it (tries exceeded).
fn settlement_done(state: &crate::store::PaymentState) -> bool {
    match state.status() {
        pb::PaymentStatus::Settled => true,
        pb::PaymentStatus::Failed => state.failure_reason() != Some(pb::ErrorReason::TriesExceeded),
        _ => false,
    }
}

fn entry_pb(entry: &LedgerEntry) -> pb::WalletEntry {
    pb::WalletEntry {
        transfer_id: entry.transfer_id.clone(),
        payment_id: entry.payment_id.clone().unwrap_or_default(),
        delta: Some(entry.delta.to_proto()),
        balance_after: Some(entry.balance_after.to_proto()),
        counterparty: entry.counterparty.clone(),
        booked_at: Some(entry.booked_at.to_proto()),
    }
}

#[tonic::async_trait]
impl NetworkLinkService for NetworkLinkHandler {
    async fn relay_confirm_payment(
        &self,
        request: Request<pb::RelayConfirmPaymentRequest>,
    ) -> Result<Response<pb::RelayConfirmPaymentResponse>, Status> {
        let relay: Relayed<ConfirmPayment> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayConfirmPayment")?;
        let customer = self.customer_of(&relay.device_id).await?;
        let payment = self
            .customer_payment(&customer, &relay.request.payment_id)
            .await?;
        let merchant_name = self.network.merchant_name(&payment.merchant_id).await?;

        // OMPP-FLA-015: a settled (or settlement-failed) payment answers with its outcome, changing nothing.
        let status = payment.state.status();
        if settlement_done(&payment.state) {
            return Ok(Response::new(pb::RelayConfirmPaymentResponse {
                response: Some(pb::ConfirmPaymentResponse {
                    status: status.into(),
                    receipt: receipt_pb(&payment, &merchant_name),
                }),
            }));
        }

        let hash = self.password_hash(&customer).await?;
        let password_ok = self
            .network
            .verify_password(relay.request.password.clone(), hash)
            .await?;
        let amount_matches = relay.request.amount == payment.amount;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let amount_matches = amount_matches
            || self
                .network
                .defect(crate::defects::Defect::IgnoreAmountEcho);
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if !password_ok
            && payment.state.attempts_left() <= 1
            && self
                .network
                .defect(crate::defects::Defect::UnlimitedPasswordAttempts)
        {
            return Err(ProtocolError::new(
                pb::ErrorReason::CredentialsRejected,
                "password is wrong",
            )
            .with_metadata("attempts_left", "1")
            .into());
        }
        let store = self.network.store();
        let now = self.network.now();
        let id = payment.payment_id.clone();
        let (record, outcome) = blocking(move || {
            let mut outcome = Ok(());
            let record = store.update_payment(&id, None, &mut |p| {
                // A concurrent confirmation may have settled it since we looked: answer with the
                // outcome, change nothing (OMPP-FLA-015).
                if settlement_done(&p.state) {
                    outcome = Ok(());
                    return Ok(Settle::No);
                }
                let before = p.state.clone();
                outcome = match p.state.push_mut() {
                    Some(push) => push
                        .confirm(now, amount_matches, password_ok)
                        .map_err(ProtocolError::from),
                    None => Err(ProtocolError::new(
                        pb::ErrorReason::NotFound,
                        "no such payment",
                    )),
                };
                if p.state != before {
                    p.updated_at = now;
                }
                Ok(if outcome.is_ok() {
                    Settle::OrFail
                } else {
                    Settle::No
                })
            })?;
            Ok((record, outcome))
        })
        .await?;
        if record.state.status() != status
            || record.state.attempts_left() != payment.state.attempts_left()
        {
            self.network.changed(&record).await;
        }
        match outcome {
            Ok(()) => {
                tracing::info!(payment_id = %record.payment_id, status = ?record.state.status(), "payment confirmed by the customer");
                Ok(Response::new(pb::RelayConfirmPaymentResponse {
                    response: Some(pb::ConfirmPaymentResponse {
                        status: record.state.status().into(),
                        receipt: receipt_pb(&record, &merchant_name),
                    }),
                }))
            }
            Err(error) => {
                tracing::info!(payment_id = %record.payment_id, reason = ?error.reason, "confirmation refused");
                Err(error.into())
            }
        }
    }

    async fn relay_decline_payment(
        &self,
        request: Request<pb::RelayDeclinePaymentRequest>,
    ) -> Result<Response<pb::RelayDeclinePaymentResponse>, Status> {
        let relay: Relayed<DeclinePayment> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayDeclinePayment")?;
        let customer = self.customer_of(&relay.device_id).await?;
        let payment = self
            .customer_payment(&customer, &relay.request.payment_id)
            .await?;
        if payment.state.status() == pb::PaymentStatus::Declined {
            return Ok(Response::new(pb::RelayDeclinePaymentResponse {
                response: Some(pb::DeclinePaymentResponse {
                    status: pb::PaymentStatus::Declined.into(),
                }),
            }));
        }
        let store = self.network.store();
        let now = self.network.now();
        let id = payment.payment_id.clone();
        let (record, outcome) = blocking(move || {
            let mut outcome = Ok(());
            let record = store.update_payment(&id, None, &mut |p| {
                let before = p.state.clone();
                outcome = match p.state.push_mut() {
                    Some(push) => push.decline(now).map_err(ProtocolError::from),
                    None => Err(ProtocolError::new(
                        pb::ErrorReason::NotFound,
                        "no such payment",
                    )),
                };
                if p.state != before {
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((record, outcome))
        })
        .await?;
        if record.state.status() != payment.state.status() {
            self.network.changed(&record).await;
        }
        outcome?;
        tracing::info!(payment_id = %record.payment_id, "payment declined by the customer");
        Ok(Response::new(pb::RelayDeclinePaymentResponse {
            response: Some(pb::DeclinePaymentResponse {
                status: record.state.status().into(),
            }),
        }))
    }

    async fn relay_preview_payee_code(
        &self,
        request: Request<pb::RelayPreviewPayeeCodeRequest>,
    ) -> Result<Response<pb::RelayPreviewPayeeCodeResponse>, Status> {
        let relay: Relayed<PreviewPayeeCode> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayPreviewPayeeCode")?;
        self.customer_of(&relay.device_id).await?;
        let response = self.network.preview_payee_code(relay.request).await?;
        Ok(Response::new(pb::RelayPreviewPayeeCodeResponse {
            response: Some(response),
        }))
    }

    async fn relay_submit_payee_code(
        &self,
        request: Request<pb::RelaySubmitPayeeCodeRequest>,
    ) -> Result<Response<pb::RelaySubmitPayeeCodeResponse>, Status> {
        let relay: Relayed<SubmitPayeeCode> = self
            .network
            .inner
            .guard
            .admit(&request, "RelaySubmitPayeeCode")?;
        let payer = self.customer_of(&relay.device_id).await?;
        let inner = request.get_ref().request.clone().unwrap_or_default();
        let response = self
            .network
            .submit_payee_code(&relay.device_id, payer, relay.request, &inner)
            .await?;
        Ok(Response::new(pb::RelaySubmitPayeeCodeResponse {
            response: Some(response),
        }))
    }

    async fn relay_get_wallet_balance(
        &self,
        request: Request<pb::RelayGetWalletBalanceRequest>,
    ) -> Result<Response<pb::RelayGetWalletBalanceResponse>, Status> {
        let relay: Relayed<GetWalletBalance> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayGetWalletBalance")?;
        let customer = self.customer_of(&relay.device_id).await?;
        let store = self.network.store();
        let balances = blocking(move || Ok(store.balances(&Owner::Customer(customer))?)).await?;
        Ok(Response::new(pb::RelayGetWalletBalanceResponse {
            response: Some(pb::GetWalletBalanceResponse {
                balances: balances.into_iter().map(|m| m.to_proto()).collect(),
            }),
        }))
    }

    async fn relay_list_wallet_history(
        &self,
        request: Request<pb::RelayListWalletHistoryRequest>,
    ) -> Result<Response<pb::RelayListWalletHistoryResponse>, Status> {
        let relay: Relayed<ListWalletHistory> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayListWalletHistory")?;
        let customer = self.customer_of(&relay.device_id).await?;
        // The page token is the booking time of the last entry returned, in milliseconds.
        let before = match relay.request.page_token.as_str() {
            "" => None,
            token => Some(UnixMillis(token.parse::<i64>().map_err(|_| {
                ProtocolError::from(ompp::validation::ValidationError::single(
                    ompp::validation::FieldPath::root("request").child("page_token"),
                    ompp::validation::Violation::BadFormat {
                        expected: "a page token from a previous response",
                    },
                ))
            })?)),
        };
        let store = self.network.store();
        let size = relay.request.page_size;
        let currency = relay.request.currency;
        let entries = blocking(move || {
            Ok(store.history(&Owner::Customer(customer), currency, size, before)?)
        })
        .await?;
        let next_page_token = match entries.last() {
            Some(last) if entries.len() == usize::try_from(size).unwrap_or(usize::MAX) => {
                last.booked_at.0.to_string()
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::RelayListWalletHistoryResponse {
            response: Some(pb::ListWalletHistoryResponse {
                entries: entries.iter().map(entry_pb).collect(),
                next_page_token,
            }),
        }))
    }

    async fn relay_top_up_wallet(
        &self,
        request: Request<pb::RelayTopUpWalletRequest>,
    ) -> Result<Response<pb::RelayTopUpWalletResponse>, Status> {
        let relay: Relayed<TopUpWallet> = self
            .network
            .inner
            .guard
            .admit(&request, "RelayTopUpWallet")?;
        let customer = self.customer_of(&relay.device_id).await?;
        // OMPP-IDEM-005: the content is every field but the key and the password.
        let digest = {
            let mut blanked = request.get_ref().request.clone().unwrap_or_default();
            blanked.password.clear();
            blanked.idempotency_key.clear();
            Sha256::digest(blanked.encode_to_vec()).to_vec()
        };
        // OMPP-LEDGER-010: fields (parsed above), then the key (OMPP-IDEM-003/004).
        let store = self.network.store();
        let (device, key) = (
            relay.device_id.clone(),
            relay.request.idempotency_key.to_string(),
        );
        let bound = blocking(move || Ok(store.top_up_record(&device, &key)?)).await?;
        if let Some(bound) = bound {
            let entry = self.network.resume_top_up(bound, &digest).await?;
            return Ok(top_up_response(&entry));
        }
        // OMPP-MONEY-005, OMPP-LEDGER-010: a wallet in the amount's currency, a registered bank
        // account, then the password.
        let store = self.network.store();
        let owner = Owner::Customer(customer.clone());
        let wallets = blocking(move || Ok(store.balances(&owner)?)).await?;
        if !wallets
            .iter()
            .any(|m| m.currency == relay.request.amount.currency())
        {
            return Err(ProtocolError::new(
                pb::ErrorReason::CurrencyMismatch,
                "the customer has no wallet in that currency",
            )
            .into());
        }
        let Some(record) = self.network.customer(&customer).await? else {
            return Err(internal("a paired device of an unknown customer").into());
        };
        let Some(debit) = record.bank_account else {
            return Err(ProtocolError::new(
                pb::ErrorReason::UnknownAccount,
                "no bank account is registered for this customer",
            )
            .into());
        };
        if !self
            .network
            .verify_password(relay.request.password.clone(), Some(record.password_hash))
            .await?
        {
            return Err(ProtocolError::new(
                pb::ErrorReason::CredentialsRejected,
                "password is wrong",
            )
            .into());
        }
        // OMPP-MONEY-004: a top-up the ledger could not book is refused before the bank moves
        // anything. (Two racing top-ups may both pass; the second then fails to book after its
        // transfer completed, stays bound to its key and is logged for the operator.)
        let store = self.network.store();
        let (overflow_customer, amount) = (customer.clone(), relay.request.amount);
        let overflows =
            blocking(move || Ok(store.top_up_overflows(&overflow_customer, amount)?)).await?;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let overflows = overflows
            && !self
                .network
                .defect(crate::defects::Defect::OverflowCheckedAfterBank);
        if overflows {
            return Err(ProtocolError::new(
                pb::ErrorReason::AmountLimitExceeded,
                "the wallet's balance would leave the 64-bit range",
            )
            .into());
        }
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if self
            .network
            .defect(crate::defects::Defect::TopUpWithoutBank)
        {
            let store = self.network.store();
            // The sandbox's transfer id: idempotent by device and key, but no bank transfer.
            let transfer_id = format!(
                "TU-{}-{}",
                relay.device_id.as_str(),
                relay.request.idempotency_key
            );
            let (now, amount) = (self.network.now(), relay.request.amount);
            let entry =
                blocking(move || Ok(store.top_up(&customer, amount, &transfer_id, now)?)).await?;
            return Ok(top_up_response(&entry));
        }
        let top_up = TopUpRecord {
            device_id: relay.device_id.clone(),
            key: relay.request.idempotency_key.to_string(),
            digest: digest.clone(),
            customer_id: customer,
            amount: relay.request.amount,
            transfer: self
                .network
                .top_up_transfer(&debit, relay.request.amount, random_id("tu_")),
            booked: false,
        };
        let entry = self.network.begin_top_up(top_up, &digest).await?;
        Ok(top_up_response(&entry))
    }

    async fn list_pending_requests(
        &self,
        request: Request<pb::ListPendingRequestsRequest>,
    ) -> Result<Response<pb::ListPendingRequestsResponse>, Status> {
        let list: ListPendingRequests = self
            .network
            .inner
            .guard
            .admit(&request, "ListPendingRequests")?;
        let customer = self.customer_of(&list.device_id).await?;
        let store = self.network.store();
        let pending = blocking(move || Ok(store.pending_payments(&customer)?)).await?;
        let now = self.network.now();
        let mut requests = Vec::with_capacity(pending.len());
        for record in pending {
            if record.state.expires_at() <= now {
                // Expire it now rather than show it.
                self.network.fresh_payment(&record.payment_id).await?;
                continue;
            }
            let merchant_name = self.network.merchant_name(&record.merchant_id).await?;
            requests.push(pushed_pb(&record, &merchant_name));
        }
        Ok(Response::new(pb::ListPendingRequestsResponse {
            payment_requests: requests,
        }))
    }
}

fn top_up_response(entry: &LedgerEntry) -> Response<pb::RelayTopUpWalletResponse> {
    Response::new(pb::RelayTopUpWalletResponse {
        response: Some(pb::TopUpWalletResponse {
            entry: Some(entry_pb(entry)),
        }),
    })
}
