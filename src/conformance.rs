//! The conformance suite's input and output formats: the vendor manifest (TOML) and the report
//! (JSON). They are part of the protocol's deliverables, so they live here, next to the other
//! formats, and are published as JSON Schemas in `spec/schemas/`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::requirements::Level;

/// The kind of system a conformance run certifies.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleUnderTest {
    /// An operation center: network server and mobile server.
    OperationCenter,
    /// A bank processor.
    BankProcessor,
    /// An SMS center.
    SmsCenter,
}

/// A group of behaviour a system declares it implements; cases of undeclared profiles are
/// reported `unsupported`, never failed.
#[non_exhaustive]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Registration of merchants, customers and devices.
    Registration,
    /// Flow A, merchant-initiated push payment.
    FlowA,
    /// Flow B, payee-presented code.
    FlowB,
    /// Flow C, online checkout with an authorization code.
    FlowC,
}

/// Where the system under test listens (`https://host:port`), per service endpoint it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Network server, public endpoint (merchant, registration and gateway services).
    pub network: Option<String>,
    /// Mobile server, device endpoint.
    pub mobile: Option<String>,
    /// Bank processor.
    pub bank: Option<String>,
    /// SMS center, `SmsCenterService`.
    pub sms: Option<String>,
    /// SMS center, `HandsetService` (the handset side), where the suite plays handsets when it
    /// certifies an SMS center.
    #[serde(default)]
    pub handset: Option<String>,
    /// Network server, `NetworkLinkService` (the secure link), for the firewall cases
    /// (OMPP-CONF-009).
    #[serde(default)]
    pub network_link: Option<String>,
    /// Mobile server, `MobileLinkService` (the secure link), for the firewall cases.
    #[serde(default)]
    pub mobile_link: Option<String>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// The TLS material the suite uses: trust anchors for the system's certificates, and the
/// client identities the system accepts from the parties the suite plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsMaterial {
    /// PEM file with the CA certificates that anchor the system's server certificates.
    pub trust_anchors: String,
    /// The suite's merchant identity (`ompp://merchant/<id>`), for merchant-facing services.
    pub merchant: Option<Identity>,
    /// The suite's network server identity, when it plays the network server (bank processor or
    /// SMS center under test).
    pub network: Option<Identity>,
    /// The identity the suite's own bank processor (and, without `counterparty_sms_server`, its
    /// SMS center) presents to the system.
    pub counterparty_server: Option<Identity>,
    /// The identity the suite's SMS center presents, when the system expects another identity
    /// from its SMS center than from its bank processor (OMPP-TLS-012).
    #[serde(default)]
    pub counterparty_sms_server: Option<Identity>,
    /// A certificate, with its key, from a CA the system trusts for its bank processor, naming
    /// a bank identity other than the one the system is configured to call (for example
    /// `ompp://bank/BP-OTHER`): the suite's bank processor presents it once, and the system
    /// must refuse the handshake (OMPP-TLS-012). Without it that case cannot run.
    #[serde(default)]
    pub counterparty_other_server: Option<Identity>,
    /// PEM CA file the suite uses to check the system when it calls the suite's counterparties.
    pub counterparty_client_ca: Option<String>,
    /// A merchant certificate, issued by the system's operator CA, whose validity period has
    /// ended, with its key: the suite presents it to check that the system refuses it
    /// (OMPP-TLS-007). Without it that case cannot run against a vendor system.
    #[serde(default)]
    pub expired_merchant: Option<Identity>,
    /// A valid merchant certificate from the system's operator CA for a merchant id the system
    /// has not registered, with its key (OMPP-TLS-011). Without it that case cannot run.
    #[serde(default)]
    pub unregistered_merchant: Option<Identity>,
    /// A valid device certificate from the system's operator CA for a device id the system has
    /// not paired, with its key (OMPP-TLS-011). Without it that case cannot run.
    #[serde(default)]
    pub unpaired_device: Option<Identity>,
    /// The secure link's material, for the firewall cases (OMPP-CONF-009).
    #[serde(default)]
    pub link: Option<LinkMaterial>,
}

/// What the suite needs to test the secure-link firewall of an operation center from outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkMaterial {
    /// PEM CA file that anchors both link servers' certificates.
    pub trust_anchors: String,
    /// A link identity the network server allow-lists as a mobile server.
    pub as_mobile: Identity,
    /// A link identity the mobile server allow-lists as a network server.
    pub as_network: Identity,
    /// A link identity from the link CA that neither side allow-lists.
    pub unlisted: Identity,
    /// A second link identity the network server allow-lists as a mobile server, other than
    /// `as_mobile` and used by no real mobile server: the rate-limit case sends its load with
    /// it (OMPP-LINK-005), so that the real link's bucket stays full. Without it that case
    /// cannot run.
    #[serde(default)]
    pub second_mobile: Option<Identity>,
}

/// Where the suite's own counterparties listen, for an operation center under test configured
/// to call them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counterparties {
    /// Listen address (`host:port`) of the suite's bank processor.
    pub bank_listen: Option<String>,
    /// Listen address (`host:port`) of the suite's SMS center.
    pub sms_listen: Option<String>,
    /// Listen address (`host:port`) of the suite on the secure link: the network server is
    /// configured to call the mobile server's `MobileLinkService` here, and the suite forwards
    /// every call to `endpoints.mobile_link` (needs `tls.link`), to judge the network server as
    /// a secure-link sender (OMPP-LINK-010). Without it those cases cannot run.
    #[serde(default)]
    pub link_listen: Option<String>,
    /// The `bank_id` the suite's bank processor serves: the customers the suite registers get
    /// accounts under it, and the system's merchant account must be one of `bank_accounts`.
    #[serde(default)]
    pub bank_id: Option<String>,
    /// Account numbers the suite's bank processor holds under `bank_id` from the start, with a
    /// zero balance: the account of the manifest's `tls.merchant`, which checkouts credit, and
    /// the operator's own account, which every wallet top-up credits (OMPP-LEDGER-010).
    #[serde(default)]
    pub bank_accounts: Vec<String>,
}

/// How the suite gets the fixtures it needs (merchants, customers, devices, accounts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Enrollment tokens the suite may redeem through `RegistrationService.RegisterMerchant`.
    #[serde(default)]
    pub enrollment_tokens: Vec<String>,
    /// Bank accounts (`bank_id/account_number`) with funds, for a bank processor under test,
    /// keyed by a name the cases use.
    #[serde(default)]
    pub bank_accounts: BTreeMap<String, String>,
}

/// A case the vendor expects to fail, and why. An expected failure that passes, or an entry
/// that names no case, fails the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailure {
    /// The case id, or a glob over case ids.
    pub case: String,
    /// Why it fails; copied into the report.
    pub reason: String,
}

/// The vendor manifest: what is under test and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The role under test.
    pub role: RoleUnderTest,
    /// The profiles the system implements.
    pub profiles: Vec<Profile>,
    /// Where it listens.
    pub endpoints: Endpoints,
    /// TLS material.
    pub tls: TlsMaterial,
    /// The suite's own counterparties.
    #[serde(default)]
    pub counterparties: Counterparties,
    /// Fixture provisioning.
    #[serde(default)]
    pub fixtures: Fixtures,
    /// Cases expected to fail.
    #[serde(default)]
    pub expected_failures: Vec<ExpectedFailure>,
}

/// A case's outcome.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every assertion held.
    Pass,
    /// An assertion of a `MUST` case failed: the system does not conform (OMPP-CONF-003).
    Fail,
    /// An assertion of a `SHOULD` case failed: reported, never by itself non-conformant
    /// (OMPP-CONF-004).
    Warn,
    /// Not run: the case belongs to a profile (a capability) the manifest declares absent
    /// (OMPP-CONF-013).
    Unsupported,
    /// The suite could not run the case (a fixture or connection it needed failed before any
    /// judged step); no verdict on the system, and a `MUST` case with it blocks conformance
    /// (OMPP-CONF-014).
    Error,
    /// Failed, and the manifest said it would.
    ExpectedFailure,
    /// Passed although the manifest said it would fail: fails the run.
    UnexpectedPass,
}

/// One checked statement inside a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assertion {
    /// What was checked.
    pub description: String,
    /// The requirement it decides.
    pub requirement: String,
    /// What the requirement expects, as observed on the wire.
    pub expected: String,
    /// What crossed the wire.
    pub actual: String,
    /// Whether they agree.
    pub passed: bool,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseResult {
    /// Stable case id, e.g. `oc.flow-a.wrong-password-three-times`.
    pub id: String,
    /// Title.
    pub title: String,
    /// The role it certifies.
    pub role: RoleUnderTest,
    /// Its level: a failed MUST case fails the run, a failed SHOULD case is reported.
    pub level: Level,
    /// The requirement ids it checks.
    pub requirements: Vec<String>,
    /// The outcome.
    pub verdict: Verdict,
    /// The manifest's reason, for an expected failure.
    pub expected_failure_reason: Option<String>,
    /// Wall time spent, in milliseconds.
    pub duration_ms: u64,
    /// Every assertion made, passed or not.
    pub assertions: Vec<Assertion>,
    /// The profile the case belongs to; absent for a case every system of its role must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Cases that passed.
    pub passed: u32,
    /// `MUST` cases that failed.
    pub failed: u32,
    /// `SHOULD` cases that failed.
    pub warnings: u32,
    /// Cases of a profile the manifest declares absent.
    pub unsupported: u32,
    /// Cases the suite could not run.
    pub errors: u32,
    /// Cases that failed as the manifest expected.
    pub expected_failures: u32,
    /// Cases that passed against the manifest's expectation.
    pub unexpected_passes: u32,
}

/// A conformance report: the evidence a vendor hands to an auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Version of the suite that produced it.
    pub suite_version: String,
    /// Protocol version certified against (`ompp.v1`).
    pub protocol_version: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// When it finished (RFC 3339, UTC).
    pub finished_at: String,
    /// The role certified.
    pub role: RoleUnderTest,
    /// The profiles declared.
    pub profiles: Vec<Profile>,
    /// The endpoints tested.
    pub endpoints: Endpoints,
    /// Verdict counts.
    pub summary: Summary,
    /// Whether the system conforms: no failed MUST case and no unexpected pass.
    pub conformant: bool,
    /// Every case.
    pub cases: Vec<CaseResult>,
    /// Remarks on how the run was made that a reader of the verdicts needs (for example a run
    /// restricted to some cases, or counterparties the suite did not play itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One step of a case's transcript in the evidence folder: what the suite did and what the
/// system answered, with passwords, codes, tokens and keys redacted (OMPP-CONF-015).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TranscriptStep {
    /// What the suite did.
    pub step: String,
    /// `ok`, or the gRPC status code.
    pub outcome: String,
    /// The response message, or the OMPP error reason and metadata.
    pub answer: String,
}

/// A case's transcript: `evidence/transcripts/<case id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Transcript {
    /// The case id.
    pub case: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Every step, in order.
    pub steps: Vec<TranscriptStep>,
}

/// A file of the evidence folder and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HashedFile {
    /// Path relative to the report directory.
    pub path: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// `evidence/hashes.json`: what produced the report and the digest of every file written, so
/// that an auditor can tell the evidence was not altered (OMPP-CONF-015).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceIndex {
    /// Version of the suite.
    pub suite_version: String,
    /// SHA-256 of the suite's executable that ran.
    pub suite_binary_sha256: String,
    /// Protocol version (`ompp.v1`).
    pub protocol_version: String,
    /// SHA-256 of the requirement registry (`spec/requirements.json`) the suite embeds.
    pub spec_requirements_sha256: String,
    /// SHA-256 of the manifest file; absent for a run against the in-process reference.
    pub manifest_sha256: Option<String>,
    /// `report.json`, `summary.md`, `junit.xml` and every transcript.
    pub files: Vec<HashedFile>,
}
