//! The operation center as a TLS client (OMPP-TLS-012, OMPP-SEC-009): the suite's bank
//! processor presents, for one top-up, and its SMS center, for one checkout's password step, a
//! certificate or a protocol version the network server must refuse, and the suite watches the
//! handshakes at its end.
//!
//! Each half switches the presentation ([`crate::parties::presentation`]), which severs the
//! network server's open connections, makes the call (the network server's next
//! `ExecuteTransfer` or `SubmitSms` opens a new connection), and switches back. A network
//! server that checks its counterparty completes no handshake meanwhile, and the call fails.
//! The SMS half runs only for a system that declares flow C. The cases run alone
//! ([`EXCLUSIVE`]): every other case that calls the bank or the SMS center would fail
//! meanwhile.

use std::future::Future;
use std::time::Duration;

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;

use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::parties::presentation::{Handshakes, Presentation, Presenter};
use crate::target::{PASSWORD, Target, money};

/// Cases that make the suite's bank processor and SMS center unusable for everyone else while
/// they run.
pub(super) const EXCLUSIVE: &[&str] = &[
    "oc.tls.counterparty-unknown-ca",
    "oc.tls.counterparty-other-identity",
    "oc.tls.counterparty-tls12-only",
];

/// Attempts of the call: the first may fail on a connection the network server has not yet seen
/// closed, without a new handshake.
const ATTEMPTS: usize = 3;

/// The top-up asked for while the bank processor presents what it must not.
const TOP_UP: i64 = 700;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.tls.counterparty-unknown-ca",
            title: "the network server refuses a bank processor or SMS center whose certificate, of the expected identity, chains to a CA it does not trust",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-012"],
            run: body!(unknown_ca),
        },
        Case {
            id: "oc.tls.counterparty-other-identity",
            title: "the network server refuses a trusted certificate of another identity than the bank processor or SMS center it is configured to call",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-012"],
            run: body!(other_identity),
        },
        Case {
            id: "oc.tls.counterparty-tls12-only",
            title: "the network server fails the call rather than connect to a bank processor or SMS center that offers only TLS 1.2",
            role: OC,
            profile: None,
            requirements: &["OMPP-SEC-009"],
            run: body!(tls12_only),
        },
    ]
}

async fn unknown_ca(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(target, checks, Presentation::UnknownCa).await
}

async fn other_identity(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(target, checks, Presentation::OtherIdentity).await
}

async fn tls12_only(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(target, checks, Presentation::Tls12Only).await
}

/// The requirement a presentation checks, and how the assertions name it.
fn about(presentation: Presentation) -> (&'static str, &'static str) {
    match presentation {
        Presentation::UnknownCa => ("OMPP-TLS-012", "a certificate from a CA it does not trust"),
        Presentation::OtherIdentity => {
            ("OMPP-TLS-012", "a trusted certificate of another identity")
        }
        Presentation::Tls12Only => ("OMPP-SEC-009", "only TLS 1.2"),
        Presentation::Genuine => ("OMPP-TLS-012", "its genuine certificate"),
    }
}

/// Switches the bank back to its genuine presentation when dropped, whatever the case did.
struct Genuine<'a>(&'a Presenter);

impl Drop for Genuine<'_> {
    fn drop(&mut self) {
        let _ = self.0.present(Presentation::Genuine);
    }
}

/// The bank half, and, for a system with flow C, the SMS center half.
async fn refused(
    target: &Target,
    checks: &Checks,
    presentation: Presentation,
) -> Result<(), Abort> {
    let (requirement, what) = about(presentation);
    let support = super::flow_c::support(target, checks)?;
    let parties = &support.parties;
    if !parties.bank_presenter.can(presentation) || !parties.sms_presenter.can(presentation) {
        checks.setup(
            "a certificate the system trusts for another bank (tls.counterparty_other_server)",
            Err("the manifest does not give it"),
        )?;
    }
    bank_refused(
        target,
        checks,
        &parties.bank_presenter,
        presentation,
        requirement,
        what,
    )
    .await?;
    if target.profiles.contains(&Profile::FlowC) {
        sms_refused(
            target,
            checks,
            &parties.sms_presenter,
            presentation,
            requirement,
            what,
        )
        .await?;
    }
    Ok(())
}

/// A top-up while the bank processor presents `presentation`.
async fn bank_refused(
    target: &Target,
    checks: &Checks,
    presenter: &Presenter,
    presentation: Presentation,
    requirement: &str,
    what: &str,
) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let before = ana.balance(checks).await?;
    let request = pb::TopUpWalletRequest {
        amount: Some(money(TOP_UP)),
        password: PASSWORD.into(),
        idempotency_key: target.key("counterparty-tls"),
    };
    let (last, handshakes, during) = {
        let _genuine = Genuine(presenter);
        let (last, handshakes) = while_presenting(checks, presenter, presentation, || {
            let (mut device, request) = (ana.device.clone(), request.clone());
            async move { device.top_up_wallet(request).await }
        })
        .await?;
        // Read before the genuine presentation is back, after which the system may complete
        // the pending top-up on its own.
        (last, handshakes, ana.balance(checks).await?)
    };
    let party = "bank processor";
    checks.log(
        &format!("TopUpWallet while the {party} presents {what}"),
        &last,
    );
    judge(
        checks,
        requirement,
        party,
        what,
        handshakes,
        &last,
        "a top-up",
    );
    let credited = if last.is_ok() { TOP_UP } else { 0 };
    checks.equal(
        requirement,
        "meanwhile the wallet changed only by a top-up the system answered OK",
        before + credited,
        during,
    );
    Ok(())
}

/// A checkout's password step, whose code goes out by SMS, while the SMS center presents
/// `presentation`.
async fn sms_refused(
    target: &Target,
    checks: &Checks,
    presenter: &Presenter,
    presentation: Presentation,
    requirement: &str,
    what: &str,
) -> Result<(), Abort> {
    let support = super::flow_c::support(target, checks)?;
    let payer = super::flow_c::payer(target, checks, super::flow_c::FUNDS).await?;
    let mut merchant = target.merchant(checks).await?;
    let payment_id = checks
        .setup_call(
            "OpenCheckout",
            merchant
                .open_checkout(super::flow_c::checkout_request(target, 650, None))
                .await,
        )?
        .payment
        .map(|p| p.payment_id)
        .unwrap_or_default();
    let gateway = target.gateway(checks).await?;
    let request = pb::SubmitPasswordRequest {
        payment_id,
        phone_number: payer.phone.clone(),
        password: PASSWORD.into(),
    };
    let (last, handshakes) = {
        let _genuine = Genuine(presenter);
        while_presenting(checks, presenter, presentation, || {
            let (mut gateway, request) = (gateway.clone(), request.clone());
            async move { gateway.submit_password(request).await }
        })
        .await?
    };
    let party = "SMS center";
    checks.log(
        &format!("SubmitPassword while the {party} presents {what}"),
        &last,
    );
    judge(
        checks,
        requirement,
        party,
        what,
        handshakes,
        &last,
        "a password step, whose code goes out by SMS,",
    );
    checks.equal(
        requirement,
        "the SMS center received no message for the payer",
        0,
        support.parties.sms.submissions_to(&payer.phone).len(),
    );
    Ok(())
}

/// Switches `presenter` to `presentation` and calls `call` until the system has met it in a
/// handshake (or the call succeeds), [`ATTEMPTS`] times at most; returns the last answer and the
/// handshakes. The caller switches back.
async fn while_presenting<T, F, Fut>(
    checks: &Checks,
    presenter: &Presenter,
    presentation: Presentation,
    call: F,
) -> Result<(Result<tonic::Response<T>, tonic::Status>, Handshakes), Abort>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    checks.setup(
        "the suite's counterparty switches what it presents",
        presenter.present(presentation),
    )?;
    // The system sees its connection closed and opens a new one for its next call.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut attempt = 1;
    loop {
        let result = call().await;
        let met = presenter.handshakes(presentation);
        if met.refused > 0 || met.completed > 0 || result.is_ok() || attempt == ATTEMPTS {
            return Ok((result, met));
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Records the verdicts every half shares: no handshake completed, one was tried, the call
/// failed.
fn judge<T>(
    checks: &Checks,
    requirement: &str,
    party: &str,
    what: &str,
    handshakes: Handshakes,
    last: &Result<tonic::Response<T>, tonic::Status>,
    call: &str,
) {
    checks.equal(
        requirement,
        format!("no TLS handshake with the {party} presenting {what} completes"),
        0,
        handshakes.completed,
    );
    checks.record(
        requirement,
        format!("the network server tried to connect to the {party} presenting {what}"),
        "at least one handshake",
        format!("{} refused", handshakes.refused),
        handshakes.refused > 0 || handshakes.completed > 0,
    );
    checks.record(
        requirement,
        format!("{call} while the {party} presents {what} fails"),
        "an error",
        match last {
            Ok(_) => "OK (the call succeeded)".to_owned(),
            Err(status) => crate::case::describe_status(status),
        },
        last.is_err(),
    );
}
