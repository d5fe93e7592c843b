//! Money and the ledger seen from outside: amounts come back unit for unit, currencies never
//! mix, a payment books both its legs, booked history is never rewritten, and idempotency keys
//! hold under retries with other passwords, unknown fields, concurrency and time.

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::merchant_payment_service_client::MerchantPaymentServiceClient;
use pb::subscribe_response::Event;
use tonic::transport::Channel;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{CURRENCY, Credential, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.money.amounts-unit-for-unit",
            title: "an amount of 2^53 + 1 minor units (not a float) comes back unit for unit in the payment, the push and a top-up",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-MONEY-001"],
            run: body!(amounts_unit_for_unit),
        },
        Case {
            id: "oc.money.currency-mismatch",
            title: "a payment or a top-up in a currency the customer has no wallet in, and a static code paid in another currency, fail with CURRENCY_MISMATCH",
            role: OC,
            profile: None,
            requirements: &["OMPP-MONEY-005"],
            run: body!(currency_mismatch),
        },
        Case {
            id: "oc.ledger.both-legs-and-conservation",
            title: "with a merchant of its own, a flow A payment debits the wallet and credits the settlement wallet by the same amount; a top-up adds exactly its amount",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-LEDGER-004", "OMPP-LEDGER-006"],
            run: body!(both_legs_and_conservation),
        },
        Case {
            id: "oc.ledger.history-never-rewritten",
            title: "wallet entries listed once are listed unchanged after later payments and top-ups",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-LEDGER-007"],
            run: body!(history_never_rewritten),
        },
        Case {
            id: "oc.idem.same-content-and-lifetime",
            title: "a retry with another password or an unknown field is the same request; an explicit default is not; a key still answers after its payment settled",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-IDEM-005", "OMPP-IDEM-007"],
            run: body!(same_content_and_lifetime),
        },
        Case {
            id: "oc.idem.concurrent-same-key",
            title: "the same top-up, payment request and code payment sent six times at once under one key take effect once",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-IDEM-008"],
            run: body!(concurrent_same_key),
        },
    ]
}

/// 2^53 + 1: the smallest positive integer a 64-bit float cannot hold.
const NOT_A_FLOAT: i64 = 9_007_199_254_740_993;

async fn amounts_unit_for_unit(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let mut stream = checks.setup_call(
        "Subscribe",
        ana.device.subscribe(pb::SubscribeRequest::default()).await,
    )?;
    let mut merchant = target.merchant(checks).await?;
    let created = checks.succeeds(
        "OMPP-MONEY-001",
        "CreatePayment for 2^53 + 1 minor units succeeds",
        merchant
            .create_payment(create(
                target,
                &ana.customer_id,
                NOT_A_FLOAT,
                &target.key("big"),
            ))
            .await,
    )?;
    let payment = created.payment.unwrap_or_default();
    checks.equal(
        "OMPP-MONEY-001",
        "the created payment's amount",
        Some(money(NOT_A_FLOAT)),
        payment.amount.clone(),
    );
    let got = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-MONEY-001",
        "GetPayment's amount",
        Some(money(NOT_A_FLOAT)),
        got.payment.and_then(|p| p.amount),
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let pushed = loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(pb::SubscribeResponse {
                event: Some(Event::PaymentRequest(r)),
            }))) if r.payment_id == payment.payment_id => break r.amount,
            Ok(Ok(Some(_))) => {}
            _ => break None,
        }
    };
    checks.equal(
        "OMPP-MONEY-001",
        "the amount pushed to the device",
        Some(money(NOT_A_FLOAT)),
        pushed,
    );
    checks.setup_call(
        "DeclinePayment",
        ana.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    let topped = checks.succeeds(
        "OMPP-MONEY-001",
        "TopUpWallet of 2^53 + 1 minor units succeeds",
        ana.device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(NOT_A_FLOAT)),
                password: PASSWORD.into(),
                idempotency_key: target.key("big"),
            })
            .await,
    )?;
    let entry = topped.entry.unwrap_or_default();
    checks.equal(
        "OMPP-MONEY-001",
        "the top-up entry's delta and balance after",
        (Some(money(NOT_A_FLOAT)), Some(money(NOT_A_FLOAT))),
        (entry.delta, entry.balance_after),
    );
    let balance = ana.balance(checks).await?;
    checks.equal("OMPP-MONEY-001", "GetWalletBalance", NOT_A_FLOAT, balance);
    Ok(())
}

async fn currency_mismatch(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let mut merchant = target.merchant(checks).await?;
    let mut request = create(target, &ana.customer_id, 300, &target.key("usd"));
    request.amount = Some(pb::Money {
        currency: "USD".into(),
        minor_units: 300,
    });
    checks.reason(
        "OMPP-MONEY-005",
        "CreatePayment in USD for a customer with a EUR wallet only",
        merchant.create_payment(request).await,
        R::CurrencyMismatch,
    );
    let code = checks.setup_call(
        "IssuePayeeCode (static, EUR)",
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: "currency".into(),
                expires_in: None,
                idempotency_key: target.key("usd"),
            })
            .await,
    )?;
    checks.reason(
        "OMPP-MONEY-005",
        "SubmitPayeeCode paying a EUR static code with 300 USD",
        ana.device
            .submit_payee_code(pb::SubmitPayeeCodeRequest {
                payload: code.payload.clone(),
                amount: Some(pb::Money {
                    currency: "USD".into(),
                    minor_units: 300,
                }),
                password: PASSWORD.into(),
                idempotency_key: target.key("usd"),
            })
            .await,
        R::CurrencyMismatch,
    );
    checks.reason(
        "OMPP-MONEY-005",
        "TopUpWallet of 300 USD into a customer with a EUR wallet only",
        ana.device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(pb::Money {
                    currency: "USD".into(),
                    minor_units: 300,
                }),
                password: PASSWORD.into(),
                idempotency_key: target.key("usd"),
            })
            .await,
        R::CurrencyMismatch,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-MONEY-005",
        "nothing moved: the EUR wallet is unchanged",
        1_000,
        balance,
    );
    Ok(())
}

/// A merchant the case registers for itself (an enrollment token of the manifest), so that
/// its settlement wallet moves only with this case's payments.
async fn own_merchant(
    target: &Target,
    checks: &Checks,
) -> Result<(String, MerchantPaymentServiceClient<Channel>), Abort> {
    let token = target.enrollment_token(checks)?;
    let csr = checks.setup(
        "generate a merchant key and CSR",
        ompp_server::pki::generate_csr("merchant"),
    )?;
    let mut registration = target.registration(checks).await?;
    let registered = checks.setup_call(
        "RegisterMerchant",
        registration
            .register_merchant(pb::RegisterMerchantRequest {
                enrollment_token: token,
                display_name: "Conformance Ledger".into(),
                csr_der: csr.csr_der,
                settlement_currencies: vec![CURRENCY.into()],
                bank_account: None,
                idempotency_key: target.key("ledger-merchant"),
            })
            .await,
    )?;
    let credential = Credential {
        cert_pem: ompp_server::pki::cert_der_to_pem(&registered.certificate_der),
        key_pem: csr.key_pem,
    };
    let channel = checks.setup(
        "connect with the new merchant certificate",
        target.channel(&target.network_url, Some(&credential)).await,
    )?;
    Ok((
        registered.merchant_id,
        MerchantPaymentServiceClient::new(channel),
    ))
}

async fn settlement_balance(
    checks: &Checks,
    merchant: &mut MerchantPaymentServiceClient<Channel>,
    merchant_id: &str,
) -> Result<i64, Abort> {
    let balance = checks.setup_call(
        "GetMerchantBalance",
        merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: merchant_id.into(),
            })
            .await,
    )?;
    Ok(balance
        .balances
        .iter()
        .find(|m| m.currency == CURRENCY)
        .map_or(0, |m| m.minor_units))
}

async fn both_legs_and_conservation(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let (merchant_id, mut merchant) = own_merchant(target, checks).await?;
    let mut ana = target.customer(checks, 0).await?;
    let before = ana.balance(checks).await?;
    checks.setup_call(
        "TopUpWallet",
        ana.device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(2_345)),
                password: PASSWORD.into(),
                idempotency_key: target.key("ledger"),
            })
            .await,
    )?;
    let after_top_up = ana.balance(checks).await?;
    let settlement_before = settlement_balance(checks, &mut merchant, &merchant_id).await?;
    checks.equal(
        "OMPP-LEDGER-006",
        "the top-up raised the wallets by exactly its amount (the merchant's settlement wallet untouched)",
        (before + 2_345, 0),
        (after_top_up, settlement_before),
    );
    let mut request = create(target, &ana.customer_id, 1_111, &target.key("ledger"));
    request.merchant_id = merchant_id.clone();
    let payment = checks
        .setup_call("CreatePayment", merchant.create_payment(request).await)?
        .payment
        .unwrap_or_default();
    checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment.payment_id.clone(),
                amount: Some(money(1_111)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let wallet = ana.balance(checks).await?;
    let settlement = settlement_balance(checks, &mut merchant, &merchant_id).await?;
    checks.equal(
        "OMPP-LEDGER-004",
        "the payment booked both legs: the wallet debited and the settlement wallet credited by the amount",
        (after_top_up - 1_111, settlement_before + 1_111),
        (wallet, settlement),
    );
    checks.equal(
        "OMPP-LEDGER-006",
        "the payment left the sum of the two balances unchanged",
        after_top_up + settlement_before,
        wallet + settlement,
    );
    Ok(())
}

/// The customer's whole history, newest first, without transcript steps per page.
async fn history(
    device: &mut pb::device_service_client::DeviceServiceClient<Channel>,
    checks: &Checks,
) -> Result<Vec<pb::WalletEntry>, Abort> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    for _ in 0..20 {
        let page = checks.setup_call(
            "ListWalletHistory",
            device
                .list_wallet_history(pb::ListWalletHistoryRequest {
                    currency: String::new(),
                    page_size: 100,
                    page_token: page_token.clone(),
                })
                .await,
        )?;
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(entries)
}

/// A flow A payment of `cents` the customer confirms; setup steps only.
async fn pay(
    target: &Target,
    checks: &Checks,
    merchant: &mut MerchantPaymentServiceClient<Channel>,
    ana: &mut crate::target::Customer,
    cents: i64,
) -> Result<(), Abort> {
    let payment = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, cents, &target.key("hist")))
                .await,
        )?
        .payment
        .unwrap_or_default();
    checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment.payment_id,
                amount: Some(money(cents)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    Ok(())
}

async fn history_never_rewritten(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 3_000).await?;
    let mut merchant = target.merchant(checks).await?;
    for cents in [400, 250] {
        pay(target, checks, &mut merchant, &mut ana, cents).await?;
    }
    let before = history(&mut ana.device, checks).await?;
    checks.setup_call(
        "TopUpWallet",
        ana.device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(900)),
                password: PASSWORD.into(),
                idempotency_key: target.key("hist"),
            })
            .await,
    )?;
    pay(target, checks, &mut merchant, &mut ana, 100).await?;
    let after = history(&mut ana.device, checks).await?;
    checks.equal(
        "OMPP-LEDGER-007",
        "two more transfers were added",
        before.len() + 2,
        after.len(),
    );
    let kept: Vec<&pb::WalletEntry> = after.iter().skip(2).collect();
    let was: Vec<&pb::WalletEntry> = before.iter().collect();
    checks.equal(
        "OMPP-LEDGER-007",
        "every entry listed before is listed again unchanged (id, payment, delta, balance after, booking time)",
        was,
        kept,
    );
    Ok(())
}

async fn same_content_and_lifetime(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use prost::Message;
    let mut ana = target.customer(checks, 1_000).await?;
    let mut merchant = target.merchant(checks).await?;
    // SubmitPayeeCode: the password is not part of the content (OMPP-IDEM-005).
    let code = checks.setup_call(
        "IssuePayeeCode (static)",
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: "idem".into(),
                expires_in: None,
                idempotency_key: target.key("idem5"),
            })
            .await,
    )?;
    let key = target.key("idem5");
    let submit = |password: &str| pb::SubmitPayeeCodeRequest {
        payload: code.payload.clone(),
        amount: Some(money(150)),
        password: password.into(),
        idempotency_key: key.clone(),
    };
    let first = checks.setup_call(
        "SubmitPayeeCode",
        ana.device.submit_payee_code(submit(PASSWORD)).await,
    )?;
    let retry = checks.succeeds(
        "OMPP-IDEM-005",
        "the same SubmitPayeeCode with a wrong password under the key succeeds: the password is not content",
        ana.device
            .submit_payee_code(submit(&format!("{PASSWORD} but wrong")))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-005",
        "the retry returns the first payment",
        first.payment.as_ref().map(|p| p.payment_id.clone()),
        retry.payment.as_ref().map(|p| p.payment_id.clone()),
    );

    // RegisterCustomer: likewise; the retry changes nothing, so the first password holds.
    let register = |password: &str, phone: &str, key: &str| pb::RegisterCustomerRequest {
        display_name: "Conformance Customer".into(),
        phone_number: phone.into(),
        password: password.into(),
        wallet_currencies: vec![CURRENCY.into()],
        bank_account: None,
        idempotency_key: key.into(),
    };
    let (phone, key) = (target.phone(), target.key("idem5"));
    let other_password = format!("{PASSWORD} but other");
    let mut registration = target.registration(checks).await?;
    let registered = checks.setup_call(
        "RegisterCustomer",
        registration
            .register_customer(register(PASSWORD, &phone, &key))
            .await,
    )?;
    let retried = checks.succeeds(
        "OMPP-IDEM-005",
        "the same RegisterCustomer with another password under the key succeeds: the password is not content",
        registration
            .register_customer(register(&other_password, &phone, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-005",
        "the retry returns the first customer",
        registered.customer_id.clone(),
        retried.customer_id,
    );
    let csr = checks.setup(
        "generate a device key and CSR",
        ompp_server::pki::generate_csr("device"),
    )?;
    checks.reason(
        "OMPP-IDEM-005",
        "PairDevice with the retry's password fails: the retry changed nothing",
        registration
            .pair_device(pb::PairDeviceRequest {
                customer_id: registered.customer_id,
                password: other_password,
                device_name: "conformance device".into(),
                csr_der: csr.csr_der,
                idempotency_key: target.key("idem5"),
            })
            .await,
        R::CredentialsRejected,
    );

    // CreatePayment: an unknown field is ignored; an explicit default is another request.
    let key = target.key("idem5");
    let request = create(target, &ana.customer_id, 200, &key);
    let created = checks.setup_call(
        "CreatePayment",
        merchant.create_payment(request.clone()).await,
    )?;
    let payment_id = created.payment.unwrap_or_default().payment_id;
    let mut body = request.encode_to_vec();
    super::security::append_unknown_field(&mut body, 24);
    let channel = checks.setup(
        "connect to MerchantPaymentService with the merchant certificate",
        target
            .channel(&target.network_url, Some(&target.merchant))
            .await,
    )?;
    let raw = super::security::raw_call(
        channel,
        "/ompp.v1.MerchantPaymentService/CreatePayment",
        body,
    )
    .await;
    let raw = checks.succeeds(
        "OMPP-IDEM-005",
        "the same CreatePayment with an unknown field under the key succeeds",
        raw,
    )?;
    let again = pb::CreatePaymentResponse::decode(raw.0.as_slice())
        .ok()
        .and_then(|r| r.payment)
        .map(|p| p.payment_id);
    checks.equal(
        "OMPP-IDEM-005",
        "it returns the first payment: unknown fields are not content",
        Some(payment_id.clone()),
        again,
    );
    let mut explicit = request.clone();
    explicit.expires_in = Some(prost_types::Duration {
        seconds: 120,
        nanos: 0,
    });
    checks.reason(
        "OMPP-IDEM-005",
        "the same CreatePayment with expires_in set to its default (120 s) is other content",
        merchant.create_payment(explicit).await,
        R::IdempotencyConflict,
    );

    // The key outlives the payment's settlement (OMPP-IDEM-007).
    checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment_id.clone(),
                amount: Some(money(200)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let later = checks.succeeds(
        "OMPP-IDEM-007",
        "the first CreatePayment again after its payment settled succeeds",
        merchant.create_payment(request).await,
    )?;
    checks.equal(
        "OMPP-IDEM-007",
        "it returns the same payment, as it stands now (SETTLED)",
        (payment_id, pb::PaymentStatus::Settled as i32),
        later
            .payment
            .map(|p| (p.payment_id, p.status))
            .unwrap_or_default(),
    );
    Ok(())
}

/// The outcome of one of several concurrent calls: an id, or the error reason.
fn outcome_of<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
    id: impl Fn(&T) -> String,
) -> Result<String, String> {
    match result {
        Ok(response) => Ok(id(response.get_ref())),
        Err(status) => Err(describe_status(&status)),
    }
}

/// Records that every concurrent answer is the one result or `SERVICE_UNAVAILABLE`, and that
/// at least one is the result; returns the result.
fn at_most_once(
    checks: &Checks,
    what: &str,
    outcomes: Vec<Result<String, String>>,
) -> Option<String> {
    let ids: std::collections::BTreeSet<&String> =
        outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let others: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .filter(|e| e.as_str() != "SERVICE_UNAVAILABLE")
        .collect();
    checks.record(
        "OMPP-IDEM-008",
        format!("{what}: every answer is the one result, or SERVICE_UNAVAILABLE"),
        "one id among the successes, no other error",
        format!(
            "{} distinct id(s) among {} successes; other errors: {others:?}",
            ids.len(),
            outcomes.iter().filter(|o| o.is_ok()).count()
        ),
        ids.len() == 1 && others.is_empty(),
    );
    ids.into_iter().next().cloned()
}

async fn concurrent_same_key(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const TIMES: usize = 6;
    let mut ana = target.customer(checks, 0).await?;
    let merchant = target.merchant(checks).await?;

    let key = target.key("burst");
    let top_up = pb::TopUpWalletRequest {
        amount: Some(money(700)),
        password: PASSWORD.into(),
        idempotency_key: key,
    };
    let calls = (0..TIMES).map(|_| {
        let mut device = ana.device.clone();
        let request = top_up.clone();
        async move { device.top_up_wallet(request).await }
    });
    let outcomes = futures_join(calls)
        .await
        .into_iter()
        .map(|r| {
            outcome_of(r, |t| {
                t.entry
                    .as_ref()
                    .map(|e| e.transfer_id.clone())
                    .unwrap_or_default()
            })
        })
        .collect();
    at_most_once(checks, "six concurrent TopUpWallet", outcomes);
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-IDEM-008",
        "the wallet was topped up once",
        700,
        balance,
    );

    let request = create(target, &ana.customer_id, 100, &target.key("burst"));
    let calls = (0..TIMES).map(|_| {
        let mut merchant = merchant.clone();
        let request = request.clone();
        async move { merchant.create_payment(request).await }
    });
    let outcomes = futures_join(calls)
        .await
        .into_iter()
        .map(|r| {
            outcome_of(r, |c| {
                c.payment
                    .as_ref()
                    .map(|p| p.payment_id.clone())
                    .unwrap_or_default()
            })
        })
        .collect();
    at_most_once(checks, "six concurrent CreatePayment", outcomes);

    let mut issuer = merchant.clone();
    let code = checks.setup_call(
        "IssuePayeeCode (static)",
        issuer
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: "burst".into(),
                expires_in: None,
                idempotency_key: target.key("burst"),
            })
            .await,
    )?;
    let submit = pb::SubmitPayeeCodeRequest {
        payload: code.payload,
        amount: Some(money(50)),
        password: PASSWORD.into(),
        idempotency_key: target.key("burst"),
    };
    let calls = (0..TIMES).map(|_| {
        let mut device = ana.device.clone();
        let request = submit.clone();
        async move { device.submit_payee_code(request).await }
    });
    let outcomes = futures_join(calls)
        .await
        .into_iter()
        .map(|r| {
            outcome_of(r, |s| {
                s.payment
                    .as_ref()
                    .map(|p| p.payment_id.clone())
                    .unwrap_or_default()
            })
        })
        .collect();
    at_most_once(
        checks,
        "six concurrent SubmitPayeeCode of a static code",
        outcomes,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-IDEM-008",
        "the static code was paid once",
        650,
        balance,
    );
    Ok(())
}

/// Runs `calls` concurrently and returns their results in order.
async fn futures_join<F, T>(calls: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(result) = handle.await {
            out.push(result);
        }
    }
    out
}
