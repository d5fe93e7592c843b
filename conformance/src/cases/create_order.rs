//! The order in which `CreatePayment` checks a request (OMPP-FLA-003), and with it the general
//! order of chapter 08 (OMPP-ERR-008): each request breaks two rules, and the earlier one
//! decides the error.

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::Target;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-a.create-payment-check-order",
            title: "CreatePayment breaking two rules fails for the first in the order identity, fields, key, customer, currency, paired device",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-003", "OMPP-ERR-008"],
            run: body!(create_payment_check_order),
        },
        Case {
            id: "oc.err.merchant-rpcs-check-order",
            title: "the other MerchantPaymentService RPCs bind the identity before the fields, and check the fields before the object",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-ERR-008"],
            run: body!(merchant_rpcs_check_order),
        },
        Case {
            id: "oc.err.device-rpcs-check-order",
            title: "ConfirmPayment breaking several rules fails for the first in the order fields, payment, payment status, amount, password",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-ERR-008"],
            run: body!(device_rpcs_check_order),
        },
    ]
}

async fn create_payment_check_order(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    // A customer with a EUR wallet and no paired device.
    let (bare, _) = target.register(checks, true, None).await?;
    let mut merchant = target.merchant(checks).await?;
    let stranger = target.key("nocust");
    let usd = pb::Money {
        currency: "USD".into(),
        minor_units: 100,
    };

    let mut request = create(target, &ana.customer_id, 0, &target.key("order"));
    request.merchant_id = format!("{}X", target.merchant_id);
    checks.reason(
        "OMPP-FLA-003",
        "another merchant's id and amount 0 (the identity before the fields)",
        merchant.create_payment(request).await,
        R::IdentityMismatch,
    );
    let mut request = create(target, &stranger, 100, &target.key("order"));
    request.merchant_id = format!(" {}", target.merchant_id);
    checks.reason(
        "OMPP-ERR-008",
        "a malformed merchant id and an unknown customer (the identity binding before everything else)",
        merchant.create_payment(request).await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-FLA-003",
        "amount 0 for an unknown customer (the fields before the customer)",
        merchant
            .create_payment(create(target, &stranger, 0, &target.key("order")))
            .await,
        R::InvalidField,
    );
    let key = target.key("order");
    checks.setup_call(
        "CreatePayment",
        merchant
            .create_payment(create(target, &ana.customer_id, 100, &key))
            .await,
    )?;
    checks.reason(
        "OMPP-FLA-003",
        "the bound key with other content naming an unknown customer (the key before the customer)",
        merchant
            .create_payment(create(target, &stranger, 100, &key))
            .await,
        R::IdempotencyConflict,
    );
    let mut request = create(target, &stranger, 100, &target.key("order"));
    request.amount = Some(usd.clone());
    checks.reason(
        "OMPP-FLA-003",
        "an unknown customer in USD (the customer before the currency)",
        merchant.create_payment(request).await,
        R::UnknownCustomer,
    );
    let mut request = create(target, &bare, 100, &target.key("order"));
    request.amount = Some(usd);
    checks.reason(
        "OMPP-FLA-003",
        "a customer without a paired device, in USD (the currency before the device)",
        merchant.create_payment(request).await,
        R::CurrencyMismatch,
    );
    checks.reason(
        "OMPP-FLA-003",
        "a customer without a paired device, in EUR",
        merchant
            .create_payment(create(target, &bare, 100, &target.key("order")))
            .await,
        R::DeviceNotPaired,
    );
    Ok(())
}

async fn merchant_rpcs_check_order(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut merchant = target.merchant(checks).await?;
    let other = format!("{}X", target.merchant_id);
    let malformed = " not an id".to_owned();
    checks.reason(
        "OMPP-ERR-008",
        "GetPayment naming another merchant and a malformed payment id",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: other.clone(),
                payment_id: malformed.clone(),
            })
            .await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-ERR-008",
        "CancelPayment naming another merchant and a malformed payment id",
        merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: other.clone(),
                payment_id: malformed.clone(),
            })
            .await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-ERR-008",
        "GetReceipt naming another merchant and a malformed payment id",
        merchant
            .get_receipt(pb::GetReceiptRequest {
                merchant_id: other.clone(),
                payment_id: malformed.clone(),
            })
            .await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-ERR-008",
        "IssuePayeeCode naming another merchant with a currency that is no ISO 4217 code",
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: other.clone(),
                amount: None,
                currency: "XXQ".into(),
                merchant_reference: String::new(),
                expires_in: None,
                idempotency_key: target.key("order"),
            })
            .await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-ERR-008",
        "GetMerchantBalance naming a malformed merchant id",
        merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: malformed.clone(),
            })
            .await,
        R::IdentityMismatch,
    );
    checks.reason(
        "OMPP-ERR-008",
        "GetPayment of the suite's merchant with a malformed payment id (the fields before the object)",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: malformed,
            })
            .await,
        R::InvalidField,
    );
    Ok(())
}

async fn device_rpcs_check_order(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let mut merchant = target.merchant(checks).await?;
    let wrong = "not the password 1".to_owned();
    let confirm = |payment_id: &str, cents: i64| pb::ConfirmPaymentRequest {
        payment_id: payment_id.into(),
        amount: Some(crate::target::money(cents)),
        password: wrong.clone(),
    };
    checks.reason(
        "OMPP-ERR-008",
        "a malformed payment id, amount 0 and a wrong password (the fields first)",
        ana.device.confirm_payment(confirm(" not an id", 0)).await,
        R::InvalidField,
    );
    checks.reason(
        "OMPP-ERR-008",
        "an unknown payment with a wrong password (the object before the password)",
        ana.device
            .confirm_payment(confirm(&target.key("nopay"), 100))
            .await,
        R::NotFound,
    );
    let declined = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, 100, &target.key("order")))
                .await,
        )?
        .payment
        .unwrap_or_default()
        .payment_id;
    checks.setup_call(
        "DeclinePayment",
        ana.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: declined.clone(),
            })
            .await,
    )?;
    checks.reason(
        "OMPP-ERR-008",
        "a declined payment with another amount and a wrong password (the status before the amount)",
        ana.device.confirm_payment(confirm(&declined, 101)).await,
        R::DeclinedByCustomer,
    );
    let pending = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, 100, &target.key("order")))
                .await,
        )?
        .payment
        .unwrap_or_default()
        .payment_id;
    checks.reason(
        "OMPP-ERR-008",
        "a pending payment with another amount and a wrong password (the amount before the password)",
        ana.device.confirm_payment(confirm(&pending, 101)).await,
        R::AmountMismatch,
    );
    Ok(())
}
