//! `DeviceService` requests (mobile server, customer side of flows A and B). The same domain
//! values travel inside the secure-link relays ([`super::link`]).

use super::Request;
use super::common::{id_list, optional};
use crate::limits::{DEFAULT_PAGE_SIZE, MAX_KNOWN_PAYMENT_IDS, MAX_PAGE_SIZE};
use crate::money::{Amount, Currency};
use crate::proto::v1 as pb;
use crate::types::{IdempotencyKey, PageToken, Password, PayeeCodePayload, PaymentId};
use crate::validation::{FieldPath, Validator, Violation};

/// Open the push stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Pending payments the device already shows.
    pub known_payment_ids: Vec<PaymentId>,
}

impl Request for Subscribe {
    type Proto = pb::SubscribeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        // OMPP-MSG-009: bounded list of known ids.
        let known_payment_ids = id_list(
            v,
            &path.child("known_payment_ids"),
            &p.known_payment_ids,
            0,
            MAX_KNOWN_PAYMENT_IDS,
            PaymentId::parse,
        )?;
        Some(Self { known_payment_ids })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::SubscribeRequest {
            known_payment_ids: self
                .known_payment_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// Accept a pushed payment: the amount as shown, and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmPayment {
    /// The payment.
    pub payment_id: PaymentId,
    /// The amount the customer saw.
    pub amount: Amount,
    /// The payment password.
    pub password: Password,
}

impl Request for ConfirmPayment {
    type Proto = pb::ConfirmPaymentRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id));
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let password = v.check(path.child("password"), Password::parse(&p.password));
        Some(Self {
            payment_id: payment_id?,
            amount: amount?,
            password: password?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::ConfirmPaymentRequest {
            payment_id: self.payment_id.to_string(),
            amount: Some(self.amount.to_proto()),
            password: self.password.expose().to_owned(),
        }
    }
}

/// Refuse a pushed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclinePayment {
    /// The payment.
    pub payment_id: PaymentId,
}

impl Request for DeclinePayment {
    type Proto = pb::DeclinePaymentRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id))?;
        Some(Self { payment_id })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::DeclinePaymentRequest {
            payment_id: self.payment_id.to_string(),
        }
    }
}

/// Verify a scanned payee code before confirming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewPayeeCode {
    /// The payload as scanned.
    pub payload: PayeeCodePayload,
}

impl Request for PreviewPayeeCode {
    type Proto = pb::PreviewPayeeCodeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payload = v.check(path.child("payload"), PayeeCodePayload::parse(&p.payload))?;
        Some(Self { payload })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::PreviewPayeeCodeRequest {
            payload: self.payload.to_string(),
        }
    }
}

/// Pay a scanned payee code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPayeeCode {
    /// The payload as scanned.
    pub payload: PayeeCodePayload,
    /// The amount entered (static code) or shown (dynamic code).
    pub amount: Amount,
    /// The payment password.
    pub password: Password,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for SubmitPayeeCode {
    type Proto = pb::SubmitPayeeCodeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payload = v.check(path.child("payload"), PayeeCodePayload::parse(&p.payload));
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let password = v.check(path.child("password"), Password::parse(&p.password));
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            payload: payload?,
            amount: amount?,
            password: password?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::SubmitPayeeCodeRequest {
            payload: self.payload.to_string(),
            amount: Some(self.amount.to_proto()),
            password: self.password.expose().to_owned(),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

/// The wallet balances (no fields: the device's customer is implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetWalletBalance;

impl Request for GetWalletBalance {
    type Proto = pb::GetWalletBalanceRequest;

    fn parse_at(_: &mut Validator, _: &FieldPath, _: &Self::Proto) -> Option<Self> {
        Some(Self)
    }

    fn to_proto(&self) -> Self::Proto {
        pb::GetWalletBalanceRequest {}
    }
}

/// A page of wallet history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWalletHistory {
    /// Only this currency's wallet, or all.
    pub currency: Option<Currency>,
    /// Entries per page, resolved: 0 on the wire becomes the default (OMPP-MSG-007).
    pub page_size: u32,
    /// Continuation token, empty for the first page.
    pub page_token: PageToken,
}

impl Request for ListWalletHistory {
    type Proto = pb::ListWalletHistoryRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let currency = v.check(
            path.child("currency"),
            optional(&p.currency, Currency::from_code),
        );
        // OMPP-MSG-007: 0 means the default page size; above the maximum is an error.
        let page_size = v.check(
            path.child("page_size"),
            match p.page_size {
                0 => Ok(DEFAULT_PAGE_SIZE),
                n if n <= MAX_PAGE_SIZE => Ok(n),
                n => Err(Violation::OutOfRange {
                    min: 0,
                    max: MAX_PAGE_SIZE.into(),
                    actual: n.into(),
                }),
            },
        );
        let page_token = v.check(path.child("page_token"), PageToken::parse(&p.page_token));
        Some(Self {
            currency: currency?,
            page_size: page_size?,
            page_token: page_token?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::ListWalletHistoryRequest {
            currency: self
                .currency
                .map(|c| c.code().to_owned())
                .unwrap_or_default(),
            page_size: self.page_size,
            page_token: self.page_token.to_string(),
        }
    }
}

/// Move value from the customer's bank account into a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpWallet {
    /// The amount; its currency selects the wallet.
    pub amount: Amount,
    /// The payment password.
    pub password: Password,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for TopUpWallet {
    type Proto = pb::TopUpWalletRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let password = v.check(path.child("password"), Password::parse(&p.password));
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            amount: amount?,
            password: password?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::TopUpWalletRequest {
            amount: Some(self.amount.to_proto()),
            password: self.password.expose().to_owned(),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}
