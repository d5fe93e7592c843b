//! The catalogue of cases. Every case names the requirement ids it decides, and every
//! assertion names one of them (OMPP-CONF-016).

use ompp::conformance::{Profile, RoleUnderTest};

use crate::case::Case;

mod bank;
mod code_format;
mod counterparty_tls;
mod create_order;
mod devices;
mod expiry;
mod fields;
mod flow_a;
mod flow_b;
mod flow_c;
mod flow_c_bank;
mod flow_c_codes;
mod ledger;
mod link;
mod link_rate;
mod link_sender;
mod payee;
mod registration;
mod secrets;
mod security;
mod sms;
mod tls_more;
mod top_up;
mod wire;

/// Turns `async fn body(&Target, &Checks) -> Result<(), Abort>` into a [`crate::case::CaseFn`].
macro_rules! body {
    ($f:path) => {
        |target: std::sync::Arc<crate::target::Target>,
         checks: crate::case::Checks|
         -> crate::case::CaseFuture { Box::pin(async move { $f(&target, &checks).await }) }
    };
}
pub(crate) use body;

const OC: RoleUnderTest = RoleUnderTest::OperationCenter;

/// Every case of the suite, in a stable order.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(registration::cases());
    cases.extend(flow_a::cases());
    cases.extend(flow_a::more_cases());
    cases.extend(flow_a::isolation_cases());
    cases.extend(security::cases());
    cases.extend(flow_b::cases());
    cases.extend(flow_c::cases());
    cases.extend(flow_c_codes::cases());
    cases.extend(flow_c_bank::cases());
    cases.extend(link::cases());
    cases.extend(link_sender::cases());
    cases.extend(link_rate::cases());
    cases.extend(fields::cases());
    cases.extend(code_format::cases());
    cases.extend(bank::cases());
    cases.extend(sms::cases());
    cases.extend(wire::cases());
    cases.extend(devices::cases());
    cases.extend(payee::cases());
    cases.extend(ledger::cases());
    cases.extend(top_up::cases());
    cases.extend(tls_more::cases());
    cases.extend(counterparty_tls::cases());
    cases.extend(secrets::cases());
    cases.extend(create_order::cases());
    cases.extend(expiry::cases());
    cases
}

/// Whether the case waits for protocol time (an expiry) and so takes tens of seconds: the
/// runner starts such cases first and `run --skip-waiting` leaves them out.
pub fn waits(id: &str) -> bool {
    expiry::WAITING.contains(&id)
}

/// Whether the case must run alone: it sends load (OMPP-CONF-010), or makes the suite's bank
/// processor refuse everyone for a moment. The runner runs such cases one at a time, once every
/// other case that does not wait for protocol time has ended.
pub fn exclusive(id: &str) -> bool {
    sends_load(id) || counterparty_tls::EXCLUSIVE.contains(&id)
}

/// Whether the case sends load (OMPP-CONF-010): seconds of the machine's whole capacity.
pub fn sends_load(id: &str) -> bool {
    link_rate::EXCLUSIVE.contains(&id)
}

/// The case with id `id`.
pub fn get(id: &str) -> Option<Case> {
    all().into_iter().find(|c| c.id == id)
}

/// The profile name as the manifest writes it.
pub fn profile_name(profile: Option<Profile>) -> &'static str {
    match profile {
        Some(Profile::Registration) => "registration",
        Some(Profile::FlowA) => "flow_a",
        Some(Profile::FlowB) => "flow_b",
        Some(Profile::FlowC) => "flow_c",
        Some(_) => "other",
        None => "all",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_name_known_non_audit_requirements() {
        let cases = all();
        assert!(!cases.is_empty());
        let mut seen = HashSet::new();
        for case in &cases {
            assert!(seen.insert(case.id), "duplicate case id {}", case.id);
            let prefix = match case.role {
                RoleUnderTest::OperationCenter => "oc.",
                RoleUnderTest::BankProcessor => "bp.",
                RoleUnderTest::SmsCenter => "sc.",
                _ => "?",
            };
            assert!(case.id.starts_with(prefix), "{}", case.id);
            assert!(
                !case.requirements.is_empty(),
                "{} names no requirement",
                case.id
            );
            for id in case.requirements {
                let requirement = ompp::requirements::get(id)
                    .unwrap_or_else(|| panic!("{}: unknown requirement {id}", case.id));
                // OMPP-CONF-005: audit requirements get no verdict.
                assert!(
                    !requirement.statement.starts_with("*(audit)*"),
                    "{}: names the audit requirement {id}",
                    case.id
                );
            }
        }
    }
}
