//! The network server: merchant-facing payment service, registration, and the network end of
//! the secure link (with its firewall). It owns the databases and the ledger.

mod gateway;
mod link;
mod merchant;
mod payee;
mod registration;
mod top_up;
mod watchers;

use std::sync::Arc;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_client::BankProcessorServiceClient;
use ompp::proto::v1::mobile_link_service_client::MobileLinkServiceClient;
use ompp::proto::v1::sms_center_service_client::SmsCenterServiceClient;
use ompp::types::{BankAccountRef, MerchantId, PaymentId};
use tonic::transport::Channel;

pub use gateway::GatewayHandler;
pub use link::NetworkLinkHandler;
pub use merchant::MerchantHandler;
pub use payee::{CodeLocation, PayeeCodeKeys};
pub use registration::RegistrationHandler;

use crate::clock::Clock;
use crate::errors::blocking;
use crate::link::{EnvelopeStamp, LinkGuard};
use crate::passwords::PasswordHasherService;
use crate::pki::Ca;
use crate::store::{PaymentRecord, Settle, Store};

/// The first wait before a push the mobile server did not take is sent again (OMPP-FLA-022).
const PUSH_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(250);
/// The longest wait between two attempts of a push.
const PUSH_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// State shared by the network server's services.
#[derive(Debug, Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasherService,
    /// Verified against when a customer is unknown, so that both cases cost the same.
    decoy_hash: String,
    operator_ca: Ca,
    mobile: MobileLinkServiceClient<Channel>,
    stamp: EnvelopeStamp,
    guard: LinkGuard,
    /// The watched payments, for `WatchPayment` streams.
    watchers: Arc<watchers::Watchers>,
    /// Signs and verifies payee codes.
    payee_keys: PayeeCodeKeys,
    /// Country and city written into payee codes.
    code_location: CodeLocation,
    /// Key of the authorization codes' keyed hash (OMPP-AUTH-006).
    code_key: [u8; 32],
    /// How long an authorization code is valid (OMPP-AUTH-002).
    code_validity: std::time::Duration,
    /// The SMS center, for authorization codes.
    sms: Option<SmsCenterServiceClient<Channel>>,
    /// The bank processor, for checkout and top-up transfers.
    bank: Option<BankProcessorServiceClient<Channel>>,
    /// The operator's account at the bank processor, credited by top-ups (OMPP-LEDGER-010).
    operator_account: BankAccountRef,
    /// Base of the hosted payment page addresses.
    gateway_url: String,
    /// The broken behaviours of this variant.
    #[cfg(feature = "defects")]
    defects: crate::defects::Defects,
}

/// What the network server needs to run.
#[derive(Debug)]
pub struct NetworkParts {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Password hashing.
    pub hasher: PasswordHasherService,
    /// Signs merchant and device certificates at registration.
    pub operator_ca: Ca,
    /// The mobile server's link service.
    pub mobile: MobileLinkServiceClient<Channel>,
    /// Envelope stamp with the network server's link identity.
    pub stamp: EnvelopeStamp,
    /// The firewall in front of the link service.
    pub guard: LinkGuard,
    /// Payee-code signing key and accepted keys.
    pub payee_keys: PayeeCodeKeys,
    /// Country and city written into payee codes.
    pub code_location: CodeLocation,
    /// Key of the authorization codes' keyed hash.
    pub code_key: [u8; 32],
    /// How long an authorization code is valid, within `AUTH_CODE_VALIDITY`.
    pub code_validity: std::time::Duration,
    /// The SMS center.
    pub sms: Option<SmsCenterServiceClient<Channel>>,
    /// The bank processor.
    pub bank: Option<BankProcessorServiceClient<Channel>>,
    /// The operator's account at the bank processor, credited by top-ups.
    pub operator_account: BankAccountRef,
    /// Base of the hosted payment page addresses (`https://...`).
    pub gateway_url: String,
}

impl Network {
    /// Assembles the network server.
    pub fn new(parts: NetworkParts) -> Self {
        let decoy_hash = parts.hasher.decoy_hash();
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                clock: parts.clock,
                hasher: parts.hasher,
                decoy_hash,
                operator_ca: parts.operator_ca,
                mobile: parts.mobile,
                stamp: parts.stamp,
                guard: parts.guard,
                watchers: Arc::default(),
                payee_keys: parts.payee_keys,
                code_location: parts.code_location,
                code_key: parts.code_key,
                code_validity: parts.code_validity,
                sms: parts.sms,
                bank: parts.bank,
                operator_account: parts.operator_account,
                gateway_url: parts.gateway_url,
                #[cfg(feature = "defects")]
                defects: crate::defects::Defects::default(),
            }),
        }
    }

    /// This network server with `defects` switched on; call it before the first clone.
    #[cfg(feature = "defects")]
    pub fn with_defects(mut self, defects: crate::defects::Defects) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.defects = defects;
        }
        self
    }

    /// Whether this broken variant has `defect`.
    #[cfg(feature = "defects")]
    fn defect(&self, defect: crate::defects::Defect) -> bool {
        self.inner.defects.has(defect)
    }

    /// `devices`, cut to the first `MAX_PUSH_DEVICES` in the broken variant
    /// [`crate::defects::Defect::PushToSixteenDevicesOnly`].
    #[cfg(feature = "defects")]
    fn first_sixteen_only<T>(&self, mut devices: Vec<T>) -> Vec<T> {
        if self.defect(crate::defects::Defect::PushToSixteenDevicesOnly) {
            devices.truncate(ompp::limits::MAX_PUSH_DEVICES);
        }
        devices
    }

    fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    fn now(&self) -> ompp::types::UnixMillis {
        self.inner.clock.now()
    }

    /// The link firewall's decisions per peer and outcome (OMPP-LINK-009).
    pub fn firewall_peer_counts(&self) -> std::collections::BTreeMap<(String, &'static str), u64> {
        self.inner.guard.peer_counts()
    }

    /// The link firewall's counters (for tests and operators).
    pub fn firewall_counters(&self) -> ompp::firewall::FirewallCounters {
        self.inner.guard.counters()
    }

    /// Checks `password` against `hash` off the runtime; `None` checks against the decoy.
    async fn verify_password(
        &self,
        password: ompp::types::Password,
        hash: Option<String>,
    ) -> Result<bool, ProtocolError> {
        let hasher = self.inner.hasher.clone();
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.inner.decoy_hash.clone(), false),
        };
        Ok(hasher.verify_off_runtime(password, hash).await && real)
    }

    async fn merchant_name(&self, id: &MerchantId) -> Result<String, ProtocolError> {
        Ok(self
            .merchant(id)
            .await?
            .map(|m| m.display_name)
            .unwrap_or_default())
    }

    /// A merchant, from the store's memory when it has it (no hop to a blocking thread).
    async fn merchant(
        &self,
        id: &MerchantId,
    ) -> Result<Option<crate::store::MerchantRecord>, ProtocolError> {
        let store = self.store();
        if let Some(hit) = store.cached_merchant(id) {
            return Ok(Some(hit));
        }
        let id = id.clone();
        blocking(move || Ok(store.merchant(&id)?)).await
    }

    /// A customer, from the store's memory when it has it.
    async fn customer(
        &self,
        id: &ompp::types::CustomerId,
    ) -> Result<Option<crate::store::CustomerRecord>, ProtocolError> {
        let store = self.store();
        if let Some(hit) = store.cached_customer(id) {
            return Ok(Some(hit));
        }
        let id = id.clone();
        blocking(move || Ok(store.customer(&id)?)).await
    }

    /// The customer a device is paired with, from the store's memory when it has it.
    async fn device_customer(
        &self,
        device: &ompp::types::DeviceId,
    ) -> Result<Option<ompp::types::CustomerId>, ProtocolError> {
        let store = self.store();
        if let Some(hit) = store.cached_device_customer(device) {
            return Ok(Some(hit));
        }
        let device = device.clone();
        blocking(move || Ok(store.device_customer(&device)?)).await
    }

    /// Loads a payment, expiring it first if its time has come, so no reader ever sees a
    /// payment pending past its expiry.
    async fn fresh_payment(&self, id: &PaymentId) -> Result<Option<PaymentRecord>, ProtocolError> {
        let store = self.store();
        let id = id.clone();
        let now = self.now();
        let (record, expired) = blocking(move || {
            let Some(record) = store.payment(&id)? else {
                return Ok((None, false));
            };
            if record.state.is_terminal() || record.state.expires_at() > now {
                return Ok((Some(record), false));
            }
            let mut expired = false;
            let record = store.update_payment(&id, None, &mut |p| {
                expired = p.state.expire_if_due(now);
                if expired {
                    p.updated_at = now;
                }
                Ok(Settle::No)
            })?;
            Ok((Some(record), expired))
        })
        .await?;
        if let (Some(record), true) = (&record, expired) {
            self.changed(record).await;
        }
        Ok(record)
    }

    /// Expires every payment whose time has come; run periodically.
    pub async fn expire_due(&self) -> Result<usize, ProtocolError> {
        let store = self.store();
        let now = self.now();
        let due = blocking(move || Ok(store.due_payments(now)?)).await?;
        let count = due.len();
        for id in due {
            self.fresh_payment(&id).await?;
        }
        Ok(count)
    }

    /// The wire form of a payment, with its receipt when settled.
    async fn to_pb(&self, record: &PaymentRecord) -> Result<pb::Payment, ProtocolError> {
        let merchant_name = self.merchant_name(&record.merchant_id).await?;
        Ok(payment_pb(record, &merchant_name))
    }

    /// Tells watchers and, for a terminal status, the customer's devices about a change.
    async fn changed(&self, record: &PaymentRecord) {
        // Nobody to tell: no watcher, and devices hear only of terminal states. A watcher that
        // subscribes after this check reads the payment after this change was stored.
        if !record.state.is_terminal() && !self.inner.watchers.watched(record.payment_id.as_str()) {
            return;
        }
        let payment = match self.to_pb(record).await {
            Ok(payment) => payment,
            Err(error) => {
                tracing::error!(%error, payment_id = %record.payment_id, "cannot report a payment change");
                return;
            }
        };
        self.inner.watchers.send(&payment);
        if record.state.is_terminal() {
            let notice = pb::DeviceNotice {
                payment_id: record.payment_id.to_string(),
                status: payment.status,
                reason: payment.failure_reason,
                receipt: payment.receipt.clone(),
                wallet_delta: (record.state.status() == pb::PaymentStatus::Settled).then(|| {
                    ompp::money::Money::new(record.amount.currency(), -record.amount.minor_units())
                        .to_proto()
                }),
            };
            self.notify_devices(record, notice);
        }
    }

    /// Sends a notice to the customer's devices over the secure link, in the background: a
    /// device that is offline learns the outcome when it next asks.
    fn notify_devices(&self, record: &PaymentRecord, notice: pb::DeviceNotice) {
        let this = self.clone();
        let Some(customer) = record.customer_id.clone() else {
            return;
        };
        tokio::spawn(async move {
            let store = this.store();
            let customer_for_lookup = customer.clone();
            let devices =
                match blocking(move || Ok(store.customer_devices(&customer_for_lookup)?)).await {
                    Ok(devices) if !devices.is_empty() => devices,
                    Ok(_) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot list devices for a notice");
                        return;
                    }
                };
            // OMPP-FLA-014 / OMPP-REG-009: every paired device, in pushes of at most
            // MAX_PUSH_DEVICES (OMPP-MSG-009), each a new secure-link message (OMPP-LINK-010).
            // Broken variant for the conformance suite's own tests (feature "defects").
            #[cfg(feature = "defects")]
            let devices = this.first_sixteen_only(devices);
            for chunk in devices.chunks(ompp::limits::MAX_PUSH_DEVICES) {
                let request = pb::PushNoticeRequest {
                    envelope: Some(this.inner.stamp.envelope()),
                    customer_id: customer.to_string(),
                    device_ids: chunk.iter().map(ToString::to_string).collect(),
                    notice: Some(notice.clone()),
                };
                if let Err(status) = this.inner.mobile.clone().push_notice(request).await {
                    tracing::warn!(code = ?status.code(), "mobile server did not take a notice");
                }
            }
        });
    }

    /// Pushes a pending payment to the customer's devices, in the background.
    fn push_request(&self, record: &PaymentRecord, merchant_name: String) {
        let this = self.clone();
        let record = record.clone();
        tokio::spawn(async move {
            let store = this.store();
            let Some(customer) = record.customer_id.clone() else {
                return;
            };
            let devices = match blocking(move || Ok(store.customer_devices(&customer)?)).await {
                Ok(devices) if !devices.is_empty() => devices,
                Ok(_) => {
                    tracing::info!(payment_id = %record.payment_id, "customer has no paired device yet; the request waits");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot list devices for a push");
                    return;
                }
            };
            // OMPP-FLA-005 / OMPP-REG-009: every paired device, in pushes of at most
            // MAX_PUSH_DEVICES (OMPP-MSG-009), each a new secure-link message (OMPP-LINK-010).
            // Broken variant for the conformance suite's own tests (feature "defects").
            #[cfg(feature = "defects")]
            let devices = this.first_sixteen_only(devices);
            for chunk in devices.chunks(ompp::limits::MAX_PUSH_DEVICES) {
                this.push_until_taken(&record, &merchant_name, chunk).await;
            }
        });
    }

    /// Pushes `record` to `devices` until the mobile server takes it or the payment no longer
    /// waits for the customer (OMPP-FLA-022), each attempt a new secure-link message with its
    /// own message id and send time (OMPP-LINK-010).
    async fn push_until_taken(
        &self,
        record: &PaymentRecord,
        merchant_name: &str,
        devices: &[ompp::types::DeviceId],
    ) {
        let mut backoff = PUSH_RETRY_FIRST;
        let first = self.inner.stamp.envelope();
        let mut envelope = first.clone();
        loop {
            let request = pb::PushPaymentRequestRequest {
                envelope: Some(envelope.clone()),
                customer_id: record
                    .customer_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                device_ids: devices.iter().map(ToString::to_string).collect(),
                payment_request: Some(pushed_pb(record, merchant_name)),
            };
            match self
                .inner
                .mobile
                .clone()
                .push_payment_request(request)
                .await
            {
                Ok(response) => {
                    tracing::info!(
                        payment_id = %record.payment_id,
                        delivered_now = response.get_ref().delivered_now,
                        "payment request pushed"
                    );
                    return;
                }
                Err(status) => {
                    tracing::warn!(payment_id = %record.payment_id, code = ?status.code(), retry_in_ms = backoff.as_millis(), "mobile server did not take a push");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(PUSH_RETRY_MAX);
            envelope = self.inner.stamp.envelope();
            // Broken variant for the conformance suite's own tests (feature "defects").
            #[cfg(feature = "defects")]
            if self.defect(crate::defects::Defect::ReuseEnvelopeOnRetry) {
                envelope.clone_from(&first);
            }
            match self.fresh_payment(&record.payment_id).await {
                Ok(Some(now)) if now.state.status() == pb::PaymentStatus::PendingCustomer => {}
                _ => return,
            }
        }
    }
}

/// The receipt of a settled payment.
pub fn receipt_pb(record: &PaymentRecord, merchant_name: &str) -> Option<pb::Receipt> {
    let settled_at = record.settled_at?;
    Some(pb::Receipt {
        receipt_id: format!("R-{}", record.payment_id),
        payment_id: record.payment_id.to_string(),
        flow: record.flow.into(),
        merchant_id: record.merchant_id.to_string(),
        merchant_name: merchant_name.to_owned(),
        customer_id: record
            .customer_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        amount: Some(record.amount.to_proto()),
        items: record.items.clone(),
        merchant_reference: record.merchant_reference.clone(),
        settled_at: Some(settled_at.to_proto()),
        transfer_id: record.transfer_id.clone().unwrap_or_default(),
    })
}

/// The wire form of a stored payment.
pub fn payment_pb(record: &PaymentRecord, merchant_name: &str) -> pb::Payment {
    let state = &record.state;
    pb::Payment {
        payment_id: record.payment_id.to_string(),
        flow: record.flow.into(),
        status: state.status().into(),
        merchant_id: record.merchant_id.to_string(),
        customer_id: record
            .customer_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        amount: Some(record.amount.to_proto()),
        items: record.items.clone(),
        merchant_reference: record.merchant_reference.clone(),
        created_at: Some(state.created_at().to_proto()),
        expires_at: Some(state.expires_at().to_proto()),
        updated_at: Some(record.updated_at.to_proto()),
        attempts_left: state.attempts_left(),
        failure_reason: state.failure_reason().map(i32::from).unwrap_or_default(),
        receipt: receipt_pb(record, merchant_name),
    }
}

/// What a device shows for a pending payment.
pub fn pushed_pb(record: &PaymentRecord, merchant_name: &str) -> pb::PushedPaymentRequest {
    pb::PushedPaymentRequest {
        payment_id: record.payment_id.to_string(),
        merchant_id: record.merchant_id.to_string(),
        merchant_name: merchant_name.to_owned(),
        amount: Some(record.amount.to_proto()),
        items: record.items.clone(),
        merchant_reference: record.merchant_reference.clone(),
        expires_at: Some(record.state.expires_at().to_proto()),
        attempts_left: record.state.attempts_left(),
    }
}
