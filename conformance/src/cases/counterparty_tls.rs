//! The operation center as a TLS client (OMPP-TLS-012, OMPP-SEC-009): the suite's bank
//! processor presents, for one top-up, a certificate or a protocol version the network server
//! must refuse, and the suite watches the handshakes at its end.
//!
//! Each case switches the presentation ([`crate::parties::presentation`]), which severs the
//! network server's open connections, asks for a top-up (the network server's next
//! `ExecuteTransfer` opens a new connection), and switches back. A network server that checks
//! the bank processor completes no handshake meanwhile, and the top-up is not credited. The
//! cases run alone ([`EXCLUSIVE`]): every other case that calls the bank would fail meanwhile.

use std::time::Duration;

use ompp::proto::v1 as pb;

use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::parties::presentation::{Presentation, Presenter};
use crate::target::{PASSWORD, Target, money};

/// Cases that make the suite's bank processor unusable for everyone else while they run.
pub(super) const EXCLUSIVE: &[&str] = &[
    "oc.tls.counterparty-unknown-ca",
    "oc.tls.counterparty-other-identity",
    "oc.tls.counterparty-tls12-only",
];

/// Top-up attempts: the first may fail on a connection the network server has not yet seen
/// closed, without a new handshake.
const ATTEMPTS: usize = 3;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.tls.counterparty-unknown-ca",
            title: "the network server refuses a bank processor whose certificate, of the expected identity, chains to a CA it does not trust",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-012"],
            run: body!(unknown_ca),
        },
        Case {
            id: "oc.tls.counterparty-other-identity",
            title: "the network server refuses a trusted bank processor certificate of another identity than the one it is configured to call",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-012"],
            run: body!(other_identity),
        },
        Case {
            id: "oc.tls.counterparty-tls12-only",
            title: "the network server fails the call rather than connect to a bank processor that offers only TLS 1.2",
            role: OC,
            profile: None,
            requirements: &["OMPP-SEC-009"],
            run: body!(tls12_only),
        },
    ]
}

async fn unknown_ca(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(
        target,
        checks,
        Presentation::UnknownCa,
        "OMPP-TLS-012",
        "a certificate from a CA it does not trust",
    )
    .await
}

async fn other_identity(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(
        target,
        checks,
        Presentation::OtherIdentity,
        "OMPP-TLS-012",
        "a trusted certificate of another bank",
    )
    .await
}

async fn tls12_only(target: &Target, checks: &Checks) -> Result<(), Abort> {
    refused(
        target,
        checks,
        Presentation::Tls12Only,
        "OMPP-SEC-009",
        "only TLS 1.2",
    )
    .await
}

/// Switches the bank back to its genuine presentation when dropped, whatever the case did.
struct Genuine<'a>(&'a Presenter);

impl Drop for Genuine<'_> {
    fn drop(&mut self) {
        let _ = self.0.present(Presentation::Genuine);
    }
}

async fn refused(
    target: &Target,
    checks: &Checks,
    presentation: Presentation,
    requirement: &str,
    what: &str,
) -> Result<(), Abort> {
    let support = super::flow_c::support(target, checks)?;
    let presenter = &support.parties.presenter;
    if !presenter.can(presentation) {
        checks.setup(
            "a certificate the system trusts for another bank (tls.counterparty_other_server)",
            Err("the manifest does not give it"),
        )?;
    }
    let mut ana = target.customer(checks, 0).await?;
    let before = ana.balance(checks).await?;
    let key = target.key("counterparty-tls");
    let request = pb::TopUpWalletRequest {
        amount: Some(money(700)),
        password: PASSWORD.into(),
        idempotency_key: key,
    };
    let switched = {
        let _genuine = Genuine(presenter);
        checks.setup(
            "the suite's bank processor switches what it presents",
            presenter.present(presentation),
        )?;
        // The network server sees its connection closed and opens a new one for the next call.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut results = Vec::new();
        for _ in 0..ATTEMPTS {
            let result = ana.device.top_up_wallet(request.clone()).await;
            let met = presenter.handshakes(presentation);
            let ended = met.refused > 0 || met.completed > 0 || result.is_ok();
            results.push(result);
            if ended {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Read before the genuine presentation is back, after which the system may complete
        // the pending top-up on its own.
        let during = ana.balance(checks).await?;
        (results, presenter.handshakes(presentation), during)
    };
    let (results, handshakes, during) = switched;
    let Some(last) = results.into_iter().last() else {
        return Err(checks.fail("the top-up is asked for", "no attempt was made"));
    };
    checks.log(
        &format!("TopUpWallet while the bank processor presents {what}"),
        &last,
    );
    checks.equal(
        requirement,
        format!("no TLS handshake with a bank processor presenting {what} completes"),
        0,
        handshakes.completed,
    );
    checks.record(
        requirement,
        format!("the network server tried to connect to the bank processor presenting {what}"),
        "at least one handshake",
        format!("{} refused", handshakes.refused),
        handshakes.refused > 0 || handshakes.completed > 0,
    );
    checks.record(
        requirement,
        format!("a top-up while the bank processor presents {what} is not credited"),
        "an error",
        match &last {
            Ok(_) => "OK (the call succeeded)".to_owned(),
            Err(status) => crate::case::describe_status(status),
        },
        last.is_err(),
    );
    let credited = if last.is_ok() { 700 } else { 0 };
    checks.equal(
        requirement,
        "meanwhile the wallet changed only by a top-up the system answered OK",
        before + credited,
        during,
    );
    Ok(())
}
