//! `RegistrationService` requests (network server).

use super::Request;
use super::common::{csr_der, currencies};
use crate::money::Currency;
use crate::proto::v1 as pb;
use crate::types::{
    BankAccountRef, CustomerId, DisplayName, EnrollmentToken, IdempotencyKey, Password, PhoneNumber,
};
use crate::validation::{FieldPath, Validator};

/// A merchant registration: enrollment token, name, CSR, settlement currencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMerchant {
    /// The single-use token from the operator.
    pub enrollment_token: EnrollmentToken,
    /// Name shown to customers.
    pub display_name: DisplayName,
    /// DER PKCS#10 request for the terminal's key.
    pub csr_der: Vec<u8>,
    /// Currencies to open settlement wallets in (at least one).
    pub settlement_currencies: Vec<Currency>,
    /// The merchant's bank account, for flow C.
    pub bank_account: Option<BankAccountRef>,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for RegisterMerchant {
    type Proto = pb::RegisterMerchantRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let enrollment_token = v.check(
            path.child("enrollment_token"),
            EnrollmentToken::parse(&p.enrollment_token),
        );
        let display_name = v.check(
            path.child("display_name"),
            DisplayName::parse(&p.display_name),
        );
        let csr = v.check(path.child("csr_der"), csr_der(&p.csr_der));
        let settlement_currencies = currencies(
            v,
            &path.child("settlement_currencies"),
            &p.settlement_currencies,
            1,
        );
        let bank_account = BankAccountRef::from_optional_proto(
            v,
            &path.child("bank_account"),
            p.bank_account.as_ref(),
        );
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            enrollment_token: enrollment_token?,
            display_name: display_name?,
            csr_der: csr?,
            settlement_currencies: settlement_currencies?,
            bank_account: bank_account?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::RegisterMerchantRequest {
            enrollment_token: self.enrollment_token.expose().to_owned(),
            display_name: self.display_name.to_string(),
            csr_der: self.csr_der.clone(),
            settlement_currencies: self
                .settlement_currencies
                .iter()
                .map(|c| c.code().to_owned())
                .collect(),
            bank_account: self.bank_account.as_ref().map(BankAccountRef::to_proto),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

/// A customer registration. At least one funding source: a wallet currency or a bank account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterCustomer {
    /// Name shown on receipts.
    pub display_name: DisplayName,
    /// Mobile number: online identity and SMS destination.
    pub phone_number: PhoneNumber,
    /// The payment password.
    pub password: Password,
    /// Currencies to open wallets in.
    pub wallet_currencies: Vec<Currency>,
    /// The customer's bank account.
    pub bank_account: Option<BankAccountRef>,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for RegisterCustomer {
    type Proto = pb::RegisterCustomerRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let display_name = v.check(
            path.child("display_name"),
            DisplayName::parse(&p.display_name),
        );
        let phone_number = v.check(
            path.child("phone_number"),
            PhoneNumber::parse(&p.phone_number),
        );
        let password = v.check(path.child("password"), Password::parse(&p.password));
        let wallet_currencies =
            currencies(v, &path.child("wallet_currencies"), &p.wallet_currencies, 0);
        let bank_account = BankAccountRef::from_optional_proto(
            v,
            &path.child("bank_account"),
            p.bank_account.as_ref(),
        );
        let funded = !(p.wallet_currencies.is_empty() && p.bank_account.is_none());
        if !funded {
            // A customer with no funding source could never pay.
            v.report(
                path.child("wallet_currencies"),
                crate::validation::Violation::Missing,
            );
        }
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        if !funded {
            return None;
        }
        Some(Self {
            display_name: display_name?,
            phone_number: phone_number?,
            password: password?,
            wallet_currencies: wallet_currencies?,
            bank_account: bank_account?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::RegisterCustomerRequest {
            display_name: self.display_name.to_string(),
            phone_number: self.phone_number.to_string(),
            password: self.password.expose().to_owned(),
            wallet_currencies: self
                .wallet_currencies
                .iter()
                .map(|c| c.code().to_owned())
                .collect(),
            bank_account: self.bank_account.as_ref().map(BankAccountRef::to_proto),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}

/// A device pairing: the customer's password proves ownership; the CSR gets the device
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairDevice {
    /// The customer to pair with.
    pub customer_id: CustomerId,
    /// The customer's payment password.
    pub password: Password,
    /// The device's name.
    pub device_name: DisplayName,
    /// DER PKCS#10 request for the device's key.
    pub csr_der: Vec<u8>,
    /// Retry key.
    pub idempotency_key: IdempotencyKey,
}

impl Request for PairDevice {
    type Proto = pb::PairDeviceRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let customer_id = v.check(path.child("customer_id"), CustomerId::parse(&p.customer_id));
        let password = v.check(path.child("password"), Password::parse(&p.password));
        let device_name = v.check(
            path.child("device_name"),
            DisplayName::parse(&p.device_name),
        );
        let csr = v.check(path.child("csr_der"), csr_der(&p.csr_der));
        let idempotency_key = v.check(
            path.child("idempotency_key"),
            IdempotencyKey::parse(&p.idempotency_key),
        );
        Some(Self {
            customer_id: customer_id?,
            password: password?,
            device_name: device_name?,
            csr_der: csr?,
            idempotency_key: idempotency_key?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::PairDeviceRequest {
            customer_id: self.customer_id.to_string(),
            password: self.password.expose().to_owned(),
            device_name: self.device_name.to_string(),
            csr_der: self.csr_der.clone(),
            idempotency_key: self.idempotency_key.to_string(),
        }
    }
}
