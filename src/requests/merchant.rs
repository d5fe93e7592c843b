//! `MerchantPaymentService` requests (network server, merchant side of flows A, B, C).

use std::time::Duration;

use super::Request;
use super::common::{LineItem, line_items};
use crate::limits::{CHECKOUT_EXPIRY, DYNAMIC_CODE_VALIDITY, PAYMENT_EXPIRY, STATIC_CODE_VALIDITY};
use crate::money::{Amount, Currency};
use crate::proto::v1 as pb;
use crate::types::{
    CheckoutReference, CustomerId, IdempotencyKey, MerchantId, MerchantReference,
    PayeeCodeReference, PaymentId, bounded_duration, duration_to_proto,
};
use crate::validation::{FieldPath, Validator, Violation};

/// Flow A: collect `amount` from `customer_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayment {
    /// The requesting merchant (checked against the certificate by the server).
    pub merchant_id: MerchantId,
    /// The customer to collect from.
    pub customer_id: CustomerId,
    /// The amount, greater than zero.
    pub amount: Amount,
    /// What is sold.
    pub items: Vec<LineItem>,
    /// The merchant's reference.
    pub merchant_reference: MerchantReference,
    /// How long the customer has; the default when the request leaves it out (OMPP-FLA-001).
    pub expires_in: Duration,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for CreatePayment {
    type Proto = pb::CreatePaymentRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id));
        let customer_id = v.check(path.child("customer_id"), CustomerId::parse(&p.customer_id));
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let items = line_items(v, &path.child("items"), &p.items);
        let merchant_reference = v.check(
            path.child("merchant_reference"),
            MerchantReference::parse(&p.merchant_reference),
        );
        // OMPP-FLA-001: expiry within the spec bounds, default when absent.
        let expires_in = bounded_duration(
            v,
            &path.child("expires_in"),
            p.expires_in.as_ref(),
            PAYMENT_EXPIRY,
        );
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            merchant_id: merchant_id?,
            customer_id: customer_id?,
            amount: amount?,
            items: items?,
            merchant_reference: merchant_reference?,
            expires_in: expires_in?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::CreatePaymentRequest {
            merchant_id: self.merchant_id.to_string(),
            customer_id: self.customer_id.to_string(),
            amount: Some(self.amount.to_proto()),
            items: self.items.iter().map(LineItem::to_proto).collect(),
            merchant_reference: self.merchant_reference.to_string(),
            expires_in: Some(duration_to_proto(self.expires_in)),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

macro_rules! merchant_payment_ref {
    ($(#[$meta:meta])* $name:ident, $proto:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The requesting merchant (checked against the certificate by the server).
            pub merchant_id: MerchantId,
            /// The payment.
            pub payment_id: PaymentId,
        }

        impl Request for $name {
            type Proto = pb::$proto;

            fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
                let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id));
                let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id));
                Some(Self {
                    merchant_id: merchant_id?,
                    payment_id: payment_id?,
                })
            }

            fn to_proto(&self) -> Self::Proto {
                pb::$proto {
                    merchant_id: self.merchant_id.to_string(),
                    payment_id: self.payment_id.to_string(),
                }
            }
        }
    };
}

merchant_payment_ref!(
    /// Report one payment.
    GetPayment,
    GetPaymentRequest
);
merchant_payment_ref!(
    /// Stream one payment's changes.
    WatchPayment,
    WatchPaymentRequest
);
merchant_payment_ref!(
    /// Cancel a payment that is not yet confirmed.
    CancelPayment,
    CancelPaymentRequest
);
merchant_payment_ref!(
    /// The receipt of a settled payment.
    GetReceipt,
    GetReceiptRequest
);

/// What a payee code carries: an amount (dynamic, single use) or only a currency (static).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayeeCodeKind {
    /// Reusable until it expires; the payer enters the amount.
    Static {
        /// The code's currency.
        currency: Currency,
    },
    /// Single use, for exactly this amount.
    Dynamic {
        /// The amount to pay.
        amount: Amount,
    },
}

/// Flow B: issue a payee code for the merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePayeeCode {
    /// The payee merchant.
    pub merchant_id: MerchantId,
    /// Static or dynamic.
    pub kind: PayeeCodeKind,
    /// Reference carried in the code.
    pub merchant_reference: PayeeCodeReference,
    /// Validity; the kind's default when absent (OMPP-FLB-001).
    pub expires_in: Duration,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for IssuePayeeCode {
    type Proto = pb::IssuePayeeCodeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id));
        let amount = Amount::from_optional_proto(v, &path.child("amount"), p.amount.as_ref());
        let kind = match (amount, p.currency.as_str()) {
            (None, _) => None,
            (Some(None), code) => v
                .check(path.child("currency"), Currency::from_code(code))
                .map(|currency| PayeeCodeKind::Static { currency }),
            (Some(Some(amount)), "") => Some(PayeeCodeKind::Dynamic { amount }),
            (Some(Some(amount)), code) => {
                // A dynamic code takes its currency from the amount; a second, different one is
                // a contradiction (OMPP-MONEY-005).
                let same = Currency::from_code(code).and_then(|currency| {
                    if currency == amount.currency() {
                        Ok(())
                    } else {
                        Err(Violation::CurrencyMismatch {
                            expected: amount.currency().code().to_owned(),
                            actual: code.to_owned(),
                        })
                    }
                });
                v.check(path.child("currency"), same)
                    .map(|()| PayeeCodeKind::Dynamic { amount })
            }
        };
        let merchant_reference = v.check(
            path.child("merchant_reference"),
            PayeeCodeReference::parse(&p.merchant_reference),
        );
        // OMPP-FLB-001: validity bounds depend on the kind.
        let bounds = match kind {
            Some(PayeeCodeKind::Static { .. }) => STATIC_CODE_VALIDITY,
            _ => DYNAMIC_CODE_VALIDITY,
        };
        let expires_in =
            bounded_duration(v, &path.child("expires_in"), p.expires_in.as_ref(), bounds);
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            merchant_id: merchant_id?,
            kind: kind?,
            merchant_reference: merchant_reference?,
            expires_in: expires_in?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        let (amount, currency) = match self.kind {
            PayeeCodeKind::Static { currency } => (None, currency.code().to_owned()),
            PayeeCodeKind::Dynamic { amount } => (Some(amount.to_proto()), String::new()),
        };
        pb::IssuePayeeCodeRequest {
            merchant_id: self.merchant_id.to_string(),
            amount,
            currency,
            merchant_reference: self.merchant_reference.to_string(),
            expires_in: Some(duration_to_proto(self.expires_in)),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

/// Flow C: open an online checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCheckout {
    /// The payee merchant.
    pub merchant_id: MerchantId,
    /// The amount to charge.
    pub amount: Amount,
    /// The order reference shown on the page.
    pub merchant_reference: CheckoutReference,
    /// What is sold.
    pub items: Vec<LineItem>,
    /// How long the customer has (OMPP-FLC-001).
    pub expires_in: Duration,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for OpenCheckout {
    type Proto = pb::OpenCheckoutRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id));
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let merchant_reference = v.check(
            path.child("merchant_reference"),
            CheckoutReference::parse(&p.merchant_reference),
        );
        let items = line_items(v, &path.child("items"), &p.items);
        // OMPP-FLC-001: checkout lifetime within the spec bounds.
        let expires_in = bounded_duration(
            v,
            &path.child("expires_in"),
            p.expires_in.as_ref(),
            CHECKOUT_EXPIRY,
        );
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            merchant_id: merchant_id?,
            amount: amount?,
            merchant_reference: merchant_reference?,
            items: items?,
            expires_in: expires_in?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::OpenCheckoutRequest {
            merchant_id: self.merchant_id.to_string(),
            amount: Some(self.amount.to_proto()),
            merchant_reference: self.merchant_reference.to_string(),
            items: self.items.iter().map(LineItem::to_proto).collect(),
            expires_in: Some(duration_to_proto(self.expires_in)),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

/// The merchant's wallet balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMerchantBalance {
    /// The requesting merchant.
    pub merchant_id: MerchantId,
}

impl Request for GetMerchantBalance {
    type Proto = pb::GetMerchantBalanceRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id))?;
        Some(Self { merchant_id })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::GetMerchantBalanceRequest {
            merchant_id: self.merchant_id.to_string(),
        }
    }
}
