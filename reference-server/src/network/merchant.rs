//! `MerchantPaymentService` on the network server (merchant side of flow A; flows B and C
//! answer `UNSUPPORTED` until they land).

use std::pin::Pin;

use ompp::error::ProtocolError;
use ompp::limits::PASSWORD_ATTEMPTS;
use ompp::payment::PushPayment;
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_server::MerchantPaymentService;
use ompp::requests::Request as _;
use ompp::requests::merchant::{
    CancelPayment, CreatePayment, GetMerchantBalance, GetPayment, GetReceipt, IssuePayeeCode,
    OpenCheckout, WatchPayment,
};
use ompp::types::{MerchantId, PaymentId, Role};
use prost::Message;
use sha2::{Digest, Sha256};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{Network, payment_pb, receipt_pb};
use crate::clock::random_id;
use crate::errors::blocking;
use crate::store::{Created, IdempotencyRecord, Owner, PaymentRecord, PaymentState, Settle};

/// The merchant-facing service.
#[derive(Debug, Clone)]
pub struct MerchantHandler {
    network: Network,
}

impl MerchantHandler {
    /// The service over `network`.
    pub fn new(network: Network) -> Self {
        Self { network }
    }

    /// Authenticates the caller as `merchant_id` (certificate identity, OMPP-TLS-016) and checks
    /// that the merchant is registered.
    async fn authorize<T>(
        &self,
        request: &Request<T>,
        merchant_id: &str,
    ) -> Result<String, ProtocolError> {
        let identity = crate::tls::require_role(request, Role::Merchant);
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let identity = identity.or_else(|e| {
            crate::tls::peer_identity(request)
                .filter(|_| {
                    self.network
                        .defect(crate::defects::Defect::AcceptWrongRoleCertificate)
                })
                .ok_or(e)
        });
        let identity = identity?;
        // Compared as text, so that a malformed merchant_id is a mismatch too: identity
        // binding comes before field validation (OMPP-ERR-008, OMPP-FLA-003).
        let mismatch = identity.id() != merchant_id;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let mismatch = mismatch
            && !self
                .network
                .defect(crate::defects::Defect::IgnoreMerchantIdentity);
        if mismatch {
            return Err(ProtocolError::new(
                pb::ErrorReason::IdentityMismatch,
                "merchant_id differs from the client certificate identity",
            )
            .with_metadata("field", "merchant_id"));
        }
        let merchant_id = MerchantId::parse(merchant_id).map_err(crate::errors::internal)?;
        let merchant = self.network.merchant(&merchant_id).await?;
        merchant.map(|m| m.display_name).ok_or_else(|| {
            ProtocolError::new(
                pb::ErrorReason::UnknownMerchant,
                "the merchant is not registered",
            )
        })
    }

    /// One of this merchant's payments (another merchant's is `NOT_FOUND`, never revealed).
    async fn own_payment(
        &self,
        merchant_id: &MerchantId,
        payment_id: &PaymentId,
    ) -> Result<PaymentRecord, ProtocolError> {
        match self.network.fresh_payment(payment_id).await? {
            Some(record) if &record.merchant_id == merchant_id => Ok(record),
            _ => Err(ProtocolError::new(
                pb::ErrorReason::NotFound,
                "no such payment",
            )),
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchPaymentResponse, Status>> + Send>>;

#[tonic::async_trait]
impl MerchantPaymentService for MerchantHandler {
    async fn create_payment(
        &self,
        request: Request<pb::CreatePaymentRequest>,
    ) -> Result<Response<pb::CreatePaymentResponse>, Status> {
        // OMPP-FLA-003: the caller's identity and registration come before the fields.
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let create = CreatePayment::parse(request.get_ref()).map_err(Status::from);
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let create = create.map_err(|s| {
            if s.code() == tonic::Code::InvalidArgument
                && self.network.defect(crate::defects::Defect::DropErrorInfo)
            {
                Status::invalid_argument(s.message())
            } else {
                s
            }
        });
        let create = create?;
        let store = self.network.store();
        let now = self.network.now();

        // OMPP-IDEM-003 / OMPP-IDEM-004: same key + same request returns the first payment; other content
        // under the key is a conflict. Checked before the customer (OMPP-FLA-003); the store
        // checks again inside its transaction, for concurrent requests (OMPP-IDEM-008).
        let idempotency = IdempotencyRecord {
            scope: format!("create_payment/{}", create.merchant_id),
            key: create.idempotency_key.to_string(),
            digest: Sha256::digest(request.get_ref().encode_to_vec()).to_vec(),
        };
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let idempotency = if self
            .network
            .defect(crate::defects::Defect::IgnoreIdempotencyKey)
        {
            IdempotencyRecord {
                key: random_id("any-"),
                ..idempotency
            }
        } else {
            idempotency
        };
        let (scope, key) = (idempotency.scope.clone(), idempotency.key.clone());
        let lookup = store.clone();
        if let Some((digest, payment_id)) =
            blocking(move || Ok(lookup.idempotent_result(&scope, &key)?)).await?
        {
            if digest != idempotency.digest {
                return Err(ProtocolError::new(
                    pb::ErrorReason::IdempotencyConflict,
                    "the idempotency key was used before with a different request",
                )
                .into());
            }
            let id = PaymentId::parse(&payment_id).map_err(crate::errors::internal)?;
            let record =
                self.network.fresh_payment(&id).await?.ok_or_else(|| {
                    crate::errors::internal("idempotency result without its payment")
                })?;
            tracing::info!(payment_id = %record.payment_id, "idempotent retry of create_payment");
            return Ok(Response::new(pb::CreatePaymentResponse {
                payment: Some(payment_pb(&record, &merchant_name)),
            }));
        }

        let customer_wallets = match self.network.customer(&create.customer_id).await? {
            Some(_) => {
                let lookup = store.clone();
                let owner = Owner::Customer(create.customer_id.clone());
                Some(blocking(move || Ok(lookup.balances(&owner)?)).await?)
            }
            None => None,
        };
        let Some(wallets) = customer_wallets else {
            return Err(ProtocolError::new(
                pb::ErrorReason::UnknownCustomer,
                "the customer is not registered",
            )
            .into());
        };
        let lookup = store.clone();
        let owner = Owner::Merchant(create.merchant_id.clone());
        let settlement = blocking(move || Ok(lookup.balances(&owner)?)).await?;
        let currency = create.amount.currency();
        if !wallets.iter().any(|m| m.currency == currency)
            || !settlement.iter().any(|m| m.currency == currency)
        {
            return Err(ProtocolError::new(
                pb::ErrorReason::CurrencyMismatch,
                "the customer has no wallet or the merchant no settlement wallet in that currency",
            )
            .into());
        }
        let lookup = store.clone();
        let customer = create.customer_id.clone();
        let devices = blocking(move || Ok(lookup.customer_devices(&customer)?)).await?;
        if devices.is_empty() {
            return Err(ProtocolError::new(
                pb::ErrorReason::DeviceNotPaired,
                "the customer has no paired device to confirm the payment",
            )
            .into());
        }

        // OMPP-FLA-001 / OMPP-FLA-002: expiry and attempt limit are the state machine's.
        let mut state = PushPayment::new(now, create.expires_in, PASSWORD_ATTEMPTS);
        state.mark_pushed(now).map_err(ProtocolError::from)?;
        let record = PaymentRecord {
            payment_id: PaymentId::parse(&random_id("pay_")).map_err(crate::errors::internal)?,
            flow: pb::PaymentFlow::Push,
            merchant_id: create.merchant_id.clone(),
            customer_id: Some(create.customer_id.clone()),
            amount: create.amount,
            items: create.items.iter().map(|i| i.to_proto()).collect(),
            merchant_reference: create.merchant_reference.to_string(),
            state: PaymentState::Push(state),
            updated_at: now,
            transfer_id: None,
            settled_at: None,
        };
        let created = blocking(move || Ok(store.create_payment(&record, &idempotency)?)).await?;
        let record = match created {
            Created::New(record) => {
                tracing::info!(payment_id = %record.payment_id, merchant_id = %record.merchant_id, amount = %record.amount, "payment created");
                self.network.changed(&record).await;
                self.network.push_request(&record, merchant_name.clone());
                record
            }
            Created::Existing(record) => {
                tracing::info!(payment_id = %record.payment_id, "idempotent retry of create_payment");
                self.network
                    .fresh_payment(&record.payment_id)
                    .await?
                    .unwrap_or(record)
            }
        };
        Ok(Response::new(pb::CreatePaymentResponse {
            payment: Some(payment_pb(&record, &merchant_name)),
        }))
    }

    async fn get_payment(
        &self,
        request: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::GetPaymentResponse>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let get = GetPayment::parse(request.get_ref())?;
        let record = self.own_payment(&get.merchant_id, &get.payment_id).await?;
        Ok(Response::new(pb::GetPaymentResponse {
            payment: Some(payment_pb(&record, &merchant_name)),
        }))
    }

    type WatchPaymentStream = WatchStream;

    async fn watch_payment(
        &self,
        request: Request<pb::WatchPaymentRequest>,
    ) -> Result<Response<Self::WatchPaymentStream>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let watch = WatchPayment::parse(request.get_ref())?;
        // Subscribe before reading, so no change between the read and the subscription is lost.
        let mut events = self
            .network
            .inner
            .watchers
            .subscribe(watch.payment_id.as_str());
        let record = self
            .own_payment(&watch.merchant_id, &watch.payment_id)
            .await?;
        let first = payment_pb(&record, &merchant_name);
        let payment_id = watch.payment_id.to_string();
        let network = self.network.clone();
        let terminal = |p: &pb::Payment| {
            matches!(
                pb::PaymentStatus::try_from(p.status),
                Ok(pb::PaymentStatus::Settled
                    | pb::PaymentStatus::Declined
                    | pb::PaymentStatus::Expired
                    | pb::PaymentStatus::Cancelled
                    | pb::PaymentStatus::Failed)
            )
        };
        let stream = async_stream(move |tx| async move {
            let done = terminal(&first);
            if tx
                .send(Ok(pb::WatchPaymentResponse {
                    payment: Some(first),
                }))
                .await
                .is_err()
                || done
            {
                return;
            }
            loop {
                match events.recv().await {
                    Ok(payment) if payment.payment_id == payment_id => {
                        let done = terminal(&payment);
                        if tx
                            .send(Ok(pb::WatchPaymentResponse {
                                payment: Some(payment),
                            }))
                            .await
                            .is_err()
                            || done
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed events: re-read the payment rather than guess.
                        let Ok(id) = PaymentId::parse(&payment_id) else {
                            return;
                        };
                        let Ok(Some(record)) = network.fresh_payment(&id).await else {
                            return;
                        };
                        let Ok(payment) = network.to_pb(&record).await else {
                            return;
                        };
                        let done = terminal(&payment);
                        if tx
                            .send(Ok(pb::WatchPaymentResponse {
                                payment: Some(payment),
                            }))
                            .await
                            .is_err()
                            || done
                        {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_payment(
        &self,
        request: Request<pb::CancelPaymentRequest>,
    ) -> Result<Response<pb::CancelPaymentResponse>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let cancel = CancelPayment::parse(request.get_ref())?;
        self.own_payment(&cancel.merchant_id, &cancel.payment_id)
            .await?;
        let store = self.network.store();
        let now = self.network.now();
        let id = cancel.payment_id.clone();
        let (record, outcome) = blocking(move || {
            let mut outcome = Ok(false);
            let record = store.update_payment(&id, None, &mut |p| {
                // OMPP-FLA-013: cancelling a cancelled payment returns it unchanged.
                if p.state.status() == pb::PaymentStatus::Cancelled {
                    outcome = Ok(false);
                    return Ok(Settle::No);
                }
                outcome = p.state.cancel(now).map(|()| true);
                if outcome.is_ok() {
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((record, outcome))
        })
        .await?;
        match outcome {
            Ok(changed) => {
                if changed {
                    tracing::info!(payment_id = %record.payment_id, "payment cancelled by the merchant");
                    self.network.changed(&record).await;
                }
                Ok(Response::new(pb::CancelPaymentResponse {
                    payment: Some(payment_pb(&record, &merchant_name)),
                }))
            }
            Err(error) => {
                if record.state.status() == pb::PaymentStatus::Expired {
                    self.network.changed(&record).await;
                }
                // OMPP-FLA-013: CONFIRMED or a terminal status other than CANCELLED (handled
                // above) is INVALID_STATE, whatever ended the payment; the state machine's own
                // answer names the end (OMPP-FLA-015 wants that for confirm and decline).
                let ended = record.state.status() != pb::PaymentStatus::Cancelled;
                if ended && error.reason != pb::ErrorReason::InvalidState {
                    Err(ProtocolError::new(
                        pb::ErrorReason::InvalidState,
                        "the payment can no longer be cancelled",
                    )
                    .into())
                } else {
                    Err(error.into())
                }
            }
        }
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let get = GetReceipt::parse(request.get_ref())?;
        let record = self.own_payment(&get.merchant_id, &get.payment_id).await?;
        let receipt = receipt_pb(&record, &merchant_name).ok_or_else(|| {
            ProtocolError::new(pb::ErrorReason::InvalidState, "the payment has not settled")
        })?;
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(receipt),
        }))
    }

    async fn issue_payee_code(
        &self,
        request: Request<pb::IssuePayeeCodeRequest>,
    ) -> Result<Response<pb::IssuePayeeCodeResponse>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        let merchant_name = self
            .authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let issue = IssuePayeeCode::parse(request.get_ref())?;
        let response = self
            .network
            .issue_payee_code(issue, request.get_ref(), &merchant_name)
            .await?;
        Ok(Response::new(response))
    }

    async fn open_checkout(
        &self,
        request: Request<pb::OpenCheckoutRequest>,
    ) -> Result<Response<pb::OpenCheckoutResponse>, Status> {
        // OMPP-FLC-002: certificate identity and merchant before the other fields.
        if let Ok(merchant_id) = MerchantId::parse(&request.get_ref().merchant_id) {
            self.authorize(&request, merchant_id.as_str()).await?;
        }
        let open = OpenCheckout::parse(request.get_ref())?;
        self.authorize(&request, open.merchant_id.as_str()).await?;
        let response = self.network.open_checkout(open, request.get_ref()).await?;
        Ok(Response::new(response))
    }

    async fn get_merchant_balance(
        &self,
        request: Request<pb::GetMerchantBalanceRequest>,
    ) -> Result<Response<pb::GetMerchantBalanceResponse>, Status> {
        // The identity binding before the fields (OMPP-ERR-008).
        self.authorize(&request, &request.get_ref().merchant_id)
            .await?;
        let get = GetMerchantBalance::parse(request.get_ref())?;
        let store = self.network.store();
        let owner = Owner::Merchant(get.merchant_id);
        let balances = blocking(move || Ok(store.balances(&owner)?)).await?;
        Ok(Response::new(pb::GetMerchantBalanceResponse {
            balances: balances.into_iter().map(|m| m.to_proto()).collect(),
        }))
    }
}

/// A stream fed by a task: `body` gets the sending half; the stream ends when it returns.
pub(crate) fn async_stream<T, F, Fut>(body: F) -> impl Stream<Item = T> + Send
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(body(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
