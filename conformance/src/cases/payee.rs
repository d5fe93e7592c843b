//! Flow B from the verifier's side: payee codes the suite alters (and re-seals with a correct
//! CRC) are refused for the first rule they break, in the order of OMPP-CODE-014; payloads are
//! verified exactly as sent; a code states what was issued; `SubmitPayeeCode` checks in the
//! order of OMPP-FLB-006; a settled payment is notified to the payer and shown to the merchant.

use std::time::Duration;

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::subscribe_response::Event;

use super::code_format::{Object, objects};
use super::{OC, body};
use crate::case::{Abort, Case, Checks, short_name};
use crate::target::{CURRENCY, Customer, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-b.code-verification-order",
            title: "altered payee codes fail for the first rule they break: CRC, EMVCo structure, OMPP template, OMPP structure, key, signature, use",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &[
                "OMPP-CODE-014",
                "OMPP-CODE-015",
                "OMPP-CODE-016",
                "OMPP-CODE-012",
            ],
            run: body!(code_verification_order),
        },
        Case {
            id: "oc.flow-b.payload-verified-as-sent",
            title: "a payload with added white space or a lower-case CRC is refused, not normalized",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-CODE-017"],
            run: body!(payload_verified_as_sent),
        },
        Case {
            id: "oc.flow-b.code-states-what-was-issued",
            title: "PreviewPayeeCode of a dynamic and a static code gives the merchant, amount, currency, reference and expiry they were issued with",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-CODE-018"],
            run: body!(code_states_what_was_issued),
        },
        Case {
            id: "oc.flow-b.submit-check-order",
            title: "SubmitPayeeCode breaking several rules fails for the first in the order fields, key, payload, code state, amount, wallet, password",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-FLB-006", "OMPP-ERR-008"],
            run: body!(submit_check_order),
        },
        Case {
            id: "oc.flow-b.settled-notice",
            title: "a settled flow B payment is notified to the payer's device with receipt and wallet delta, and reported SETTLED to the merchant",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-FLB-012"],
            run: body!(settled_notice),
        },
    ]
}

/// The merchant reference the suite's codes carry.
const REFERENCE: &str = "table 9";

/// Issues a dynamic (`Some(amount)`) or static code; a setup step.
async fn issue(
    target: &Target,
    checks: &Checks,
    amount: Option<i64>,
) -> Result<pb::IssuePayeeCodeResponse, Abort> {
    let mut merchant = target.merchant(checks).await?;
    checks.setup_call(
        "IssuePayeeCode",
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: amount.map(money),
                currency: if amount.is_some() {
                    String::new()
                } else {
                    CURRENCY.into()
                },
                merchant_reference: REFERENCE.into(),
                expires_in: None,
                idempotency_key: target.key("code"),
            })
            .await,
    )
}

/// Data objects as text.
fn encode(objects: &[Object]) -> String {
    objects
        .iter()
        .map(|o| format!("{}{:02}{}", o.id, o.value.len(), o.value))
        .collect()
}

fn object(id: &str, value: &str) -> Object {
    Object {
        id: id.to_owned(),
        value: value.to_owned(),
    }
}

/// `body` (everything before `63`) sealed with data object `63` and its correct CRC.
fn sealed(body: &str) -> String {
    let text = format!("{body}6304");
    let crc = ompp::payee_code::crc16(text.as_bytes());
    format!("{text}{crc:04X}")
}

/// `payload` with its data objects (all but `63`) changed by `change`, re-sealed with a
/// correct CRC.
fn altered(payload: &str, change: impl FnOnce(&mut Vec<Object>)) -> Result<String, String> {
    let mut all = objects(payload)?;
    all.retain(|o| o.id != "63");
    change(&mut all);
    Ok(sealed(&encode(&all)))
}

/// Sets sub-object `sub` of template `template` to `value`.
fn set_sub(all: &mut [Object], template: &str, sub: &str, value: &str) {
    for o in all.iter_mut().filter(|o| o.id == template) {
        if let Ok(mut subs) = objects(&o.value) {
            for s in subs.iter_mut().filter(|s| s.id == sub) {
                s.value = value.to_owned();
            }
            o.value = encode(&subs);
        }
    }
}

/// `value` with its first character replaced by another of the same alphabet (the first
/// character of a base64url signature carries six full bits, so the result stays canonical).
fn flip_first(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if let Some(first) = chars.first_mut() {
        *first = if *first == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

/// A plain EMVCo merchant-presented code with no OMPP template (a card scheme's account in
/// template 26), correctly sealed.
fn foreign_code() -> String {
    sealed(&encode(&[
        object("00", "01"),
        object("01", "11"),
        object(
            "26",
            &encode(&[object("00", "com.example.pay"), object("01", "X1")]),
        ),
        object("52", "5812"),
        object("53", "978"),
        object("58", "DE"),
        object("59", "Cafe Example"),
        object("60", "Berlin"),
    ]))
}

async fn preview(
    payer: &mut Customer,
    payload: &str,
) -> Result<tonic::Response<pb::PreviewPayeeCodeResponse>, tonic::Status> {
    payer
        .device
        .preview_payee_code(pb::PreviewPayeeCodeRequest {
            payload: payload.into(),
        })
        .await
}

async fn submit(
    payer: &mut Customer,
    payload: &str,
    amount: pb::Money,
    password: &str,
    key: &str,
) -> Result<tonic::Response<pb::SubmitPayeeCodeResponse>, tonic::Status> {
    payer
        .device
        .submit_payee_code(pb::SubmitPayeeCodeRequest {
            payload: payload.into(),
            amount: Some(amount),
            password: password.into(),
            idempotency_key: key.into(),
        })
        .await
}

async fn code_verification_order(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 2_000).await?;
    let code = issue(target, checks, Some(400)).await?;
    let payload = code.payload.clone();
    let alter = |change: &dyn Fn(&mut Vec<Object>)| {
        checks.setup(
            "alter the issued code",
            altered(&payload, |all| change(all)),
        )
    };
    let foreign = foreign_code();
    let mut bad_crc = foreign.clone();
    bad_crc.truncate(bad_crc.len().saturating_sub(4));
    bad_crc.push_str("0000");
    let cases: Vec<(String, R, &str, &str)> = vec![
        (
            bad_crc,
            R::PayeeCodeMalformed,
            "OMPP-CODE-014",
            "a foreign code (no OMPP template) with a wrong CRC: the CRC is checked first",
        ),
        (
            {
                let mut all = checks.setup("parse the foreign code", objects(&foreign))?;
                all.retain(|o| o.id != "58" && o.id != "63");
                sealed(&encode(&all))
            },
            R::PayeeCodeMalformed,
            "OMPP-CODE-015",
            "a foreign code without data object 58: the EMVCo structure before the OMPP template",
        ),
        (
            foreign.clone(),
            R::PayeeCodeNotOmpp,
            "OMPP-CODE-015",
            "a well-formed EMVCo code without the OMPP template",
        ),
        (
            alter(&|all| all.retain(|o| o.id != "52"))?,
            R::PayeeCodeMalformed,
            "OMPP-CODE-015",
            "the issued code without data object 52 (mandatory in EMVCo)",
        ),
        (
            alter(&|all| set_sub(all, "80", "03", "0123"))?,
            R::PayeeCodeMalformed,
            "OMPP-CODE-016",
            "a nonce of 4 digits in 80 (its signature no longer matches either): the OMPP structure before the signature",
        ),
        (
            alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "53") {
                    o.value = "999".into();
                }
            })?,
            R::PayeeCodeMalformed,
            "OMPP-CODE-016",
            "currency 999, which is no ISO 4217 currency the verifier supports",
        ),
        (
            alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "54") {
                    o.value = "4.0".into();
                }
            })?,
            R::PayeeCodeMalformed,
            "OMPP-CODE-016",
            "amount 4.0, not written with the currency's two decimals",
        ),
        (
            alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "26") {
                    if let Ok(mut subs) = objects(&o.value) {
                        subs.swap(1, 2);
                        o.value = encode(&subs);
                    }
                }
            })?,
            R::PayeeCodeMalformed,
            "OMPP-CODE-016",
            "the sub-objects of 26 out of order",
        ),
        (
            alter(&|all| set_sub(all, "80", "01", "zz9"))?,
            R::PayeeCodeSignatureInvalid,
            "OMPP-CODE-014",
            "a key id the OC never used",
        ),
        (
            alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "62") {
                    o.value = encode(&[object("05", "table 0")]);
                }
            })?,
            R::PayeeCodeSignatureInvalid,
            "OMPP-CODE-012",
            "another merchant reference under the issued signature",
        ),
        (
            alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "81") {
                    if let Ok(subs) = objects(&o.value) {
                        let subs: Vec<Object> = subs
                            .into_iter()
                            .map(|s| {
                                if s.id == "01" {
                                    object("01", &flip_first(&s.value))
                                } else {
                                    s
                                }
                            })
                            .collect();
                        o.value = encode(&subs);
                    }
                }
            })?,
            R::PayeeCodeSignatureInvalid,
            "OMPP-CODE-012",
            "the issued code with one signature character changed",
        ),
    ];
    for (payload, expected, requirement, description) in cases {
        checks.reason(
            requirement,
            format!("PreviewPayeeCode: {description}"),
            preview(&mut ana, &payload).await,
            expected,
        );
    }
    // The signature before the code's state: a used dynamic code with a broken signature.
    checks.setup_call(
        "SubmitPayeeCode",
        submit(
            &mut ana,
            &code.payload,
            money(400),
            PASSWORD,
            &target.key("order"),
        )
        .await,
    )?;
    checks.reason(
        "OMPP-CODE-014",
        "PreviewPayeeCode: the used code with a signature of another code fails for the signature, not for the use",
        {
            let other = issue(target, checks, Some(400)).await?;
            let signature = |text: &str| {
                objects(text)
                    .ok()
                    .and_then(|all| all.into_iter().find(|o| o.id == "81"))
                    .map(|o| o.value)
                    .unwrap_or_default()
            };
            let theirs = signature(&other.payload);
            let used = alter(&|all| {
                for o in all.iter_mut().filter(|o| o.id == "81") {
                    o.value = theirs.clone();
                }
            })?;
            preview(&mut ana, &used).await
        },
        R::PayeeCodeSignatureInvalid,
    );
    checks.reason(
        "OMPP-CODE-014",
        "PreviewPayeeCode: the used code as issued fails with PAYEE_CODE_USED",
        preview(&mut ana, &code.payload).await,
        R::PayeeCodeUsed,
    );
    Ok(())
}

async fn payload_verified_as_sent(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    // A code whose CRC has a letter, so that lower case changes it (most codes have one); the
    // tries are not logged, so that the transcript does not depend on their number.
    let mut merchant = target.merchant(checks).await?;
    let mut code = None;
    for _ in 0..12 {
        let issued = merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: REFERENCE.into(),
                expires_in: None,
                idempotency_key: target.key("code"),
            })
            .await
            .map_err(|status| checks.fail("IssuePayeeCode", crate::case::describe_status(&status)))?
            .into_inner();
        let crc_at = issued.payload.len().saturating_sub(4);
        if issued
            .payload
            .get(crc_at..)
            .is_some_and(|crc| crc.chars().any(|c| c.is_ascii_alphabetic()))
        {
            code = Some(issued);
            break;
        }
    }
    let code = code.ok_or_else(|| {
        checks.fail(
            "a static code whose CRC has a hexadecimal letter",
            "12 codes, none with a letter in its CRC",
        )
    })?;
    checks.succeeds(
        "OMPP-CODE-017",
        "control: the payload exactly as issued previews",
        preview(&mut ana, &code.payload).await,
    )?;
    let crc_at = code.payload.len().saturating_sub(4);
    let lower_crc = format!(
        "{}{}",
        &code.payload[..crc_at],
        code.payload[crc_at..].to_ascii_lowercase()
    );
    for (payload, description) in [
        (format!("{} ", code.payload), "a trailing space"),
        (format!(" {}", code.payload), "a leading space"),
        (lower_crc, "the CRC in lower case"),
    ] {
        checks.reason(
            "OMPP-CODE-017",
            format!(
                "the payload with {description} is refused as malformed, not trimmed or re-cased"
            ),
            preview(&mut ana, &payload).await,
            R::PayeeCodeMalformed,
        );
    }
    Ok(())
}

async fn code_states_what_was_issued(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    for amount in [Some(1_999), None] {
        let code = issue(target, checks, amount).await?;
        let seen = checks.succeeds(
            "OMPP-CODE-018",
            "PreviewPayeeCode of the issued code succeeds",
            preview(&mut ana, &code.payload).await,
        )?;
        checks.equal(
            "OMPP-CODE-018",
            format!(
                "the {} code states the merchant, amount, currency, reference and expiry it was issued with",
                if amount.is_some() { "dynamic" } else { "static" }
            ),
            (
                target.merchant_id.clone(),
                amount.map(money),
                CURRENCY.to_owned(),
                REFERENCE.to_owned(),
                code.expires_at.map(|t| t.seconds),
            ),
            (
                seen.merchant_id,
                seen.amount,
                seen.currency,
                seen.merchant_reference,
                seen.expires_at.map(|t| t.seconds),
            ),
        );
    }
    Ok(())
}

async fn submit_check_order(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let dynamic = issue(target, checks, Some(300)).await?;
    let fixed = issue(target, checks, None).await?;
    let wrong = format!("{PASSWORD} but wrong");
    let usd = pb::Money {
        currency: "USD".into(),
        minor_units: 300,
    };
    let mut broken = dynamic.payload.clone();
    broken.truncate(broken.len().saturating_sub(4));
    broken.push_str("0000");

    checks.reason(
        "OMPP-ERR-008",
        "amount 0 with a broken payload and a wrong password (the fields first)",
        submit(&mut ana, &broken, money(0), &wrong, &target.key("order")).await,
        R::InvalidField,
    );
    checks.reason(
        "OMPP-FLB-006",
        "a broken payload with a wrong amount and password (the payload before the amount)",
        submit(&mut ana, &broken, money(299), &wrong, &target.key("order")).await,
        R::PayeeCodeMalformed,
    );
    checks.reason(
        "OMPP-FLB-006",
        "a dynamic code with another amount and a wrong password (the amount before the password)",
        submit(
            &mut ana,
            &dynamic.payload,
            money(299),
            &wrong,
            &target.key("order"),
        )
        .await,
        R::AmountMismatch,
    );
    checks.reason(
        "OMPP-FLB-006",
        "a static EUR code paid in USD with a wrong password (the currency before the password)",
        submit(
            &mut ana,
            &fixed.payload,
            usd.clone(),
            &wrong,
            &target.key("order"),
        )
        .await,
        R::CurrencyMismatch,
    );
    checks.reason(
        "OMPP-FLB-006",
        "a wrong password for more than the wallet holds: the password before the balance",
        submit(
            &mut ana,
            &fixed.payload,
            money(5_000),
            &wrong,
            &target.key("order"),
        )
        .await,
        R::CredentialsRejected,
    );

    // A payer with a USD wallet only: the payer's wallet before the password.
    let (dollar_id, _) = {
        let phone = target.phone();
        let mut registration = target.registration(checks).await?;
        let registered = checks.setup_call(
            "RegisterCustomer (USD wallet only)",
            registration
                .register_customer(pb::RegisterCustomerRequest {
                    display_name: "Conformance Customer".into(),
                    phone_number: phone.clone(),
                    password: PASSWORD.into(),
                    wallet_currencies: vec!["USD".into()],
                    bank_account: None,
                    idempotency_key: target.key("reg"),
                })
                .await,
        )?;
        (registered.customer_id, phone)
    };
    let (_, device) = super::devices::pair(target, checks, &dollar_id).await?;
    let mut dollar = Customer {
        customer_id: dollar_id,
        phone: String::new(),
        device,
        credential: ana.credential.clone(),
        device_id: String::new(),
        bank_account: None,
    };
    checks.reason(
        "OMPP-FLB-006",
        "a static EUR code from a payer without a EUR wallet, with a wrong password (the wallet before the password)",
        submit(&mut dollar, &fixed.payload, money(300), &wrong, &target.key("order")).await,
        R::CurrencyMismatch,
    );

    // The key before the code's state: a retry of the paying request returns its payment
    // though the code is used now; a new key meets the used code, before a wrong amount.
    let key = target.key("order");
    let first = checks.setup_call(
        "SubmitPayeeCode",
        submit(&mut ana, &dynamic.payload, money(300), PASSWORD, &key).await,
    )?;
    let retry = checks.succeeds(
        "OMPP-ERR-008",
        "the same request under its key again succeeds though the code is used: the key before the code's state",
        submit(&mut ana, &dynamic.payload, money(300), PASSWORD, &key).await,
    )?;
    checks.equal(
        "OMPP-ERR-008",
        "the retry returns the first payment",
        first.payment.map(|p| p.payment_id),
        retry.payment.map(|p| p.payment_id),
    );
    checks.reason(
        "OMPP-FLB-006",
        "the used dynamic code with another amount under a new key: the code's state before the amount",
        submit(&mut ana, &dynamic.payload, money(299), PASSWORD, &target.key("order")).await,
        R::PayeeCodeUsed,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLB-006",
        "only the one good payment moved money",
        700,
        balance,
    );
    Ok(())
}

async fn settled_notice(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let mut stream = checks.setup_call(
        "Subscribe",
        ana.device.subscribe(pb::SubscribeRequest::default()).await,
    )?;
    let code = issue(target, checks, Some(250)).await?;
    let paid = checks.setup_call(
        "SubmitPayeeCode",
        submit(
            &mut ana,
            &code.payload,
            money(250),
            PASSWORD,
            &target.key("b"),
        )
        .await,
    )?;
    let payment = paid.payment.unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let notice = loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => break Err("no notice within 10 s".to_owned()),
            Ok(Err(status)) => break Err(crate::case::describe_status(&status)),
            Ok(Ok(None)) => break Err("the stream ended".to_owned()),
            Ok(Ok(Some(pb::SubscribeResponse {
                event: Some(Event::Notice(n)),
            }))) if n.payment_id == payment.payment_id => break Ok(n),
            Ok(Ok(Some(_))) => {}
        }
    };
    let status_name = |s: i32| {
        pb::PaymentStatus::try_from(s)
            .map(|s| short_name(s.as_str_name()))
            .unwrap_or_else(|_| format!("unknown status {s}"))
    };
    checks.equal(
        "OMPP-FLB-012",
        "the payer's device gets a SETTLED notice with the payment's receipt and the negated amount",
        Ok((
            "SETTLED".to_owned(),
            payment.receipt.clone(),
            Some(money(-250)),
        )),
        notice.map(|n| (status_name(n.status), n.receipt, n.wallet_delta)),
    );
    let mut merchant = target.merchant(checks).await?;
    let got = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: code.payment_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-FLB-012",
        "GetPayment reports the dynamic code's payment SETTLED to the merchant",
        ("SETTLED".to_owned(), payment.payment_id.clone()),
        got.payment
            .map(|p| (status_name(p.status), p.payment_id))
            .unwrap_or_default(),
    );
    let watched = merchant
        .watch_payment(pb::WatchPaymentRequest {
            merchant_id: target.merchant_id.clone(),
            payment_id: code.payment_id.clone(),
        })
        .await;
    let first = match watched {
        Ok(response) => {
            let mut watch = response.into_inner();
            match tokio::time::timeout(Duration::from_secs(10), watch.message()).await {
                Ok(Ok(Some(update))) => update.payment.map(|p| status_name(p.status)),
                other => Some(format!("{other:?}")),
            }
        }
        Err(status) => Some(crate::case::describe_status(&status)),
    };
    checks.equal(
        "OMPP-FLB-012",
        "WatchPayment reports it SETTLED",
        Some("SETTLED".to_owned()),
        first,
    );
    Ok(())
}
