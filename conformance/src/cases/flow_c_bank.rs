//! Flow C across the operation center's links to the bank processor and the SMS center, both
//! played by the suite: what the system sends the bank, how it recovers a transfer whose answer
//! it lost (OMPP-BANK-009, OMPP-FLC-008), and what the customer sees when the SMS center does not
//! take the code (OMPP-FLC-014).

use std::time::{Duration, Instant};

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_c::{
    FUNDS, SMS_WAIT, checkout_request, payer, start_for, status_name, step_name, support,
};
use super::flow_c_codes::{enter, view_of};
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::parties::bank::{Call, Fault};
use crate::target::{PASSWORD, Target, code_in, money};

/// How long a case waits for a checkout whose transfer outcome was unknown to end.
const RECOVERY_WAIT: Duration = Duration::from_secs(8);

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-c.bank-transfer",
            title: "each settled checkout is one ExecuteTransfer with a new transfer_id, the customer's account as debit, a merchant account as credit and the checkout's amount",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-007", "OMPP-FLC-004", "OMPP-BANK-009"],
            run: body!(bank_transfer),
        },
        Case {
            id: "oc.flow-c.bank-answer-lost",
            title: "after a lost or refused ExecuteTransfer the outcome is learned with GetTransfer or the identical ExecuteTransfer before it is reported",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-BANK-009", "OMPP-FLC-004", "OMPP-FLC-008"],
            run: body!(bank_answer_lost),
        },
        Case {
            id: "oc.flow-c.bank-unavailable",
            title: "while the bank is unreachable the checkout stays PROCESSING with no outcome; once it answers, the same transfer settles once",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-008", "OMPP-FLC-004", "OMPP-BANK-009"],
            run: body!(bank_unavailable),
        },
        Case {
            id: "oc.flow-c.sms-no-answer",
            title: "an SMS center that does not answer makes SubmitPassword fail with UPSTREAM_TIMEOUT after tries of one message_id; the checkout stays in the password step",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-014"],
            run: body!(sms_no_answer),
        },
        Case {
            id: "oc.flow-c.remittance-info",
            title: "a checkout's ExecuteTransfer carries the merchant's name and the merchant_reference in its remittance_info",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-013"],
            run: body!(remittance_info),
        },
        Case {
            id: "oc.flow-c.sms-not-accepted",
            title: "an SMS reported FAILED or refused leaves the checkout in the password step with its code discarded and its count unchanged",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-014"],
            run: body!(sms_not_accepted),
        },
    ]
}

fn reason_name(reason: i32) -> String {
    R::try_from(reason)
        .map(|r| crate::case::short_name(r.as_str_name()))
        .unwrap_or_default()
}

/// Whether the bank answered the call with a `COMPLETED` transfer.
pub(super) fn completed(call: &Call) -> bool {
    call.answered
        .as_ref()
        .is_some_and(|t| t.status == i32::from(pb::BankTransferStatus::Completed))
}

async fn bank_transfer(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let support = support(target, checks)?;
    let bank = &support.parties.bank;
    let customer = payer(target, checks, FUNDS).await?;
    let mut receipts = Vec::new();
    for cents in [1_111, 2_222] {
        let started = start_for(target, checks, "OMPP-FLC-007", &customer, cents, None).await?;
        let done = checks.succeeds(
            "OMPP-FLC-007",
            format!("the right code settles the checkout of {cents}"),
            enter(
                target,
                checks,
                &started.payment_id,
                &started.session_token,
                &started.code,
            )
            .await?,
        )?;
        let receipt = done
            .checkout
            .and_then(|c| c.receipt)
            .map(|r| r.transfer_id)
            .unwrap_or_default();
        receipts.push((cents, receipt));
    }
    let calls = bank.calls_debiting(&customer.account);
    let debit = pb::BankAccountRef {
        bank_id: bank.bank_id(),
        account_number: customer.account.clone(),
    };
    let mut ids = Vec::new();
    for (cents, receipt) in &receipts {
        let executed = calls.iter().find(|c| {
            completed(c)
                && c.execute
                    .as_ref()
                    .is_some_and(|e| e.amount == Some(money(*cents)))
        });
        let Some(call) = executed else {
            checks.record(
                "OMPP-FLC-007",
                format!("the suite's bank received a completed ExecuteTransfer of {cents}"),
                "one",
                "none",
                false,
            );
            continue;
        };
        let request = call.execute.clone().unwrap_or_default();
        let credit = request.credit_account.clone().unwrap_or_default();
        checks.record(
            "OMPP-FLC-007",
            format!("the transfer of {cents} debits the customer's account and credits another account of the bank"),
            format!("debit {debit:?}, credit another account at {}", debit.bank_id),
            format!("debit {:?}, credit {credit:?}", request.debit_account),
            request.debit_account.as_ref() == Some(&debit)
                && credit.bank_id == debit.bank_id
                && credit.account_number != debit.account_number,
        );
        checks.equal(
            "OMPP-FLC-007",
            format!("the receipt of {cents} carries the bank transfer_id"),
            request.transfer_id.clone(),
            receipt.clone(),
        );
        ids.push(request.transfer_id);
    }
    ids.dedup();
    checks.equal(
        "OMPP-BANK-009",
        "the two checkouts' transfers have different transfer_ids",
        2,
        ids.len(),
    );
    checks.equal(
        "OMPP-FLC-007",
        "the customer's account is debited by both amounts",
        Some(FUNDS - 3_333),
        bank.balance(&customer.account),
    );
    Ok(())
}

/// The checkout's outcome as the system reports it and when: the answer to the right code if
/// it carries one, else the first `GetCheckoutStatus` in step `DONE` (every view before must be
/// `PROCESSING`, OMPP-FLC-008).
async fn reported(
    target: &Target,
    checks: &Checks,
    payment_id: &str,
    answer: Result<tonic::Response<pb::SubmitAuthorizationCodeResponse>, tonic::Status>,
) -> Result<(pb::CheckoutView, Instant), Abort> {
    checks.log("SubmitAuthorizationCode with the right code", &answer);
    match answer {
        Ok(response) => {
            let view = response.into_inner().checkout.unwrap_or_default();
            if step_name(view.step) == "DONE" {
                return Ok((view, Instant::now()));
            }
        }
        Err(status) => {
            let upstream = ompp::error::ProtocolError::from_status(&status)
                .is_ok_and(|e| e.reason == R::UpstreamTimeout);
            checks.record(
                "OMPP-FLC-008",
                "without the bank's answer, SubmitAuthorizationCode succeeds or fails with UPSTREAM_TIMEOUT",
                "OK or UPSTREAM_TIMEOUT",
                crate::case::describe_status(&status),
                upstream,
            );
        }
    }
    until_done(target, checks, payment_id).await
}

/// Polls `GetCheckoutStatus` until step `DONE` (at most [`RECOVERY_WAIT`]) and returns that view
/// and when it was seen; every view before must be `PROCESSING` (OMPP-FLC-008).
/// Only the final answer goes into the transcript: how many polls it takes varies.
async fn until_done(
    target: &Target,
    checks: &Checks,
    payment_id: &str,
) -> Result<(pb::CheckoutView, Instant), Abort> {
    let mut gateway = target.gateway(checks).await?;
    let deadline = Instant::now() + RECOVERY_WAIT;
    let mut before_done = Vec::new();
    loop {
        let result = gateway
            .get_checkout_status(pb::GetCheckoutStatusRequest {
                payment_id: payment_id.into(),
            })
            .await;
        let at = Instant::now();
        let view = match &result {
            Ok(response) => response.get_ref().checkout.clone().unwrap_or_default(),
            Err(_) => {
                return Err(checks
                    .setup_call("GetCheckoutStatus", result)
                    .err()
                    .unwrap_or(Abort));
            }
        };
        let (step, status) = (step_name(view.step), status_name(view.status));
        if step == "DONE" {
            checks.log("GetCheckoutStatus until step DONE", &result);
            if !before_done.is_empty() {
                let processing = before_done
                    .iter()
                    .all(|(step, status)| step == "PROCESSING" && status == "CONFIRMED");
                checks.record(
                    "OMPP-FLC-008",
                    "until the outcome is known, GetCheckoutStatus reports PROCESSING and CONFIRMED",
                    "PROCESSING CONFIRMED",
                    format!("{before_done:?}"),
                    processing,
                );
            }
            return Ok((view, at));
        }
        if at > deadline {
            return Err(checks.fail(
                "the checkout reaches step DONE",
                format!("still {step} {status} {} s later", RECOVERY_WAIT.as_secs()),
            ));
        }
        if before_done.last() != Some(&(step.clone(), status.clone())) {
            before_done.push((step, status));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the bank's log must show once a checkout whose first `ExecuteTransfer` failed is
/// reported: the outcome obtained after the failure and before the report, with the same
/// transfer and content throughout, booked once.
fn recovered_properly(
    checks: &Checks,
    label: &str,
    calls: &[Call],
    after: Instant,
    view: &pb::CheckoutView,
    reported_at: Instant,
) {
    let executes: Vec<&pb::ExecuteTransferRequest> =
        calls.iter().filter_map(|c| c.execute.as_ref()).collect();
    let first = executes.first().copied().cloned().unwrap_or_default();
    checks.record(
        "OMPP-FLC-008",
        format!("{label}: every ExecuteTransfer repeats the same transfer_id and content"),
        format!("{} identical requests", executes.len()),
        format!(
            "transfer_ids {:?}",
            executes.iter().map(|e| &e.transfer_id).collect::<Vec<_>>()
        ),
        !executes.is_empty() && executes.iter().all(|e| **e == first),
    );
    let obtained = calls.iter().find(|c| {
        c.transfer_id == first.transfer_id
            && c.answered.is_some()
            && c.at >= after
            && c.at <= reported_at
    });
    checks.record(
        "OMPP-BANK-009",
        format!("{label}: the outcome was obtained from the bank (GetTransfer or the identical ExecuteTransfer) before it was reported"),
        "an answered call before the report",
        match obtained {
            Some(call) if call.execute.is_some() => "ExecuteTransfer answered".to_owned(),
            Some(_) => "GetTransfer answered".to_owned(),
            None => "no answered call before the report".to_owned(),
        },
        obtained.is_some(),
    );
    checks.equal(
        "OMPP-BANK-009",
        format!("{label}: the checkout reports the bank's outcome, SETTLED with the transfer's id"),
        (
            "DONE".to_owned(),
            "SETTLED".to_owned(),
            first.transfer_id.clone(),
        ),
        (
            step_name(view.step),
            status_name(view.status),
            view.receipt
                .as_ref()
                .map(|r| r.transfer_id.clone())
                .unwrap_or_default(),
        ),
    );
}

async fn bank_answer_lost(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let support = support(target, checks)?;
    let bank = &support.parties.bank;
    for (fault, label) in [
        (Fault::LoseAnswer, "answer lost after booking"),
        (Fault::Unavailable, "refused before booking"),
    ] {
        let customer = payer(target, checks, FUNDS).await?;
        let cents = 1_900;
        let started = start_for(target, checks, "OMPP-BANK-009", &customer, cents, None).await?;
        bank.inject(&started.account, [fault]);
        let after = Instant::now();
        let answer = enter(
            target,
            checks,
            &started.payment_id,
            &started.session_token,
            &started.code,
        )
        .await?;
        let (view, reported_at) = reported(target, checks, &started.payment_id, answer).await?;
        let calls = bank.calls_debiting(&started.account);
        recovered_properly(checks, label, &calls, after, &view, reported_at);
        checks.equal(
            "OMPP-FLC-008",
            format!("{label}: the customer's account is debited once"),
            Some(FUNDS - cents),
            bank.balance(&started.account),
        );
    }
    Ok(())
}

async fn bank_unavailable(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let support = support(target, checks)?;
    let bank = &support.parties.bank;
    let customer = payer(target, checks, FUNDS).await?;
    let cents = 2_750;
    let started = start_for(target, checks, "OMPP-FLC-008", &customer, cents, None).await?;
    bank.hold(&started.account);
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        enter(
            target,
            checks,
            &started.payment_id,
            &started.session_token,
            &started.code,
        ),
    )
    .await;
    if let Ok(Ok(result)) = &answer {
        checks.log(
            "SubmitAuthorizationCode with the right code while the bank is unreachable",
            result,
        );
    }
    let answered = match &answer {
        Err(_) => "no answer within 5 s".to_owned(),
        Ok(Err(_)) => "the suite could not call".to_owned(),
        Ok(Ok(Ok(response))) => {
            let view = response.get_ref().checkout.clone().unwrap_or_default();
            format!("{} {}", step_name(view.step), status_name(view.status))
        }
        Ok(Ok(Err(status))) => crate::case::describe_status(status),
    };
    checks.record(
        "OMPP-BANK-009",
        "while the bank is unreachable, SubmitAuthorizationCode reports no outcome",
        "UPSTREAM_TIMEOUT, PROCESSING or no answer",
        answered.clone(),
        !answered.starts_with("DONE"),
    );
    let view = view_of(target, checks, &started.payment_id).await?;
    checks.equal(
        "OMPP-FLC-008",
        "while the bank is unreachable, GetCheckoutStatus reports PROCESSING and CONFIRMED",
        ("PROCESSING".to_owned(), "CONFIRMED".to_owned()),
        (step_name(view.step), status_name(view.status)),
    );
    let after = Instant::now();
    bank.release(&started.account);
    let (view, reported_at) = until_done(target, checks, &started.payment_id).await?;
    let calls = bank.calls_debiting(&started.account);
    recovered_properly(
        checks,
        "after the bank came back",
        &calls,
        after,
        &view,
        reported_at,
    );
    checks.equal(
        "OMPP-FLC-008",
        "the customer's account is debited once",
        Some(FUNDS - cents),
        bank.balance(&started.account),
    );
    Ok(())
}

async fn sms_not_accepted(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use crate::parties::sms::Fault as SmsFault;
    let support = support(target, checks)?;
    let sms = &support.parties.sms;
    let customer = payer(target, checks, FUNDS).await?;
    let mut merchant = target.merchant(checks).await?;
    let payment_id = checks
        .setup_call(
            "OpenCheckout",
            merchant
                .open_checkout(checkout_request(target, 990, None))
                .await,
        )?
        .payment
        .map(|p| p.payment_id)
        .unwrap_or_default();
    let mut gateway = target.gateway(checks).await?;
    let password = pb::SubmitPasswordRequest {
        payment_id: payment_id.clone(),
        phone_number: customer.phone.clone(),
        password: PASSWORD.into(),
    };
    let in_password_step = |when: &str, view: pb::CheckoutView| {
        checks.equal(
            "OMPP-FLC-014",
            format!("{when}: the checkout stays in step PASSWORD, PENDING_CUSTOMER"),
            ("PASSWORD".to_owned(), "PENDING_CUSTOMER".to_owned()),
            (step_name(view.step), status_name(view.status)),
        );
    };

    // The SMS center reports the message FAILED.
    sms.inject(&customer.phone, [SmsFault::Undeliverable]);
    let mut inbox = sms.inbox(&customer.phone);
    checks.reason(
        "OMPP-FLC-014",
        "an SMS reported FAILED makes SubmitPassword fail with SMS_UNDELIVERABLE",
        gateway.submit_password(password.clone()).await,
        R::SmsUndeliverable,
    );
    let discarded = inbox
        .next(SMS_WAIT)
        .await
        .map(|m| code_in(&m.text))
        .map_err(|why| checks.fail("the system submitted the code's SMS", why))?;
    in_password_step(
        "after SMS_UNDELIVERABLE",
        view_of(target, checks, &payment_id).await?,
    );

    // The SMS center refuses service: every retry is refused too.
    sms.hold(&customer.phone, SmsFault::Unavailable);
    let before = sms.submissions_to(&customer.phone).len();
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        gateway.submit_password(password.clone()),
    )
    .await
    .map_err(|_| checks.fail("SubmitPassword answers", "no answer within 10 s"))?;
    sms.release(&customer.phone);
    checks.reason(
        "OMPP-FLC-014",
        "an SMS center refusing service makes SubmitPassword fail with SERVICE_UNAVAILABLE",
        refused,
        R::ServiceUnavailable,
    );
    let retries: Vec<String> = sms.submissions_to(&customer.phone)[before..]
        .iter()
        .map(|s| s.request.message_id.clone())
        .collect();
    checks.record(
        "OMPP-FLC-014",
        "the system's tries of one SMS all carry the same message_id",
        "one or more submissions of one message_id",
        format!("{retries:?}"),
        !retries.is_empty() && retries.iter().all(|id| *id == retries[0]),
    );
    in_password_step(
        "after SERVICE_UNAVAILABLE",
        view_of(target, checks, &payment_id).await?,
    );

    // The customer tries again once the SMS center takes messages.
    let mut inbox = sms.inbox(&customer.phone);
    let sent = checks.succeeds(
        "OMPP-FLC-014",
        "SubmitPassword succeeds once the SMS center takes the message",
        gateway.submit_password(password).await,
    )?;
    let view = sent.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-014",
        "the code step starts with the count of wrong entries unchanged",
        ("AUTHORIZATION_CODE".to_owned(), 5),
        (step_name(view.step), view.code_attempts_left),
    );
    let code = inbox
        .next(SMS_WAIT)
        .await
        .map(|m| code_in(&m.text))
        .map_err(|why| checks.fail("the new code's SMS reaches the suite's SMS center", why))?;
    if discarded != code {
        checks.reason(
            "OMPP-FLC-014",
            "the code of the undeliverable SMS was discarded: AUTHORIZATION_CODE_INCORRECT",
            enter(target, checks, &payment_id, &sent.session_token, &discarded).await?,
            R::AuthorizationCodeIncorrect,
        );
    }
    let done = checks.succeeds(
        "OMPP-FLC-014",
        "the code of the accepted SMS settles the checkout",
        enter(target, checks, &payment_id, &sent.session_token, &code).await?,
    )?;
    let view = done.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-014",
        "the checkout is DONE and SETTLED",
        (
            "DONE".to_owned(),
            "SETTLED".to_owned(),
            "UNSPECIFIED".to_owned(),
        ),
        (
            step_name(view.step),
            status_name(view.status),
            reason_name(view.failure_reason),
        ),
    );
    Ok(())
}

/// Every step is a setup step: only the remittance text is judged, so that this `SHOULD` case
/// names no `MUST` requirement.
async fn remittance_info(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let support = support(target, checks)?;
    let customer = payer(target, checks, FUNDS).await?;
    let mut merchant = target.merchant(checks).await?;
    let request = checkout_request(target, 1_250, None);
    let reference = request.merchant_reference.clone();
    let payment_id = checks
        .setup_call("OpenCheckout", merchant.open_checkout(request).await)?
        .payment
        .map(|p| p.payment_id)
        .unwrap_or_default();
    let mut inbox = support.parties.sms.inbox(&customer.phone);
    let mut gateway = target.gateway(checks).await?;
    let sent = checks.setup_call(
        "SubmitPassword",
        gateway
            .submit_password(pb::SubmitPasswordRequest {
                payment_id: payment_id.clone(),
                phone_number: customer.phone.clone(),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let merchant_name = sent.checkout.map(|c| c.merchant_name).unwrap_or_default();
    let code = checks.setup(
        "the code's SMS reaches the suite's SMS center",
        inbox.next(SMS_WAIT).await.map(|m| code_in(&m.text)),
    )?;
    checks.setup_call(
        "SubmitAuthorizationCode",
        enter(target, checks, &payment_id, &sent.session_token, &code).await?,
    )?;
    let remittance = checks.setup(
        "the suite's bank received the checkout's ExecuteTransfer",
        support
            .parties
            .bank
            .calls_debiting(&customer.account)
            .into_iter()
            .find_map(|c| c.execute.map(|e| e.remittance_info))
            .ok_or("no ExecuteTransfer"),
    )?;
    checks.record(
        "OMPP-FLC-013",
        "remittance_info holds the merchant's display name and the merchant_reference, within 140 characters",
        format!("{merchant_name:?} and {reference:?}"),
        format!("{remittance:?}"),
        !merchant_name.is_empty()
            && remittance.contains(&merchant_name)
            && remittance.contains(&reference)
            && remittance.chars().count() <= 140,
    );
    Ok(())
}

/// How long `oc.flow-c.sms-no-answer` waits for the system to give up on a silent SMS center.
const SILENCE_WAIT: Duration = Duration::from_secs(20);

async fn sms_no_answer(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use crate::parties::sms::Fault as SmsFault;
    let support = support(target, checks)?;
    let sms = &support.parties.sms;
    let customer = payer(target, checks, FUNDS).await?;
    let mut merchant = target.merchant(checks).await?;
    let payment_id = checks
        .setup_call(
            "OpenCheckout",
            merchant
                .open_checkout(checkout_request(target, 640, None))
                .await,
        )?
        .payment
        .map(|p| p.payment_id)
        .unwrap_or_default();
    let mut gateway = target.gateway(checks).await?;
    let password = pb::SubmitPasswordRequest {
        payment_id: payment_id.clone(),
        phone_number: customer.phone.clone(),
        password: PASSWORD.into(),
    };
    sms.hold(&customer.phone, SmsFault::Silent);
    let silent =
        tokio::time::timeout(SILENCE_WAIT, gateway.submit_password(password.clone())).await;
    sms.release(&customer.phone);
    let silent = silent.map_err(|_| {
        checks.fail(
            "SubmitPassword answers while the SMS center is silent",
            format!("no answer within {} s", SILENCE_WAIT.as_secs()),
        )
    })?;
    checks.reason(
        "OMPP-FLC-014",
        "an SMS center that does not answer makes SubmitPassword fail with UPSTREAM_TIMEOUT",
        silent,
        R::UpstreamTimeout,
    );
    let tries: Vec<String> = sms
        .submissions_to(&customer.phone)
        .iter()
        .map(|s| s.request.message_id.clone())
        .collect();
    checks.record(
        "OMPP-FLC-014",
        "the system's tries of the SMS all carry the same message_id",
        "one or more submissions of one message_id",
        format!("{tries:?}"),
        !tries.is_empty() && tries.iter().all(|id| *id == tries[0]),
    );
    let view = view_of(target, checks, &payment_id).await?;
    checks.equal(
        "OMPP-FLC-014",
        "the checkout stays in step PASSWORD, PENDING_CUSTOMER",
        ("PASSWORD".to_owned(), "PENDING_CUSTOMER".to_owned()),
        (step_name(view.step), status_name(view.status)),
    );
    let sent = checks.succeeds(
        "OMPP-FLC-014",
        "SubmitPassword succeeds once the SMS center answers",
        gateway.submit_password(password).await,
    )?;
    let view = sent.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-014",
        "the code step starts with the count of wrong entries unchanged",
        ("AUTHORIZATION_CODE".to_owned(), 5),
        (step_name(view.step), view.code_attempts_left),
    );
    Ok(())
}
