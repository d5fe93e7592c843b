//! Flow B: the merchant has a payee code issued, the payer's device pays it.

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{CURRENCY, Customer, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-b.static-code",
            title: "a static payee code is paid twice, each time as a new settled payment",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &[
                "OMPP-CODE-004",
                "OMPP-FLB-004",
                "OMPP-FLB-007",
                "OMPP-FLB-008",
                "OMPP-LEDGER-002",
            ],
            run: body!(static_code),
        },
        Case {
            id: "oc.flow-b.dynamic-code-single-use",
            title: "a dynamic payee code settles its payment once; reusing it fails with PAYEE_CODE_USED",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &[
                "OMPP-CODE-004",
                "OMPP-FLB-004",
                "OMPP-FLB-007",
                "OMPP-FLB-008",
                "OMPP-LEDGER-002",
            ],
            run: body!(dynamic_code),
        },
        Case {
            id: "oc.flow-b.preview",
            title: "PreviewPayeeCode shows the payee, amount and reference of a fresh dynamic code",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-FLB-004", "OMPP-FLB-005"],
            run: body!(preview),
        },
        Case {
            id: "oc.flow-b.tampered-code",
            title: "a payee code altered after issue fails with PAYEE_CODE_MALFORMED and moves nothing",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-FLB-004", "OMPP-CODE-003", "OMPP-FLB-009"],
            run: body!(tampered_code),
        },
        Case {
            id: "oc.flow-b.wrong-password-and-cancelled-code",
            title: "a wrong password on a dynamic code counts against its payment; once the merchant cancels it, preview and payment fail with CANCELLED_BY_MERCHANT",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &["OMPP-FLB-004", "OMPP-FLB-010", "OMPP-FLB-011"],
            run: body!(wrong_password_and_cancelled_code),
        },
        Case {
            id: "oc.ledger.balance-and-history",
            title: "the wallet balance is the sum of its transfers, the history lists each once, newest first, across pages, and an uncovered payment books nothing",
            role: OC,
            profile: Some(Profile::FlowB),
            requirements: &[
                "OMPP-FLB-004",
                "OMPP-FLB-007",
                "OMPP-LEDGER-003",
                "OMPP-LEDGER-008",
                "OMPP-LEDGER-009",
            ],
            run: body!(balance_and_history),
        },
    ]
}

const REFERENCE: &str = "table 7";

async fn issue(
    target: &Target,
    checks: &Checks,
    amount: Option<i64>,
) -> Result<pb::IssuePayeeCodeResponse, Abort> {
    let mut merchant = target.merchant(checks).await?;
    checks.succeeds(
        "OMPP-FLB-004",
        "IssuePayeeCode succeeds",
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

async fn pay(
    payer: &mut Customer,
    payload: &str,
    cents: i64,
    key: &str,
) -> Result<tonic::Response<pb::SubmitPayeeCodeResponse>, tonic::Status> {
    payer
        .device
        .submit_payee_code(pb::SubmitPayeeCodeRequest {
            payload: payload.into(),
            amount: Some(money(cents)),
            password: PASSWORD.into(),
            idempotency_key: key.into(),
        })
        .await
}

fn settled(checks: &Checks, description: &str, response: &pb::SubmitPayeeCodeResponse) -> String {
    let payment = response.payment.clone().unwrap_or_default();
    checks.equal(
        "OMPP-FLB-007",
        description,
        ("SETTLED".to_owned(), "PAYEE_CODE".to_owned(), true),
        (
            pb::PaymentStatus::try_from(payment.status)
                .map(|s| crate::case::short_name(s.as_str_name()))
                .unwrap_or_default(),
            pb::PaymentFlow::try_from(payment.flow)
                .map(|s| crate::case::short_name(s.as_str_name()))
                .unwrap_or_default(),
            payment.receipt.is_some_and(|r| !r.transfer_id.is_empty()),
        ),
    );
    payment.payment_id
}

async fn static_code(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let code = issue(target, checks, None).await?;
    checks.record(
        "OMPP-CODE-004",
        "a static code has data object 01 = 11",
        "payload starting 000201010211",
        code.payload.chars().take(12).collect::<String>(),
        code.payload.starts_with("000201010211"),
    );
    checks.equal(
        "OMPP-FLB-004",
        "a static code has no payment",
        String::new(),
        code.payment_id.clone(),
    );
    let first = checks.succeeds(
        "OMPP-FLB-007",
        "the first payment of the static code succeeds",
        pay(&mut ana, &code.payload, 420, &target.key("s")).await,
    )?;
    let first_id = settled(
        checks,
        "the first payment is SETTLED, flow PAYEE_CODE, with a receipt",
        &first,
    );
    let second = checks.succeeds(
        "OMPP-FLB-008",
        "a static code can be paid again",
        pay(&mut ana, &code.payload, 80, &target.key("s")).await,
    )?;
    let second_id = settled(
        checks,
        "the second payment is SETTLED, flow PAYEE_CODE, with a receipt",
        &second,
    );
    checks.record(
        "OMPP-FLB-008",
        "each payment of a static code has a new payment_id",
        "two different payment ids",
        format!("{first_id:?}, {second_id:?}"),
        first_id != second_id,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-LEDGER-002",
        "the payer's wallet is debited by both amounts",
        5_000 - 500,
        balance,
    );
    Ok(())
}

async fn dynamic_code(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let mut bo = target.customer(checks, 5_000).await?;
    let code = issue(target, checks, Some(790)).await?;
    checks.record(
        "OMPP-CODE-004",
        "a dynamic code has data object 01 = 12",
        "payload starting 000201010212",
        code.payload.chars().take(12).collect::<String>(),
        code.payload.starts_with("000201010212"),
    );
    checks.record(
        "OMPP-FLB-004",
        "a dynamic code comes with its payment",
        "non-empty payment_id",
        format!("{:?}", code.payment_id),
        !code.payment_id.is_empty(),
    );
    let paid = checks.succeeds(
        "OMPP-FLB-007",
        "paying the dynamic code succeeds",
        pay(&mut ana, &code.payload, 790, &target.key("d")).await,
    )?;
    let paid_id = settled(
        checks,
        "the code's payment is SETTLED, flow PAYEE_CODE, with a receipt",
        &paid,
    );
    checks.equal(
        "OMPP-FLB-007",
        "the settled payment is the code's",
        code.payment_id.clone(),
        paid_id,
    );
    checks.reason(
        "OMPP-FLB-008",
        "another payer cannot pay the used code",
        pay(&mut bo, &code.payload, 790, &target.key("d")).await,
        R::PayeeCodeUsed,
    );
    checks.reason(
        "OMPP-FLB-008",
        "the payer cannot pay it again under another key",
        pay(&mut ana, &code.payload, 790, &target.key("d")).await,
        R::PayeeCodeUsed,
    );
    checks.reason(
        "OMPP-FLB-008",
        "PreviewPayeeCode of the used code fails",
        ana.device
            .preview_payee_code(pb::PreviewPayeeCodeRequest {
                payload: code.payload.clone(),
            })
            .await,
        R::PayeeCodeUsed,
    );
    let (a, b) = (ana.balance(checks).await?, bo.balance(checks).await?);
    checks.equal(
        "OMPP-LEDGER-002",
        "only the first payer's wallet is debited, once",
        (5_000 - 790, 5_000),
        (a, b),
    );
    Ok(())
}

async fn tampered_code(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let code = issue(target, checks, Some(500)).await?;
    if !code.payload.contains(REFERENCE) {
        return Err(checks.fail(
            "the code carries the merchant reference to alter",
            format!("no {REFERENCE:?} in the payload"),
        ));
    }
    // One changed character, the CRC left as issued.
    let tampered = code.payload.replacen(REFERENCE, "table 8", 1);
    checks.reason(
        "OMPP-CODE-003",
        "SubmitPayeeCode with a payload whose CRC does not match fails",
        pay(&mut ana, &tampered, 500, &target.key("t")).await,
        R::PayeeCodeMalformed,
    );
    checks.reason(
        "OMPP-CODE-003",
        "PreviewPayeeCode with that payload fails",
        ana.device
            .preview_payee_code(pb::PreviewPayeeCodeRequest {
                payload: tampered.clone(),
            })
            .await,
        R::PayeeCodeMalformed,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLB-009",
        "the payer's wallet is unchanged",
        1_000,
        balance,
    );
    let mut merchant = target.merchant(checks).await?;
    let got = merchant_view(target, checks, &mut merchant, &code.payment_id).await?;
    checks.equal(
        "OMPP-FLB-009",
        "the code's payment stays PENDING_CUSTOMER",
        Some(pb::PaymentStatus::PendingCustomer as i32),
        got.payment.map(|p| p.status),
    );
    Ok(())
}

async fn preview(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let code = issue(target, checks, Some(250)).await?;
    let shown = checks.succeeds(
        "OMPP-FLB-005",
        "PreviewPayeeCode of a fresh code succeeds",
        ana.device
            .preview_payee_code(pb::PreviewPayeeCodeRequest {
                payload: code.payload.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-FLB-005",
        "the preview names the merchant, amount, currency and reference of the code",
        (
            target.merchant_id.clone(),
            Some(money(250)),
            CURRENCY.to_owned(),
            REFERENCE.to_owned(),
        ),
        (
            shown.merchant_id.clone(),
            shown.amount,
            shown.currency.clone(),
            shown.merchant_reference.clone(),
        ),
    );
    checks.record(
        "OMPP-FLB-005",
        "the preview carries the merchant's registered display name",
        "a non-empty merchant_name",
        format!("{:?}", shown.merchant_name),
        !shown.merchant_name.is_empty(),
    );
    Ok(())
}

async fn wrong_password_and_cancelled_code(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let code = issue(target, checks, Some(700)).await?;
    let wrong = ana
        .device
        .submit_payee_code(pb::SubmitPayeeCodeRequest {
            payload: code.payload.clone(),
            amount: Some(money(700)),
            password: format!("{PASSWORD} but wrong"),
            idempotency_key: target.key("code-wrong"),
        })
        .await;
    if let Some(error) = checks.reason(
        "OMPP-FLB-010",
        "a wrong password fails with CREDENTIALS_REJECTED",
        wrong,
        R::CredentialsRejected,
    ) {
        checks.equal(
            "OMPP-FLB-010",
            "it says two attempts are left",
            Some("2"),
            error.metadata.get("attempts_left").map(String::as_str),
        );
    }
    let mut merchant = target.merchant(checks).await?;
    let payment = merchant_view(target, checks, &mut merchant, &code.payment_id).await?;
    checks.equal(
        "OMPP-FLB-010",
        "the code's payment has two attempts left",
        Some(2),
        payment.payment.map(|p| p.attempts_left),
    );
    checks.succeeds(
        "OMPP-FLB-011",
        "the merchant cancels the code's payment",
        merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: code.payment_id.clone(),
            })
            .await,
    )?;
    let preview = ana
        .device
        .preview_payee_code(pb::PreviewPayeeCodeRequest {
            payload: code.payload.clone(),
        })
        .await;
    checks.reason(
        "OMPP-FLB-011",
        "PreviewPayeeCode of the cancelled code fails with CANCELLED_BY_MERCHANT",
        preview,
        R::CancelledByMerchant,
    );
    let submit = pay(&mut ana, &code.payload, 700, &target.key("code-cancelled")).await;
    checks.reason(
        "OMPP-FLB-011",
        "SubmitPayeeCode of the cancelled code fails with CANCELLED_BY_MERCHANT",
        submit,
        R::CancelledByMerchant,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLB-011",
        "the payer's wallet is untouched",
        5_000,
        balance,
    );
    Ok(())
}

/// The merchant's view of a payment (GetPayment), a step the case needs but does not judge.
async fn merchant_view(
    target: &Target,
    checks: &Checks,
    merchant: &mut ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient<
        tonic::transport::Channel,
    >,
    payment_id: &str,
) -> Result<pb::GetPaymentResponse, Abort> {
    checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment_id.to_owned(),
            })
            .await,
    )
}

async fn balance_and_history(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    checks.setup_call(
        "a second TopUpWallet",
        ana.device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(500)),
                password: PASSWORD.into(),
                idempotency_key: target.key("topup-2"),
            })
            .await,
    )?;
    let code = issue(target, checks, None).await?;
    let paid = checks.succeeds(
        "OMPP-FLB-007",
        "a payment of 3.00 with the static code",
        pay(&mut ana, &code.payload, 300, &target.key("history-pay")).await,
    )?;
    settled(checks, "the payment settles", &paid);
    let uncovered = pay(&mut ana, &code.payload, 5_000, &target.key("history-big")).await;
    checks.reason(
        "OMPP-LEDGER-003",
        "a payment the wallet cannot cover fails with INSUFFICIENT_FUNDS",
        uncovered,
        R::InsufficientFunds,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-LEDGER-008",
        "the balance is the sum of the booked transfers (10.00 + 5.00 - 3.00), the refused one not among them",
        1_200,
        balance,
    );
    let mut entries = Vec::new();
    let mut page_token = String::new();
    for _ in 0..5 {
        let page = checks.succeeds(
            "OMPP-LEDGER-009",
            "ListWalletHistory, two entries a page",
            ana.device
                .list_wallet_history(pb::ListWalletHistoryRequest {
                    currency: CURRENCY.into(),
                    page_size: 2,
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
    let deltas: Vec<i64> = entries
        .iter()
        .map(|e| e.delta.as_ref().map_or(0, |m| m.minor_units))
        .collect();
    checks.equal(
        "OMPP-LEDGER-009",
        "every transfer exactly once, newest first",
        vec![-300, 500, 1_000],
        deltas,
    );
    let afters: Vec<i64> = entries
        .iter()
        .map(|e| e.balance_after.as_ref().map_or(0, |m| m.minor_units))
        .collect();
    checks.equal(
        "OMPP-LEDGER-009",
        "each entry's balance after it",
        vec![1_200, 1_500, 1_000],
        afters,
    );
    let ids: std::collections::BTreeSet<_> =
        entries.iter().map(|e| e.transfer_id.clone()).collect();
    checks.equal(
        "OMPP-LEDGER-009",
        "three distinct transfer ids",
        3,
        ids.len(),
    );
    Ok(())
}
