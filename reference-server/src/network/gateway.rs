//! Flow C on the network server: the online payment gateway (`GatewayService`), opening
//! checkouts for merchants, and settling them through the bank processor with the
//! authorization code delivered by the SMS center.
//!
//! The checkout rules are `ompp::checkout`'s and the code rules `ompp::authcode`'s; this module
//! adds the customer database, the SMS and bank calls, and the recovery of transfers whose
//! outcome is unknown (OMPP-FLC-008).

use std::time::Duration;

use ompp::authcode::{self, Binding};
use ompp::checkout::Checkout;
use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::gateway_service_server::GatewayService;
use ompp::requests::Request as _;
use ompp::requests::gateway::{GetCheckoutStatus, SubmitAuthorizationCode, SubmitPassword};
use ompp::requests::merchant::OpenCheckout;
use ompp::types::{PaymentId, PhoneNumber};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::{Network, receipt_pb};
use crate::clock::random_id;
use crate::errors::{blocking, internal};
use crate::store::{Created, IdempotencyRecord, PaymentRecord, PaymentState, Settle};

/// How long the network server waits for the bank processor or SMS center per call.
pub(super) const UPSTREAM_DEADLINE: Duration = Duration::from_secs(3);
/// Digits of the authorization codes this center issues (within OMPP-AUTH-001).
const CODE_DIGITS: usize = 6;

/// The gateway service, for the customer's payment page.
#[derive(Debug, Clone)]
pub struct GatewayHandler {
    network: Network,
}

impl GatewayHandler {
    /// The service over `network`.
    pub fn new(network: Network) -> Self {
        Self { network }
    }
}

fn step_of(record: &PaymentRecord) -> pb::CheckoutStep {
    record
        .state
        .checkout()
        .map(Checkout::step)
        .unwrap_or_default()
}

impl Network {
    /// The customer's view of a checkout (OMPP-GW-001, OMPP-GW-002).
    async fn checkout_view(
        &self,
        record: &PaymentRecord,
    ) -> Result<pb::CheckoutView, ProtocolError> {
        let merchant_name = self.merchant_name(&record.merchant_id).await?;
        let checkout = record.state.checkout();
        let step = step_of(record);
        let in_code_step = step == pb::CheckoutStep::AuthorizationCode;
        let masked_phone_number = match (&record.customer_id, in_code_step) {
            (Some(customer), true) => {
                let phone = self.customer(customer).await?.map(|c| c.phone_number);
                phone
                    .and_then(|p| PhoneNumber::parse(&p).ok())
                    .map(|p| p.masked())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        Ok(pb::CheckoutView {
            payment_id: record.payment_id.to_string(),
            merchant_name: merchant_name.clone(),
            amount: Some(record.amount.to_proto()),
            merchant_reference: record.merchant_reference.clone(),
            items: record.items.clone(),
            step: step.into(),
            status: record.state.status().into(),
            failure_reason: record
                .state
                .failure_reason()
                .map(i32::from)
                .unwrap_or_default(),
            expires_at: Some(record.state.expires_at().to_proto()),
            code_expires_at: checkout
                .and_then(Checkout::code_expires_at)
                .filter(|_| in_code_step)
                .map(|t| t.to_proto()),
            code_attempts_left: if in_code_step {
                record.state.attempts_left()
            } else {
                0
            },
            masked_phone_number,
            receipt: receipt_pb(record, &merchant_name),
        })
    }

    /// A checkout by payment id; anything else is `NOT_FOUND` (OMPP-GW-001).
    async fn checkout_payment(&self, id: &PaymentId) -> Result<PaymentRecord, ProtocolError> {
        match self.fresh_payment(id).await? {
            Some(record) if record.flow == pb::PaymentFlow::Checkout => Ok(record),
            _ => Err(ProtocolError::new(
                pb::ErrorReason::NotFound,
                "no such checkout",
            )),
        }
    }

    /// Flow C, step 1 (OMPP-FLC-001, OMPP-FLC-002).
    pub(super) async fn open_checkout(
        &self,
        open: OpenCheckout,
        request: &pb::OpenCheckoutRequest,
    ) -> Result<pb::OpenCheckoutResponse, ProtocolError> {
        let merchant = self.merchant(&open.merchant_id).await?;
        if merchant.and_then(|m| m.bank_account).is_none() {
            return Err(ProtocolError::new(
                pb::ErrorReason::UnknownAccount,
                "the merchant has no registered bank account",
            ));
        }
        let now = self.now();
        let record = PaymentRecord {
            payment_id: PaymentId::parse(&random_id("pay_")).map_err(internal)?,
            flow: pb::PaymentFlow::Checkout,
            merchant_id: open.merchant_id.clone(),
            customer_id: None,
            amount: open.amount,
            items: open.items.iter().map(|i| i.to_proto()).collect(),
            merchant_reference: open.merchant_reference.to_string(),
            state: PaymentState::Checkout(Checkout::new(now, open.expires_in)),
            updated_at: now,
            transfer_id: None,
            settled_at: None,
        };
        let idempotency = IdempotencyRecord {
            scope: format!("open_checkout/{}", open.merchant_id),
            key: open.idempotency_key.to_string(),
            digest: Sha256::digest(request.encode_to_vec()).to_vec(),
        };
        let store = self.store();
        let record = match blocking(move || Ok(store.create_payment(&record, &idempotency)?))
            .await?
        {
            Created::New(record) => {
                tracing::info!(payment_id = %record.payment_id, merchant_id = %record.merchant_id, amount = %record.amount, "checkout opened");
                self.changed(&record).await;
                record
            }
            Created::Existing(record) => record,
        };
        let payment = self.to_pb(&record).await?;
        Ok(pb::OpenCheckoutResponse {
            payment: Some(payment),
            payment_page_url: format!("{}/pay/{}", self.inner.gateway_url, record.payment_id),
        })
    }

    /// Sends the code's SMS; the error a customer sees when the SMS center cannot take it
    /// (OMPP-FLC-014). The text never reaches a log.
    async fn send_code(
        &self,
        message_id: &str,
        phone: &str,
        text: String,
        validity: Duration,
    ) -> Result<(), ProtocolError> {
        let Some(sms) = self.inner.sms.clone() else {
            return Err(ProtocolError::new(
                pb::ErrorReason::ServiceUnavailable,
                "no SMS center is configured",
            ));
        };
        let request = pb::SubmitMessageRequest {
            message_id: message_id.to_owned(),
            recipient: phone.to_owned(),
            sender: "OMPP".to_owned(),
            text,
            validity: Some(ompp::types::duration_to_proto(validity)),
        };
        let mut tonic_request = tonic::Request::new(request);
        tonic_request.set_timeout(UPSTREAM_DEADLINE);
        match sms.clone().submit_message(tonic_request).await {
            Ok(response) => {
                let report = response.into_inner().report.unwrap_or_default();
                match pb::DeliveryStatus::try_from(report.status) {
                    Ok(pb::DeliveryStatus::Failed | pb::DeliveryStatus::Expired) => {
                        Err(ProtocolError::new(
                            pb::ErrorReason::SmsUndeliverable,
                            "the code could not be delivered",
                        ))
                    }
                    _ => Ok(()),
                }
            }
            Err(status) => Err(upstream_error(&status, "the SMS center")),
        }
    }

    /// Asks the bank processor for a checkout's transfer, recovering from a lost answer by
    /// `GetTransfer` and by repeating the identical request, never with a new transfer id
    /// (OMPP-FLC-008, OMPP-LEDGER-011). `Ok(None)`: the outcome is still unknown.
    pub(super) async fn execute_transfer(
        &self,
        request: pb::ExecuteTransferRequest,
    ) -> Result<Option<pb::BankTransfer>, ProtocolError> {
        let Some(bank) = self.inner.bank.clone() else {
            return Err(ProtocolError::new(
                pb::ErrorReason::ServiceUnavailable,
                "no bank processor is configured",
            ));
        };
        let call = |request: pb::ExecuteTransferRequest| {
            let mut bank = bank.clone();
            async move {
                let mut r = tonic::Request::new(request);
                r.set_timeout(UPSTREAM_DEADLINE);
                bank.execute_transfer(r).await
            }
        };
        match call(request.clone()).await {
            Ok(response) => return Ok(response.into_inner().transfer),
            Err(status) => {
                tracing::warn!(transfer_id = %request.transfer_id, code = ?status.code(), "bank transfer unanswered; asking for its status")
            }
        }
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if self.defect(crate::defects::Defect::FailUnansweredTransfer) {
            return Ok(Some(pb::BankTransfer {
                transfer_id: request.transfer_id,
                status: pb::BankTransferStatus::Rejected.into(),
                reject_reason: pb::ErrorReason::ServiceUnavailable.into(),
                ..pb::BankTransfer::default()
            }));
        }
        let mut get = tonic::Request::new(pb::GetTransferRequest {
            transfer_id: request.transfer_id.clone(),
        });
        get.set_timeout(UPSTREAM_DEADLINE);
        match bank.clone().get_transfer(get).await {
            Ok(response) => return Ok(response.into_inner().transfer),
            Err(status) => {
                let not_found = ProtocolError::from_status(&status)
                    .is_ok_and(|e| e.reason == pb::ErrorReason::NotFound);
                if !not_found {
                    return Ok(None);
                }
            }
        }
        // The bank never got it: the identical request is safe to send again.
        match call(request).await {
            Ok(response) => Ok(response.into_inner().transfer),
            Err(_) => Ok(None),
        }
    }

    /// Settles a confirmed checkout with the bank processor and records the outcome durably
    /// before anyone is told. Returns the record as it stands afterwards.
    pub(super) async fn settle_checkout(
        &self,
        id: &PaymentId,
    ) -> Result<PaymentRecord, ProtocolError> {
        let record = self.checkout_payment(id).await?;
        if record.state.status() != pb::PaymentStatus::Confirmed {
            return Ok(record);
        }
        let store = self.store();
        let (merchant_id, customer_id) = (record.merchant_id.clone(), record.customer_id.clone());
        let (merchant, customer) = blocking(move || {
            let merchant = store.merchant(&merchant_id)?;
            let customer = match customer_id {
                Some(id) => store.customer(&id)?,
                None => None,
            };
            Ok((merchant, customer))
        })
        .await?;
        let (Some(credit), Some(debit)) = (
            merchant.as_ref().and_then(|m| m.bank_account.clone()),
            customer.and_then(|c| c.bank_account),
        ) else {
            return Err(internal("a confirmed checkout without both bank accounts"));
        };
        let merchant_name = merchant.map(|m| m.display_name).unwrap_or_default();
        let remittance: String = format!("{merchant_name} {}", record.merchant_reference)
            .chars()
            .take(140)
            .collect();
        let transfer_id = format!("BT-{}", record.payment_id);
        let request = pb::ExecuteTransferRequest {
            transfer_id: transfer_id.clone(),
            debit_account: Some(debit.to_proto()),
            credit_account: Some(credit.to_proto()),
            amount: Some(record.amount.to_proto()),
            remittance_info: remittance,
        };
        let Some(transfer) = self.execute_transfer(request).await? else {
            return Ok(record);
        };
        let now = self.now();
        let store = self.store();
        let id = record.payment_id.clone();
        let outcome = pb::BankTransferStatus::try_from(transfer.status).unwrap_or_default();
        let reason =
            pb::ErrorReason::try_from(transfer.reject_reason).unwrap_or(pb::ErrorReason::Internal);
        let updated = blocking(move || {
            Ok(store.update_payment(&id, None, &mut |p| {
                if p.state.status() != pb::PaymentStatus::Confirmed {
                    return Ok(Settle::No);
                }
                match outcome {
                    pb::BankTransferStatus::Completed => {
                        p.state
                            .mark_settled()
                            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
                        p.transfer_id = Some(transfer_id.clone());
                        p.settled_at = Some(now);
                    }
                    _ => p
                        .state
                        .mark_failed(reason)
                        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?,
                }
                p.updated_at = now;
                Ok(Settle::No)
            })?)
        })
        .await?;
        tracing::info!(payment_id = %updated.payment_id, status = ?updated.state.status(), "checkout settled by the bank processor");
        self.changed(&updated).await;
        Ok(updated)
    }

    /// Resolves every checkout whose transfer outcome is unknown; run periodically.
    pub async fn recover_checkouts(&self) -> Result<usize, ProtocolError> {
        let store = self.store();
        let ids = blocking(move || Ok(store.processing_checkouts()?)).await?;
        let mut resolved = 0;
        for id in ids {
            if self.settle_checkout(&id).await?.state.status() != pb::PaymentStatus::Confirmed {
                resolved += 1;
            }
        }
        Ok(resolved)
    }
}

/// An upstream party's failure as the caller sees it: no answer is `UPSTREAM_TIMEOUT`, a refusal
/// `SERVICE_UNAVAILABLE`.
fn upstream_error(status: &tonic::Status, who: &str) -> ProtocolError {
    tracing::warn!(code = ?status.code(), upstream = who, "upstream call failed");
    if status.code() == tonic::Code::DeadlineExceeded || status.code() == tonic::Code::Cancelled {
        ProtocolError::new(
            pb::ErrorReason::UpstreamTimeout,
            format!("{who} did not answer in time; try again"),
        )
    } else {
        ProtocolError::new(
            pb::ErrorReason::ServiceUnavailable,
            format!("{who} is unavailable; try again"),
        )
    }
}

#[tonic::async_trait]
impl GatewayService for GatewayHandler {
    async fn get_checkout_status(
        &self,
        request: Request<pb::GetCheckoutStatusRequest>,
    ) -> Result<Response<pb::GetCheckoutStatusResponse>, Status> {
        let get = GetCheckoutStatus::parse(request.get_ref())?;
        let record = self.network.checkout_payment(&get.payment_id).await?;
        let checkout = self.network.checkout_view(&record).await?;
        Ok(Response::new(pb::GetCheckoutStatusResponse {
            checkout: Some(checkout),
        }))
    }

    async fn submit_password(
        &self,
        request: Request<pb::SubmitPasswordRequest>,
    ) -> Result<Response<pb::SubmitPasswordResponse>, Status> {
        let submit = SubmitPassword::parse(request.get_ref())?;
        let network = &self.network;
        let record = network.checkout_payment(&submit.payment_id).await?;
        let store = network.store();
        let phone = submit.phone_number.to_string();
        let customer = blocking(move || Ok(store.customer_by_phone(&phone)?)).await?;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if customer.is_none() && network.defect(crate::defects::Defect::RevealUnknownPhone) {
            return Err(ProtocolError::new(
                pb::ErrorReason::UnknownCustomer,
                "no customer holds this phone number",
            )
            .into());
        }
        // OMPP-ERR-004 / OMPP-FLC-005: unknown identity, wrong password and another customer
        // than the one the checkout is bound to are the same answer, at the same cost.
        let hash = customer.as_ref().map(|c| c.password_hash.clone());
        let password_ok = network
            .verify_password(submit.password.clone(), hash)
            .await?;
        let bound_elsewhere = matches!((&record.customer_id, &customer), (Some(bound), Some(c)) if bound != &c.customer_id);
        let credentials_ok = password_ok && !bound_elsewhere;

        let now = network.now();
        let store = network.store();
        let id = record.payment_id.clone();
        let (checked, outcome) = blocking(move || {
            let mut outcome = Ok(());
            let record = store.update_payment(&id, None, &mut |p| {
                let Some(checkout) = p.state.checkout_mut() else {
                    outcome = Err(ProtocolError::new(
                        pb::ErrorReason::NotFound,
                        "no such checkout",
                    ));
                    return Ok(Settle::No);
                };
                let before = checkout.clone();
                outcome = checkout
                    .check_password(now, credentials_ok)
                    .map_err(ProtocolError::from);
                if *checkout != before {
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((record, outcome))
        })
        .await?;
        if checked.state.status() != record.state.status() {
            network.changed(&checked).await;
        }
        outcome?;
        let Some(customer) = customer else {
            return Err(internal("credentials accepted without a customer").into());
        };
        // OMPP-FLC-006: a customer without a bank account cannot pay a checkout.
        if customer.bank_account.is_none() {
            return Err(ProtocolError::new(
                pb::ErrorReason::UnknownAccount,
                "no bank account is registered for this customer",
            )
            .into());
        }

        // OMPP-AUTH-001..006: a fresh code bound to this checkout, amount and payee.
        let binding = Binding {
            payment_id: &record.payment_id,
            amount: record.amount,
            merchant_id: &record.merchant_id,
        };
        let validity = network.inner.code_validity;
        let (code, stored) = authcode::issue(
            &mut rand::rng(),
            &network.inner.code_key,
            &binding,
            CODE_DIGITS,
            now,
            validity,
            record.state.expires_at(),
        );
        let token = authcode::session_token(&mut rand::rng());
        let merchant_name = network.merchant_name(&record.merchant_id).await?;
        // OMPP-AUTH-010/011: the code first, then amount and payee.
        let text = format!(
            "{} is your OMPP code for {} to {}. It authorizes this payment only; never give it to anyone.",
            code.expose(),
            record.amount,
            merchant_name
        );
        let message_id = random_id("sms-");
        // OMPP-FLC-014: if the SMS center cannot take it, the code is discarded and the checkout
        // stays where it was.
        network
            .send_code(&message_id, &customer.phone_number, text, validity)
            .await?;
        drop(code);

        let store = network.store();
        let id = record.payment_id.clone();
        let customer_id = customer.customer_id.clone();
        let install_token = token.clone();
        let (installed, outcome) = blocking(move || {
            let mut outcome = Ok(());
            let record = store.update_payment(&id, None, &mut |p| {
                let Some(checkout) = p.state.checkout_mut() else {
                    outcome = Err(ProtocolError::new(
                        pb::ErrorReason::NotFound,
                        "no such checkout",
                    ));
                    return Ok(Settle::No);
                };
                outcome = checkout
                    .install_code(now, stored.clone(), &install_token)
                    .map_err(ProtocolError::from);
                if outcome.is_ok() {
                    p.customer_id = Some(customer_id.clone());
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((record, outcome))
        })
        .await?;
        outcome?;
        tracing::info!(payment_id = %installed.payment_id, sms = %message_id, "authorization code sent");
        network.changed(&installed).await;
        let checkout = network.checkout_view(&installed).await?;
        Ok(Response::new(pb::SubmitPasswordResponse {
            checkout: Some(checkout),
            session_token: token.expose().to_owned(),
        }))
    }

    async fn submit_authorization_code(
        &self,
        request: Request<pb::SubmitAuthorizationCodeRequest>,
    ) -> Result<Response<pb::SubmitAuthorizationCodeResponse>, Status> {
        let submit = SubmitAuthorizationCode::parse(request.get_ref())?;
        let network = &self.network;
        let record = network.checkout_payment(&submit.payment_id).await?;
        let now = network.now();
        let store = network.store();
        let id = record.payment_id.clone();
        let key = network.inner.code_key;
        let (checked, outcome) = blocking(move || {
            let mut outcome = Ok(());
            let record = store.update_payment(&id, None, &mut |p| {
                // The binding uses the checkout's current values (OMPP-AUTH-007).
                let (payment_id, amount, merchant_id) =
                    (p.payment_id.clone(), p.amount, p.merchant_id.clone());
                let binding = Binding {
                    payment_id: &payment_id,
                    amount,
                    merchant_id: &merchant_id,
                };
                let Some(checkout) = p.state.checkout_mut() else {
                    outcome = Err(ProtocolError::new(
                        pb::ErrorReason::NotFound,
                        "no such checkout",
                    ));
                    return Ok(Settle::No);
                };
                let before = checkout.clone();
                outcome = checkout
                    .submit_code(
                        now,
                        &key,
                        &binding,
                        &submit.session_token,
                        &submit.authorization_code,
                    )
                    .map_err(ProtocolError::from);
                if *checkout != before {
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((record, outcome))
        })
        .await?;
        if checked.state.status() != record.state.status()
            || checked.state.attempts_left() != record.state.attempts_left()
        {
            network.changed(&checked).await;
        }
        outcome?;
        // CONFIRMED is durable now; the bank decides the rest (OMPP-FLC-007, OMPP-FLC-008).
        let settled = network.settle_checkout(&checked.payment_id).await?;
        if settled.state.status() == pb::PaymentStatus::Confirmed {
            return Err(ProtocolError::new(
                pb::ErrorReason::UpstreamTimeout,
                "the bank has not answered yet; the payment will complete or fail on its own, check its status",
            )
            .into());
        }
        let checkout = network.checkout_view(&settled).await?;
        Ok(Response::new(pb::SubmitAuthorizationCodeResponse {
            checkout: Some(checkout),
        }))
    }
}
