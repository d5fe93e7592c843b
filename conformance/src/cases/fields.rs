//! The message rules of chapter 02, table-driven: each row sends one request with one field
//! broken and expects `INVALID_FIELD` naming exactly that field (OMPP-MSG-001, OMPP-MSG-012),
//! under the requirement the row checks.

use std::future::Future;

use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{CURRENCY, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.msg.identifiers-text-and-keys",
            title: "malformed identifiers, text with control characters and missing or long idempotency keys fail with INVALID_FIELD naming the field",
            role: OC,
            profile: Some(ompp::conformance::Profile::FlowA),
            requirements: &["OMPP-MSG-002", "OMPP-MSG-005", "OMPP-IDEM-001"],
            run: body!(identifiers_text_and_keys),
        },
        Case {
            id: "oc.msg.money-and-durations",
            title: "unknown currencies, currencies without minor units, amounts not above zero and malformed durations fail with INVALID_FIELD naming the field",
            role: OC,
            profile: Some(ompp::conformance::Profile::FlowA),
            requirements: &["OMPP-MONEY-002", "OMPP-MONEY-003", "OMPP-MSG-014"],
            run: body!(money_and_durations),
        },
        Case {
            id: "oc.msg.registration-fields",
            title: "phone numbers not in E.164, malformed bank accounts and repeated currencies fail with INVALID_FIELD naming the field",
            role: OC,
            profile: Some(ompp::conformance::Profile::Registration),
            requirements: &[
                "OMPP-MSG-003",
                "OMPP-MSG-008",
                "OMPP-MSG-015",
                "OMPP-PWD-001",
                "OMPP-REG-005",
            ],
            run: body!(registration_fields),
        },
        Case {
            id: "oc.flow-b.issue-code-rules",
            title: "payee code validity defaults and bounds, currency and reference rules, and the merchant's currencies",
            role: OC,
            profile: Some(ompp::conformance::Profile::FlowB),
            requirements: &["OMPP-FLB-001", "OMPP-FLB-002", "OMPP-FLB-003"],
            run: body!(issue_code_rules),
        },
        Case {
            id: "oc.idem.failed-request-leaves-key-unbound",
            title: "a request that fails does not bind its idempotency key; the corrected request under the same key succeeds and binds it",
            role: OC,
            profile: Some(ompp::conformance::Profile::FlowA),
            requirements: &["OMPP-IDEM-006"],
            run: body!(failed_request_leaves_key_unbound),
        },
        Case {
            id: "oc.idem.scope-is-rpc-and-caller",
            title: "two devices may use the same key for their own top-ups; on RegistrationService the key is global to the RPC",
            role: OC,
            profile: Some(ompp::conformance::Profile::Registration),
            requirements: &["OMPP-IDEM-002"],
            run: body!(scope_is_rpc_and_caller),
        },
        Case {
            id: "oc.msg.paging-through-the-relay",
            title: "a page size above 100 fails with INVALID_FIELD naming page_size, as the device sent it (no relay prefix)",
            role: OC,
            profile: Some(ompp::conformance::Profile::FlowA),
            requirements: &["OMPP-MSG-007", "OMPP-MSG-013"],
            run: body!(paging_through_the_relay),
        },
    ]
}

/// Records that `call` failed with `INVALID_FIELD` naming `field`.
async fn expect_field<T: std::fmt::Debug>(
    checks: &Checks,
    requirement: &str,
    description: &str,
    field: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) {
    if let Some(error) = checks.reason(
        requirement,
        format!("{description}: INVALID_FIELD"),
        call.await,
        R::InvalidField,
    ) {
        checks.equal(
            requirement,
            format!("{description}: the field named"),
            Some(field),
            error.metadata.get("field").map(String::as_str),
        );
    }
}

async fn identifiers_text_and_keys(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let base = || create(target, &ana.customer_id, 100, &target.key("fields"));
    let rows: Vec<(&str, &str, &str, pb::CreatePaymentRequest)> = vec![
        (
            "OMPP-MSG-002",
            "a customer_id with a slash",
            "customer_id",
            pb::CreatePaymentRequest {
                customer_id: "C/1".into(),
                ..base()
            },
        ),
        (
            "OMPP-MSG-002",
            "a customer_id of 65 characters",
            "customer_id",
            pb::CreatePaymentRequest {
                customer_id: "C".repeat(65),
                ..base()
            },
        ),
        (
            "OMPP-MSG-005",
            "a merchant_reference with a control character",
            "merchant_reference",
            pb::CreatePaymentRequest {
                merchant_reference: "order\u{7}1".into(),
                ..base()
            },
        ),
        (
            "OMPP-IDEM-001",
            "no idempotency_key",
            "idempotency_key",
            pb::CreatePaymentRequest {
                idempotency_key: String::new(),
                ..base()
            },
        ),
        (
            "OMPP-IDEM-001",
            "an idempotency_key of 65 characters",
            "idempotency_key",
            pb::CreatePaymentRequest {
                idempotency_key: "k".repeat(65),
                ..base()
            },
        ),
    ];
    for (requirement, description, field, request) in rows {
        expect_field(
            checks,
            requirement,
            description,
            field,
            merchant.create_payment(request),
        )
        .await;
    }
    Ok(())
}

async fn money_and_durations(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let base = || create(target, &ana.customer_id, 100, &target.key("fields"));
    let with_money = |currency: &str, minor_units: i64| pb::CreatePaymentRequest {
        amount: Some(pb::Money {
            currency: currency.into(),
            minor_units,
        }),
        ..base()
    };
    let with_expiry = |seconds: i64, nanos: i32| pb::CreatePaymentRequest {
        expires_in: Some(prost_types::Duration { seconds, nanos }),
        ..base()
    };
    let rows: Vec<(&str, &str, &str, pb::CreatePaymentRequest)> = vec![
        (
            "OMPP-MONEY-002",
            "a currency that is not ISO 4217",
            "amount.currency",
            with_money("EUX", 100),
        ),
        (
            "OMPP-MONEY-002",
            "a lower-case currency code",
            "amount.currency",
            with_money("eur", 100),
        ),
        (
            "OMPP-MONEY-002",
            "a currency without minor units (gold)",
            "amount.currency",
            with_money("XAU", 100),
        ),
        (
            "OMPP-MONEY-003",
            "an amount of zero",
            "amount.minor_units",
            with_money(CURRENCY, 0),
        ),
        (
            "OMPP-MONEY-003",
            "a negative amount",
            "amount.minor_units",
            with_money(CURRENCY, -100),
        ),
        (
            "OMPP-MSG-014",
            "an expiry with nanoseconds",
            "expires_in.nanos",
            with_expiry(120, 5),
        ),
        (
            "OMPP-MSG-014",
            "a negative expiry",
            "expires_in.seconds",
            with_expiry(-120, 0),
        ),
        (
            "OMPP-MSG-014",
            "an expiry above its bound",
            "expires_in.seconds",
            with_expiry(100_000, 0),
        ),
    ];
    for (requirement, description, field, request) in rows {
        expect_field(
            checks,
            requirement,
            description,
            field,
            merchant.create_payment(request),
        )
        .await;
    }
    Ok(())
}

async fn registration_fields(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut registration = target.registration(checks).await?;
    let base = || pb::RegisterCustomerRequest {
        display_name: "Conformance Customer".into(),
        phone_number: target.phone(),
        password: PASSWORD.into(),
        wallet_currencies: vec![CURRENCY.into()],
        bank_account: None,
        idempotency_key: target.key("fields"),
    };
    let rows: Vec<(&str, &str, &str, pb::RegisterCustomerRequest)> = vec![
        (
            "OMPP-MSG-003",
            "a phone number without +",
            "phone_number",
            pb::RegisterCustomerRequest {
                phone_number: "0049151234567".into(),
                ..base()
            },
        ),
        (
            "OMPP-MSG-003",
            "a phone number with a space",
            "phone_number",
            pb::RegisterCustomerRequest {
                phone_number: "+49 151 234567".into(),
                ..base()
            },
        ),
        (
            "OMPP-MSG-008",
            "a bank_id in lower case",
            "bank_account.bank_id",
            pb::RegisterCustomerRequest {
                bank_account: Some(pb::BankAccountRef {
                    bank_id: "bank1".into(),
                    account_number: "DE0001".into(),
                }),
                ..base()
            },
        ),
        (
            "OMPP-MSG-008",
            "an account number of 35 characters",
            "bank_account.account_number",
            pb::RegisterCustomerRequest {
                bank_account: Some(pb::BankAccountRef {
                    bank_id: "BANK1".into(),
                    account_number: "A".repeat(35),
                }),
                ..base()
            },
        ),
        (
            "OMPP-PWD-001",
            "a password of 7 characters",
            "password",
            pb::RegisterCustomerRequest {
                password: "seven77".into(),
                ..base()
            },
        ),
        (
            "OMPP-PWD-001",
            "a password of 129 characters",
            "password",
            pb::RegisterCustomerRequest {
                password: "p".repeat(129),
                ..base()
            },
        ),
        (
            "OMPP-REG-005",
            "a display name with a control character",
            "display_name",
            pb::RegisterCustomerRequest {
                display_name: "Ana\u{1b}[31m".into(),
                ..base()
            },
        ),
        (
            "OMPP-MSG-015",
            "the same wallet currency twice",
            "wallet_currencies[1]",
            pb::RegisterCustomerRequest {
                wallet_currencies: vec![CURRENCY.into(), CURRENCY.into()],
                ..base()
            },
        ),
    ];
    for (requirement, description, field, request) in rows {
        expect_field(
            checks,
            requirement,
            description,
            field,
            registration.register_customer(request),
        )
        .await;
    }
    Ok(())
}

async fn paging_through_the_relay(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 500).await?;
    let too_big = ana
        .device
        .list_wallet_history(pb::ListWalletHistoryRequest {
            currency: CURRENCY.into(),
            page_size: 101,
            page_token: String::new(),
        })
        .await;
    if let Some(error) = checks.reason(
        "OMPP-MSG-007",
        "a page size of 101: INVALID_FIELD",
        too_big,
        R::InvalidField,
    ) {
        checks.equal(
            "OMPP-MSG-013",
            "the field path is the device's own (page_size, not request.page_size)",
            Some("page_size"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    let default = checks.succeeds(
        "OMPP-MSG-007",
        "a page size of 0 means the default",
        ana.device
            .list_wallet_history(pb::ListWalletHistoryRequest {
                currency: CURRENCY.into(),
                page_size: 0,
                page_token: String::new(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-MSG-007",
        "the one top-up is listed",
        vec![Some(money(500))],
        default.entries.iter().map(|e| e.delta.clone()).collect(),
    );
    Ok(())
}

async fn failed_request_leaves_key_unbound(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let key = target.key("unbound");
    let unknown = merchant
        .create_payment(create(target, "C-not-registered-here", 100, &key))
        .await;
    checks.reason(
        "OMPP-IDEM-006",
        "a payment for an unknown customer fails",
        unknown,
        R::UnknownCustomer,
    );
    let first = checks.succeeds(
        "OMPP-IDEM-006",
        "the corrected request under the same key succeeds",
        merchant
            .create_payment(create(target, &ana.customer_id, 100, &key))
            .await,
    )?;
    let again = checks.succeeds(
        "OMPP-IDEM-006",
        "its retry succeeds",
        merchant
            .create_payment(create(target, &ana.customer_id, 100, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-006",
        "the key is now bound to the corrected request's payment",
        first.payment.map(|p| p.payment_id),
        again.payment.map(|p| p.payment_id),
    );
    Ok(())
}

async fn scope_is_rpc_and_caller(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let mut ben = target.customer(checks, 0).await?;
    let key = target.key("scope");
    for (name, customer, cents) in [
        ("the first device", &mut ana, 100),
        ("the second device", &mut ben, 200),
    ] {
        checks.succeeds(
            "OMPP-IDEM-002",
            format!("{name} tops up under the shared key"),
            customer
                .device
                .top_up_wallet(pb::TopUpWalletRequest {
                    amount: Some(money(cents)),
                    password: PASSWORD.into(),
                    idempotency_key: key.clone(),
                })
                .await,
        )?;
    }
    let balances = (ana.balance(checks).await?, ben.balance(checks).await?);
    checks.equal(
        "OMPP-IDEM-002",
        "each device's top-up was applied to its own wallet",
        (100, 200),
        balances,
    );
    let mut registration = target.registration(checks).await?;
    let request = |phone: String| pb::RegisterCustomerRequest {
        display_name: "Conformance Customer".into(),
        phone_number: phone,
        password: PASSWORD.into(),
        wallet_currencies: vec![CURRENCY.into()],
        bank_account: None,
        idempotency_key: key.clone(),
    };
    checks.succeeds(
        "OMPP-IDEM-002",
        "RegisterCustomer under the key",
        registration
            .register_customer(request(target.phone()))
            .await,
    )?;
    let other = registration
        .register_customer(request(target.phone()))
        .await;
    checks.reason(
        "OMPP-IDEM-002",
        "another RegisterCustomer under the same key, from anyone, is a conflict",
        other,
        R::IdempotencyConflict,
    );
    Ok(())
}

async fn issue_code_rules(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut merchant = target.merchant(checks).await?;
    let dynamic = |cents: i64| pb::IssuePayeeCodeRequest {
        merchant_id: target.merchant_id.clone(),
        amount: Some(money(cents)),
        currency: String::new(),
        merchant_reference: "rules".into(),
        expires_in: None,
        idempotency_key: target.key("code-rules"),
    };
    let fixed = || pb::IssuePayeeCodeRequest {
        amount: None,
        currency: CURRENCY.into(),
        ..dynamic(100)
    };
    let secs = |seconds: i64| Some(prost_types::Duration { seconds, nanos: 0 });
    let rows: Vec<(&str, &str, &str, pb::IssuePayeeCodeRequest)> = vec![
        (
            "OMPP-FLB-001",
            "a dynamic code valid for more than a day",
            "expires_in.seconds",
            pb::IssuePayeeCodeRequest {
                expires_in: secs(86_401),
                ..dynamic(100)
            },
        ),
        (
            "OMPP-FLB-001",
            "a static code valid for less than an hour",
            "expires_in.seconds",
            pb::IssuePayeeCodeRequest {
                expires_in: secs(3_599),
                ..fixed()
            },
        ),
        (
            "OMPP-FLB-002",
            "a static code without a currency",
            "currency",
            pb::IssuePayeeCodeRequest {
                currency: String::new(),
                ..fixed()
            },
        ),
        (
            "OMPP-FLB-002",
            "a dynamic code whose currency differs from its amount's",
            "currency",
            pb::IssuePayeeCodeRequest {
                currency: "USD".into(),
                ..dynamic(100)
            },
        ),
        (
            "OMPP-FLB-002",
            "a reference of 26 characters",
            "merchant_reference",
            pb::IssuePayeeCodeRequest {
                merchant_reference: "r".repeat(26),
                ..dynamic(100)
            },
        ),
        (
            "OMPP-FLB-002",
            "a reference outside the EMVCo ans set",
            "merchant_reference",
            pb::IssuePayeeCodeRequest {
                merchant_reference: "caf\u{e9}".into(),
                ..dynamic(100)
            },
        ),
    ];
    for (requirement, description, field, request) in rows {
        expect_field(
            checks,
            requirement,
            description,
            field,
            merchant.issue_payee_code(request),
        )
        .await;
    }
    // Defaults: 300 s for a dynamic code, 30 days for a static one (whole seconds).
    for (request, seconds, kind) in [
        (dynamic(100), 300, "dynamic"),
        (fixed(), 2_592_000, "static"),
    ] {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let issued = checks.succeeds(
            "OMPP-FLB-001",
            format!("a {kind} code without expires_in is issued"),
            merchant.issue_payee_code(request).await,
        )?;
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expires = issued
            .expires_at
            .map_or(0, |t| u64::try_from(t.seconds).unwrap_or(0));
        checks.record(
            "OMPP-FLB-001",
            format!("a {kind} code without expires_in is valid for {seconds} s"),
            format!(
                "expires_at within [{}, {}]",
                before + seconds - 1,
                after + seconds + 1
            ),
            format!("expires_at {expires}"),
            (before + seconds - 1..=after + seconds + 1).contains(&expires),
        );
    }
    let foreign = merchant
        .issue_payee_code(pb::IssuePayeeCodeRequest {
            currency: "JPY".into(),
            ..fixed()
        })
        .await;
    checks.reason(
        "OMPP-FLB-003",
        "a static code in a currency the merchant has no wallet in fails with CURRENCY_MISMATCH",
        foreign,
        R::CurrencyMismatch,
    );
    let huge = merchant.issue_payee_code(dynamic(10_000_000_000_000)).await;
    checks.reason(
        "OMPP-FLB-003",
        "a dynamic amount that does not fit tag 54 fails with AMOUNT_LIMIT_EXCEEDED",
        huge,
        R::AmountLimitExceeded,
    );
    Ok(())
}
