//! `RegistrationService` on the network server: merchants (enrollment token + CSR), customers
//! (password stored as argon2id), device pairing (password + CSR -> device certificate).

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::registration_service_server::RegistrationService;
use ompp::requests::Request as _;
use ompp::requests::registration::{PairDevice, RegisterCustomer, RegisterMerchant};
use ompp::types::{CustomerId, DeviceId, PartyIdentity, Role};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::Network;
use crate::clock::random_id;
use crate::errors::{blocking, internal};
use crate::pki::{PkiError, Validity};
use crate::store::{Created, CustomerRecord, IdempotencyRecord};

/// How long certificates issued at registration are valid.
const CERTIFICATE_DAYS: u32 = 397;

/// The registration service.
#[derive(Debug, Clone)]
pub struct RegistrationHandler {
    network: Network,
}

impl RegistrationHandler {
    /// The service over `network`.
    pub fn new(network: Network) -> Self {
        Self { network }
    }

    fn sign(&self, csr_der: &[u8], identity: &PartyIdentity) -> Result<Vec<u8>, ProtocolError> {
        match self.network.inner.operator_ca.sign_csr(
            csr_der,
            identity,
            Validity::days_from_now(CERTIFICATE_DAYS),
        ) {
            Ok(cert) => Ok(cert.as_ref().to_vec()),
            Err(PkiError::BadCsr(why)) => Err(ProtocolError::new(
                pb::ErrorReason::CsrRejected,
                format!("the certificate signing request was rejected: {why}"),
            )),
            Err(other) => Err(internal(other)),
        }
    }

    fn trust_anchors(&self) -> Vec<Vec<u8>> {
        vec![self.network.inner.operator_ca.cert_der().as_ref().to_vec()]
    }
}

/// The digest an idempotency key is bound to: the request with its secrets blanked, so that
/// no password ever reaches the idempotency table.
fn digest<M: Message>(message: &M) -> Vec<u8> {
    Sha256::digest(message.encode_to_vec()).to_vec()
}

#[tonic::async_trait]
impl RegistrationService for RegistrationHandler {
    async fn register_merchant(
        &self,
        request: Request<pb::RegisterMerchantRequest>,
    ) -> Result<Response<pb::RegisterMerchantResponse>, Status> {
        let register = RegisterMerchant::parse(request.get_ref())?;
        // Check the CSR before redeeming the token, so a bad CSR does not burn it.
        let probe = PartyIdentity::new(Role::Merchant, "csr-check").map_err(internal)?;
        self.sign(&register.csr_der, &probe)?;

        let mut blanked = request.get_ref().clone();
        blanked.enrollment_token.clear();
        let idempotency = IdempotencyRecord {
            scope: "register_merchant".to_owned(),
            key: register.idempotency_key.to_string(),
            digest: digest(&blanked),
        };
        let store = self.network.store();
        let now = self.network.now();
        let reg = register.clone();
        let created = blocking(move || {
            Ok(store.register_merchant(
                reg.enrollment_token.expose(),
                reg.display_name.as_str(),
                reg.bank_account.as_ref(),
                &reg.settlement_currencies,
                &idempotency,
                now,
            )?)
        })
        .await?;
        let merchant_id = created.into_inner();
        let identity =
            PartyIdentity::new(Role::Merchant, merchant_id.as_str()).map_err(internal)?;
        let certificate_der = self.sign(&register.csr_der, &identity)?;
        tracing::info!(%merchant_id, "merchant registered");
        Ok(Response::new(pb::RegisterMerchantResponse {
            merchant_id: merchant_id.to_string(),
            certificate_der,
            trust_anchors_der: self.trust_anchors(),
        }))
    }

    async fn register_customer(
        &self,
        request: Request<pb::RegisterCustomerRequest>,
    ) -> Result<Response<pb::RegisterCustomerResponse>, Status> {
        let register = RegisterCustomer::parse(request.get_ref())?;
        let hasher = self.network.inner.hasher.clone();
        let password = register.password.clone();
        // OMPP-PWD-002: only the argon2id hash is stored.
        let password_hash = hasher.hash_off_runtime(password).await.map_err(internal)?;
        let mut blanked = request.get_ref().clone();
        blanked.password.clear();
        let idempotency = IdempotencyRecord {
            scope: "register_customer".to_owned(),
            key: register.idempotency_key.to_string(),
            digest: digest(&blanked),
        };
        let record = CustomerRecord {
            customer_id: CustomerId::parse(&random_id("C-")).map_err(internal)?,
            display_name: register.display_name.to_string(),
            phone_number: register.phone_number.to_string(),
            password_hash,
            bank_account: register.bank_account.clone(),
        };
        let store = self.network.store();
        let now = self.network.now();
        let currencies = register.wallet_currencies.clone();
        let created = blocking(move || {
            Ok(store.register_customer(&record, &currencies, &idempotency, now)?)
        })
        .await?;
        let customer_id = match created {
            Created::New(id) => {
                tracing::info!(customer_id = %id, "customer registered");
                id
            }
            // OMPP-IDEM-005: the password is not content, so a retry under the key with another
            // password is the same request; it gets the first customer and changes nothing.
            Created::Existing(id) => id,
        };
        Ok(Response::new(pb::RegisterCustomerResponse {
            customer_id: customer_id.to_string(),
        }))
    }

    async fn pair_device(
        &self,
        request: Request<pb::PairDeviceRequest>,
    ) -> Result<Response<pb::PairDeviceResponse>, Status> {
        let pair = PairDevice::parse(request.get_ref())?;
        let hash = self
            .network
            .customer(&pair.customer_id)
            .await?
            .map(|c| c.password_hash);
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if hash.is_none()
            && self
                .network
                .defect(crate::defects::Defect::RevealUnknownCustomer)
        {
            return Err(
                ProtocolError::new(pb::ErrorReason::UnknownCustomer, "no such customer").into(),
            );
        }
        // OMPP-ERR-004: an unknown customer and a wrong password are the same answer, at the
        // same cost.
        if !self
            .network
            .verify_password(pair.password.clone(), hash)
            .await?
        {
            tracing::info!("device pairing refused: credentials rejected");
            return Err(ProtocolError::new(
                pb::ErrorReason::CredentialsRejected,
                "customer id or password is wrong",
            )
            .into());
        }
        let probe = PartyIdentity::new(Role::Device, "csr-check").map_err(internal)?;
        self.sign(&pair.csr_der, &probe)?;

        let mut blanked = request.get_ref().clone();
        blanked.password.clear();
        let idempotency = IdempotencyRecord {
            scope: format!("pair_device/{}", pair.customer_id),
            key: pair.idempotency_key.to_string(),
            digest: digest(&blanked),
        };
        let device_id = DeviceId::parse(&random_id("D-")).map_err(internal)?;
        let store = self.network.store();
        let now = self.network.now();
        let customer_id = pair.customer_id.clone();
        let name = pair.device_name.to_string();
        let device_id = blocking(move || {
            Ok(store.pair_device(&device_id, &customer_id, &name, &idempotency, now)?)
        })
        .await?
        .into_inner();
        let identity = PartyIdentity::new(Role::Device, device_id.as_str()).map_err(internal)?;
        let certificate_der = self.sign(&pair.csr_der, &identity)?;
        tracing::info!(%device_id, customer_id = %pair.customer_id, "device paired");
        Ok(Response::new(pb::PairDeviceResponse {
            device_id: device_id.to_string(),
            certificate_der,
            trust_anchors_der: self.trust_anchors(),
        }))
    }
}
