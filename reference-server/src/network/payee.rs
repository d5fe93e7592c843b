//! Flow B on the network server: issuing signed payee codes, and verifying, previewing and
//! paying them. The code format and its checks are `ompp::payee_code`'s; this module adds the
//! keys, the clock, the database and the ledger.

use std::collections::HashMap;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use ompp::error::ProtocolError;
use ompp::limits::PASSWORD_ATTEMPTS;
use ompp::money::Amount;
use ompp::payee_code::{Decoded, Initiation, PayeeCode, SignedPayeeCode, decode};
use ompp::payment::PushPayment;
use ompp::proto::v1 as pb;
use ompp::requests::device::{PreviewPayeeCode, SubmitPayeeCode};
use ompp::requests::merchant::{IssuePayeeCode, PayeeCodeKind};
use ompp::types::{CustomerId, DeviceId, PaymentId, UnixMillis};
use prost::Message;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Network;
use crate::clock::random_id;
use crate::errors::{blocking, internal};
use crate::store::{
    Created, IdempotencyRecord, Owner, PayeeCodeRecord, PaymentRecord, PaymentState, Settle,
};

/// The operation center's payee-code signing key, and every key whose codes it still accepts.
#[derive(Debug)]
pub struct PayeeCodeKeys {
    key_id: String,
    signing: SigningKey,
    accepted: HashMap<String, VerifyingKey>,
}

/// File that holds the signing key: `<key id> <64 hex digits>`.
const KEY_FILE: &str = "payee-code-signing.key";

impl PayeeCodeKeys {
    /// Reads the signing key from `dir`, creating one (key id `k1`) on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, std::io::Error> {
        let path = dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
                let text = format!("k1 {hex}\n");
                std::fs::create_dir_all(dir)?;
                std::fs::write(&path, &text)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                text
            }
            Err(e) => return Err(e),
        };
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: expected `<key id> <64 hex digits>`", path.display()),
            )
        };
        let (key_id, hex) = text.trim().split_once(' ').ok_or_else(bad)?;
        let mut secret = [0u8; 32];
        if hex.len() != 64 {
            return Err(bad());
        }
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let signing = SigningKey::from_bytes(&secret);
        let accepted = HashMap::from([(key_id.to_owned(), signing.verifying_key())]);
        Ok(Self {
            key_id: key_id.to_owned(),
            signing,
            accepted,
        })
    }
}

/// Where codes say the merchant is (EMVCo tags 58 and 60): the operator's jurisdiction, from the
/// configuration, until merchant registration carries it.
#[derive(Debug, Clone)]
pub struct CodeLocation {
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// City, at most 15 characters.
    pub city: String,
}

/// A merchant name as EMVCo tag 59 allows: printable ASCII, at most 25 characters.
fn emvco_name(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(25)
        .collect();
    if ascii.trim().is_empty() {
        "Merchant".to_owned()
    } else {
        ascii
    }
}

/// Length of the code ids this center issues: what template 26 leaves next to a merchant id of
/// the longest allowed length.
const CODE_ID_LEN: usize = ompp::limits::PAYEE_CODE_MAX_IDS_LEN - ompp::limits::ID_LEN.max;

fn secs(t: UnixMillis) -> i64 {
    t.0.div_euclid(1000)
}

impl Network {
    /// Flow B, step 1 (OMPP-FLB-001..004): a signed code for the merchant.
    pub(super) async fn issue_payee_code(
        &self,
        issue: IssuePayeeCode,
        request: &pb::IssuePayeeCodeRequest,
        merchant_name: &str,
    ) -> Result<pb::IssuePayeeCodeResponse, ProtocolError> {
        let (currency, amount) = match issue.kind {
            PayeeCodeKind::Static { currency } => (currency, None),
            PayeeCodeKind::Dynamic { amount } => (amount.currency(), Some(amount)),
        };
        let store = self.store();
        let owner = Owner::Merchant(issue.merchant_id.clone());
        let wallets = blocking(move || Ok(store.balances(&owner)?)).await?;
        if !wallets.iter().any(|m| m.currency == currency) {
            return Err(ProtocolError::new(
                pb::ErrorReason::CurrencyMismatch,
                "the merchant has no settlement wallet in that currency",
            ));
        }
        // OMPP-FLB-003: the amount must fit tag 54.
        if amount.is_some_and(|a| {
            a.money().to_decimal_string().len() > ompp::limits::PAYEE_CODE_MAX_AMOUNT_LEN
        }) {
            return Err(ProtocolError::new(
                pb::ErrorReason::AmountLimitExceeded,
                "the amount does not fit a payee code",
            ));
        }
        let now = self.now();
        let expires_at_secs =
            secs(now) + i64::try_from(issue.expires_in.as_secs()).unwrap_or(i64::MAX / 2);
        let mut nonce = [0u8; 8];
        rand::rng().fill_bytes(&mut nonce);
        let keys = &self.inner.payee_keys;
        let code = PayeeCode {
            initiation: if amount.is_some() {
                Initiation::Dynamic
            } else {
                Initiation::Static
            },
            merchant_id: issue.merchant_id.clone(),
            // As long as template 26 allows next to the longest merchant id (OMPP-CODE-005).
            code_id: ompp::types::CodeId::parse(&random_id("Q")[..CODE_ID_LEN])
                .map_err(internal)?,
            merchant_category: "0000".to_owned(),
            currency,
            amount,
            country: self.inner.code_location.country.clone(),
            merchant_name: emvco_name(merchant_name),
            merchant_city: self.inner.code_location.city.clone(),
            reference: issue.merchant_reference.clone(),
            key_id: keys.key_id.clone(),
            expires_at_secs,
            nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let payload = code.sign(&keys.signing).map_err(internal)?;
        let payment = match amount {
            Some(amount) => {
                let mut state = PushPayment::new(
                    now,
                    std::time::Duration::from_secs(issue.expires_in.as_secs()),
                    PASSWORD_ATTEMPTS,
                );
                state.mark_pushed(now).map_err(ProtocolError::from)?;
                Some(PaymentRecord {
                    payment_id: PaymentId::parse(&random_id("pay_")).map_err(internal)?,
                    flow: pb::PaymentFlow::PayeeCode,
                    merchant_id: issue.merchant_id.clone(),
                    customer_id: None,
                    amount,
                    items: Vec::new(),
                    merchant_reference: issue.merchant_reference.to_string(),
                    state: PaymentState::Push(state),
                    updated_at: now,
                    transfer_id: None,
                    settled_at: None,
                })
            }
            None => None,
        };
        let record = PayeeCodeRecord {
            code_id: code.code_id.to_string(),
            merchant_id: issue.merchant_id.clone(),
            payload,
            key_id: keys.key_id.clone(),
            expires_at_secs,
            payment_id: payment.as_ref().map(|p| p.payment_id.clone()),
        };
        let idempotency = IdempotencyRecord {
            scope: format!("issue_payee_code/{}", issue.merchant_id),
            key: issue.idempotency_key.to_string(),
            digest: Sha256::digest(request.encode_to_vec()).to_vec(),
        };
        let store = self.store();
        let created = blocking(move || {
            Ok(store.insert_payee_code(&record, payment.as_ref(), &idempotency)?)
        })
        .await?;
        let record = match created {
            Created::New(record) => {
                tracing::info!(code_id = %record.code_id, merchant_id = %record.merchant_id, dynamic = record.payment_id.is_some(), "payee code issued");
                record
            }
            Created::Existing(record) => record,
        };
        Ok(pb::IssuePayeeCodeResponse {
            payload: record.payload.clone(),
            code_id: record.code_id.clone(),
            expires_at: Some(UnixMillis(record.expires_at_secs.saturating_mul(1000)).to_proto()),
            payment_id: record
                .payment_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        })
    }

    /// Verifies a scanned payload (OMPP-CODE-014: CRC and structure, key id, signature, expiry)
    /// and the state of the code it names (OMPP-FLB-008, OMPP-FLB-011).
    async fn verified_code(
        &self,
        payload: &str,
    ) -> Result<(SignedPayeeCode, PayeeCodeRecord, Option<PaymentRecord>), ProtocolError> {
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let fixed = self
            .defect(crate::defects::Defect::IgnorePayeeCodeCrc)
            .then(|| crate::defects::with_recomputed_crc(payload));
        #[cfg(feature = "defects")]
        let payload = fixed.as_deref().unwrap_or(payload);
        let signed = match decode(payload)? {
            Decoded::Ompp(signed) => signed,
            Decoded::Foreign(_) => {
                return Err(ProtocolError::new(
                    pb::ErrorReason::PayeeCodeNotOmpp,
                    "this is an EMVCo code, but not an OMPP one",
                ));
            }
        };
        let key = self
            .inner
            .payee_keys
            .accepted
            .get(&signed.code.key_id)
            .ok_or_else(|| {
                ProtocolError::new(
                    pb::ErrorReason::PayeeCodeSignatureInvalid,
                    "the code's key id is unknown or retired",
                )
            })?;
        signed.verify(key)?;
        if secs(self.now()) >= signed.code.expires_at_secs {
            return Err(ProtocolError::new(
                pb::ErrorReason::Expired,
                "the code has expired",
            ));
        }
        let store = self.store();
        let code_id = signed.code.code_id.to_string();
        let record = blocking(move || Ok(store.payee_code(&code_id)?))
            .await?
            .ok_or_else(|| ProtocolError::new(pb::ErrorReason::NotFound, "no such payee code"))?;
        let payment = match &record.payment_id {
            Some(id) => {
                let payment = self
                    .fresh_payment(id)
                    .await?
                    .ok_or_else(|| internal("a dynamic code without its payment"))?;
                match payment.state.status() {
                    // Broken variant for the conformance suite's own tests (feature "defects").
                    #[cfg(feature = "defects")]
                    pb::PaymentStatus::Settled
                        if self.defect(crate::defects::Defect::DynamicCodeReusable) =>
                    {
                        None
                    }
                    pb::PaymentStatus::Settled => {
                        return Err(ProtocolError::new(
                            pb::ErrorReason::PayeeCodeUsed,
                            "the code was already used",
                        ));
                    }
                    pb::PaymentStatus::Expired => {
                        return Err(ProtocolError::new(
                            pb::ErrorReason::Expired,
                            "the code has expired",
                        ));
                    }
                    status if payment.state.is_terminal() => {
                        let reason = payment
                            .state
                            .failure_reason()
                            .unwrap_or(pb::ErrorReason::InvalidState);
                        return Err(ProtocolError::new(
                            reason,
                            format!("the code's payment is {}", status.as_str_name()),
                        ));
                    }
                    _ => Some(payment),
                }
            }
            None => None,
        };
        Ok((signed, record, payment))
    }

    /// Flow B, step 2 (OMPP-FLB-005): what the payer's device shows; changes nothing.
    pub(super) async fn preview_payee_code(
        &self,
        preview: PreviewPayeeCode,
    ) -> Result<pb::PreviewPayeeCodeResponse, ProtocolError> {
        let (signed, record, _) = self.verified_code(preview.payload.as_str()).await?;
        let code = signed.code;
        Ok(pb::PreviewPayeeCodeResponse {
            merchant_id: code.merchant_id.to_string(),
            merchant_name: self.merchant_name(&code.merchant_id).await?,
            amount: code.amount.map(Amount::to_proto),
            currency: code.currency.code().to_owned(),
            merchant_reference: code.reference.to_string(),
            expires_at: Some(UnixMillis(record.expires_at_secs.saturating_mul(1000)).to_proto()),
        })
    }

    /// Flow B, step 3 (OMPP-FLB-006..012): pay a code from the device's customer's wallet.
    pub(super) async fn submit_payee_code(
        &self,
        device: &DeviceId,
        payer: CustomerId,
        submit: SubmitPayeeCode,
        request: &pb::SubmitPayeeCodeRequest,
    ) -> Result<pb::SubmitPayeeCodeResponse, ProtocolError> {
        // OMPP-IDEM-003: a retry returns the first outcome, before anything else is checked.
        let mut blanked = request.clone();
        blanked.password.clear();
        let idempotency = IdempotencyRecord {
            scope: format!("submit_payee_code/{device}"),
            key: submit.idempotency_key.to_string(),
            digest: Sha256::digest(blanked.encode_to_vec()).to_vec(),
        };
        let store = self.store();
        let (scope, key) = (idempotency.scope.clone(), idempotency.key.clone());
        if let Some((digest, payment_id)) =
            blocking(move || Ok(store.idempotent_result(&scope, &key)?)).await?
        {
            if digest != idempotency.digest {
                return Err(ProtocolError::new(
                    pb::ErrorReason::IdempotencyConflict,
                    "the idempotency key was used before with a different request",
                ));
            }
            let id = PaymentId::parse(&payment_id).map_err(internal)?;
            let record = self
                .fresh_payment(&id)
                .await?
                .ok_or_else(|| internal("idempotency result without its payment"))?;
            return Ok(pb::SubmitPayeeCodeResponse {
                payment: Some(self.to_pb(&record).await?),
            });
        }

        let (signed, _record, payment) = self.verified_code(submit.payload.as_str()).await?;
        let code = signed.code;
        match code.amount {
            Some(amount) if amount != submit.amount => {
                return Err(ProtocolError::new(
                    pb::ErrorReason::AmountMismatch,
                    "the amount differs from the code's",
                ));
            }
            None if submit.amount.currency() != code.currency => {
                return Err(ProtocolError::new(
                    pb::ErrorReason::CurrencyMismatch,
                    "the amount is not in the code's currency",
                ));
            }
            _ => {}
        }
        let store = self.store();
        let owner = Owner::Customer(payer.clone());
        let wallets = blocking(move || Ok(store.balances(&owner)?)).await?;
        if !wallets.iter().any(|m| m.currency == code.currency) {
            return Err(ProtocolError::new(
                pb::ErrorReason::CurrencyMismatch,
                "no wallet in the code's currency",
            ));
        }
        let hash = self.customer(&payer).await?.map(|c| c.password_hash);
        let password_ok = self.verify_password(submit.password.clone(), hash).await?;
        let now = self.now();

        let settled = match payment {
            // A dynamic code: its payment, with flow A's attempt rules (OMPP-FLB-010).
            Some(payment) => {
                let store = self.store();
                let id = payment.payment_id.clone();
                let payer_for_tx = payer.clone();
                let (record, outcome) = blocking(move || {
                    let mut outcome = Ok(());
                    let result = store.update_payment(&id, Some(&idempotency), &mut |p| {
                        let before = p.state.clone();
                        outcome = match p.state.push_mut() {
                            Some(push) => push
                                .confirm(now, true, password_ok)
                                .map_err(ProtocolError::from),
                            None => Err(ProtocolError::new(
                                pb::ErrorReason::NotFound,
                                "no such payee code payment",
                            )),
                        };
                        if p.state != before {
                            p.updated_at = now;
                        }
                        if outcome.is_ok() {
                            p.customer_id = Some(payer_for_tx.clone());
                            Ok(Settle::OrAbort)
                        } else {
                            Ok(Settle::No)
                        }
                    });
                    Ok((result, outcome))
                })
                .await?;
                let record = record.map_err(ProtocolError::from)?;
                if record.state.status() != payment.state.status()
                    || record.state.attempts_left() != payment.state.attempts_left()
                {
                    self.changed(&record).await;
                }
                outcome?;
                record
            }
            // A static code: a new payment, created settled or not at all (OMPP-FLB-009).
            None => {
                if !password_ok {
                    return Err(ProtocolError::new(
                        pb::ErrorReason::CredentialsRejected,
                        "the password is wrong",
                    ));
                }
                let mut state =
                    PushPayment::new(now, std::time::Duration::from_secs(60), PASSWORD_ATTEMPTS);
                state.mark_pushed(now).map_err(ProtocolError::from)?;
                state
                    .confirm(now, true, true)
                    .map_err(ProtocolError::from)?;
                let record = PaymentRecord {
                    payment_id: PaymentId::parse(&random_id("pay_")).map_err(internal)?,
                    flow: pb::PaymentFlow::PayeeCode,
                    merchant_id: code.merchant_id.clone(),
                    customer_id: Some(payer.clone()),
                    amount: submit.amount,
                    items: Vec::new(),
                    merchant_reference: code.reference.to_string(),
                    state: PaymentState::Push(state),
                    updated_at: now,
                    transfer_id: None,
                    settled_at: None,
                };
                let store = self.store();
                let created =
                    blocking(move || Ok(store.create_settled_payment(&record, &idempotency)?))
                        .await?;
                let record = created.into_inner();
                self.changed(&record).await;
                record
            }
        };
        tracing::info!(payment_id = %settled.payment_id, amount = %settled.amount, payer = %payer, "payee code paid");
        Ok(pb::SubmitPayeeCodeResponse {
            payment: Some(self.to_pb(&settled).await?),
        })
    }
}
