//! The bank processor and the SMS center as systems under test (issue 6): for them the suite
//! plays the network server, calling `BankProcessorService` or `SmsCenterService` with a network
//! server identity over mutual TLS, and, for the SMS center, plays handsets on its
//! `HandsetService`.
//!
//! A run of one of these roles still hands its cases a [`Target`] (the case signature is the
//! same for every role); [`Target::role`] then holds a [`RoleSupport`], and the operation
//! center's fields are empty.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ompp::conformance::{Endpoints, Manifest, RoleUnderTest};
use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_client::BankProcessorServiceClient;
use ompp::proto::v1::handset_service_client::HandsetServiceClient;
use ompp::proto::v1::sms_center_service_client::SmsCenterServiceClient;
use ompp_server::pki::DevPki;
use tonic::transport::Channel;

use crate::case::{Abort, Checks};
use crate::target::{Credential, InProcess, Target};

/// The names of `fixtures.bank_accounts` the bank processor cases use.
pub const PAYER: &str = "payer";
/// See [`PAYER`].
pub const PAYEE: &str = "payee";
/// See [`PAYER`].
pub const UNKNOWN: &str = "unknown";

/// An account of the bank processor under test, from `fixtures.bank_accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// The account as the wire names it.
    pub reference: pb::BankAccountRef,
    /// Its currency (ISO 4217 alphabetic code); transfers between the fixtures use it.
    pub currency: String,
}

impl BankAccount {
    /// Parses `bank_id/account_number` or `bank_id/account_number/CUR` (currency `EUR` when
    /// absent).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let (bank_id, account_number, currency) = match parts.as_slice() {
            [bank, account] => (*bank, *account, crate::target::CURRENCY),
            [bank, account, currency] => (*bank, *account, *currency),
            _ => {
                return Err(format!(
                    "{text:?} is not bank_id/account_number or bank_id/account_number/CUR"
                ));
            }
        };
        if bank_id.is_empty() || account_number.is_empty() || currency.is_empty() {
            return Err(format!("{text:?} has an empty part"));
        }
        Ok(Self {
            reference: pb::BankAccountRef {
                bank_id: bank_id.to_owned(),
                account_number: account_number.to_owned(),
            },
            currency: currency.to_owned(),
        })
    }
}

/// What the bank processor cases need.
#[derive(Debug)]
pub struct BankSupport {
    /// `https://host:port` of `BankProcessorService`.
    pub url: String,
    /// The network server identity the bank processor allow-lists.
    pub network: Credential,
    /// A funded account (`fixtures.bank_accounts.payer`), with no overdraft.
    pub payer: BankAccount,
    /// A second account of the same bank and currency (`fixtures.bank_accounts.payee`), funded
    /// or not, with no overdraft.
    pub payee: BankAccount,
    /// An account the bank processor does not hold (`fixtures.bank_accounts.unknown`).
    pub unknown: BankAccount,
    /// Held by every case that moves money: the cases read balances by probing transfers,
    /// which another case's transfers between the same accounts would disturb.
    pub ledger: tokio::sync::Mutex<()>,
}

/// What the SMS center cases need.
#[derive(Debug)]
pub struct SmsSupport {
    /// `https://host:port` of `SmsCenterService`.
    pub url: String,
    /// `https://host:port` of `HandsetService`.
    pub handset_url: String,
    /// The network server identity the SMS center allow-lists.
    pub network: Credential,
}

/// The system under test when it is not an operation center.
#[derive(Debug)]
pub enum RoleSupport {
    /// A bank processor.
    Bank(Box<BankSupport>),
    /// An SMS center.
    Sms(SmsSupport),
}

impl RoleSupport {
    /// The endpoints the suite must reach before it runs a case.
    pub fn urls(&self) -> Vec<&String> {
        match self {
            Self::Bank(bank) => vec![&bank.url],
            Self::Sms(sms) => vec![&sms.url, &sms.handset_url],
        }
    }

    /// The role.
    pub fn role(&self) -> RoleUnderTest {
        match self {
            Self::Bank(_) => RoleUnderTest::BankProcessor,
            Self::Sms(_) => RoleUnderTest::SmsCenter,
        }
    }
}

/// The role as `--role` writes it.
pub fn parse_role(text: &str) -> Result<RoleUnderTest, String> {
    match text {
        "operation-center" | "operation_center" => Ok(RoleUnderTest::OperationCenter),
        "bank-processor" | "bank_processor" => Ok(RoleUnderTest::BankProcessor),
        "sms-center" | "sms_center" => Ok(RoleUnderTest::SmsCenter),
        other => Err(format!(
            "unknown role {other:?}: operation-center, bank-processor or sms-center"
        )),
    }
}

impl Target {
    /// The bank processor of a bank processor run; the case cannot run without one.
    pub fn bank(&self, checks: &Checks) -> Result<&BankSupport, Abort> {
        match &self.role {
            Some(RoleSupport::Bank(bank)) => Ok(bank),
            _ => Err(checks.fail(
                "the system under test is a bank processor",
                "the target describes another role",
            )),
        }
    }

    /// The SMS center of an SMS center run; the case cannot run without one.
    pub fn sms(&self, checks: &Checks) -> Result<&SmsSupport, Abort> {
        match &self.role {
            Some(RoleSupport::Sms(sms)) => Ok(sms),
            _ => Err(checks.fail(
                "the system under test is an SMS center",
                "the target describes another role",
            )),
        }
    }

    /// `BankProcessorService` as the network server.
    pub async fn bank_client(
        &self,
        checks: &Checks,
    ) -> Result<BankProcessorServiceClient<Channel>, Abort> {
        let bank = self.bank(checks)?;
        let channel = checks.setup(
            "connect to BankProcessorService with the network server identity",
            self.channel(&bank.url, Some(&bank.network)).await,
        )?;
        Ok(BankProcessorServiceClient::new(channel))
    }

    /// `SmsCenterService` as the network server.
    pub async fn sms_client(
        &self,
        checks: &Checks,
    ) -> Result<SmsCenterServiceClient<Channel>, Abort> {
        let sms = self.sms(checks)?;
        let channel = checks.setup(
            "connect to SmsCenterService with the network server identity",
            self.channel(&sms.url, Some(&sms.network)).await,
        )?;
        Ok(SmsCenterServiceClient::new(channel))
    }

    /// `HandsetService` (server TLS only: handsets authenticate with their token).
    pub async fn handset_client(
        &self,
        checks: &Checks,
    ) -> Result<HandsetServiceClient<Channel>, Abort> {
        let sms = self.sms(checks)?;
        let channel = checks.setup(
            "connect to HandsetService",
            self.channel(&sms.handset_url, None).await,
        )?;
        Ok(HandsetServiceClient::new(channel))
    }
}

/// Reads a bank processor or SMS center manifest (paths relative to `base`); every missing
/// endpoint, identity or fixture is a clear error (the run is not performed, OMPP-CONF-006).
pub fn from_manifest(manifest: &Manifest, base: &Path) -> Result<Target, String> {
    let read = |path: &str| {
        let full = base.join(path);
        std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
    };
    let role = manifest.role;
    let what = match role {
        RoleUnderTest::BankProcessor => "a bank processor",
        RoleUnderTest::SmsCenter => "an SMS center",
        _ => return Err("manifest: not a bank processor or SMS center".to_owned()),
    };
    let identity = manifest.tls.network.as_ref().ok_or_else(|| {
        format!(
            "manifest: tls.network is required for {what}: the suite calls it as the network \
             server, with that identity (mutual TLS)"
        )
    })?;
    let network = Credential {
        cert_pem: read(&identity.cert)?,
        key_pem: read(&identity.key)?,
    };
    let trust_anchors = read(&manifest.tls.trust_anchors)?;
    let endpoint = |value: &Option<String>, name: &str| {
        value
            .clone()
            .ok_or_else(|| format!("manifest: endpoints.{name} is required for {what}"))
    };
    let support = if role == RoleUnderTest::BankProcessor {
        let account = |name: &str| {
            let text = manifest.fixtures.bank_accounts.get(name).ok_or_else(|| {
                format!(
                    "manifest: fixtures.bank_accounts.{name} is required for a bank processor \
                     (payer: a funded account; payee: a second account of the same bank and \
                     currency; unknown: an account the bank does not hold)"
                )
            })?;
            BankAccount::parse(text)
                .map_err(|e| format!("manifest: fixtures.bank_accounts.{name}: {e}"))
        };
        let (payer, payee, unknown) = (account(PAYER)?, account(PAYEE)?, account(UNKNOWN)?);
        if payer.currency != payee.currency {
            return Err(
                "manifest: fixtures.bank_accounts.payer and payee must have the same currency"
                    .to_owned(),
            );
        }
        RoleSupport::Bank(Box::new(BankSupport {
            url: endpoint(&manifest.endpoints.bank, "bank")?,
            network,
            payer,
            payee,
            unknown,
            ledger: tokio::sync::Mutex::new(()),
        }))
    } else {
        RoleSupport::Sms(SmsSupport {
            url: endpoint(&manifest.endpoints.sms, "sms")?,
            handset_url: endpoint(&manifest.endpoints.handset, "handset")?,
            network,
        })
    };
    Ok(Target::for_role(
        support,
        trust_anchors,
        manifest.endpoints.clone(),
    ))
}

/// Starts the reference bank processor (`Role::Bank`) or SMS center (`Role::Sms`) alone on
/// loopback ports in a fresh temporary directory, and describes it as a [`Target`] whose TLS
/// material comes from the reference's development PKI; `adjust` changes the configuration just
/// before it starts (the suite's own tests start broken variants with it).
pub async fn start_in_process(
    role: RoleUnderTest,
    adjust: impl FnOnce(&mut ompp_server::config::Config),
) -> Result<(InProcess, Target), String> {
    let server_role = match role {
        RoleUnderTest::BankProcessor => ompp_server::run::Role::Bank,
        RoleUnderTest::SmsCenter => ompp_server::run::Role::Sms,
        _ => return Err("not a bank processor or SMS center".to_owned()),
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let mut config = ompp_server::config::Config::on_loopback(
        dir.path().to_owned(),
        ompp_server::passwords::HashingProfile::FastInsecure,
    );
    adjust(&mut config);
    let running = ompp_server::run::start(
        &config,
        server_role,
        Arc::new(ompp_server::clock::SystemClock),
        None,
    )
    .await
    .map_err(|e| format!("starting the reference: {e}"))?;
    let pki = DevPki::read(&config.pki_dir()).map_err(|e| format!("reference PKI: {e}"))?;
    let url = |addr: Option<SocketAddr>| {
        addr.map(|a| format!("https://localhost:{}", a.port()))
            .ok_or_else(|| "the reference did not report an address".to_owned())
    };
    let network = Credential {
        cert_pem: pki.network.cert_pem.clone(),
        key_pem: pki.network.key_pem.clone(),
    };
    let (support, endpoints) = if role == RoleUnderTest::BankProcessor {
        let bank_url = url(running.bank.as_ref().map(|b| b.addr))?;
        // The reference's default accounts: DEMO0001 is funded, DEMO1042 is not.
        let account = |number: &str| BankAccount {
            reference: pb::BankAccountRef {
                bank_id: config.bank.bank_id.clone(),
                account_number: number.to_owned(),
            },
            currency: crate::target::CURRENCY.to_owned(),
        };
        (
            RoleSupport::Bank(Box::new(BankSupport {
                url: bank_url.clone(),
                network,
                payer: account("DEMO0001"),
                payee: account("DEMO1042"),
                unknown: account("NOSUCHACCOUNT1"),
                ledger: tokio::sync::Mutex::new(()),
            })),
            Endpoints {
                bank: Some(bank_url),
                ..Endpoints::default()
            },
        )
    } else {
        let sms_url = url(running.sms.as_ref().map(|s| s.addr))?;
        let handset_url = url(running.sms.as_ref().map(|s| s.handset_addr))?;
        (
            RoleSupport::Sms(SmsSupport {
                url: sms_url.clone(),
                handset_url: handset_url.clone(),
                network,
            }),
            Endpoints {
                sms: Some(sms_url),
                handset: Some(handset_url),
                ..Endpoints::default()
            },
        )
    };
    let target = Target::for_role(support, pki.operator_ca.cert_pem(), endpoints);
    Ok((InProcess::of(running, dir), target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_parse_with_and_without_currency() {
        let account = BankAccount::parse("OMPPBANK/DEMO0001").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(account.reference.bank_id, "OMPPBANK");
        assert_eq!(account.reference.account_number, "DEMO0001");
        assert_eq!(account.currency, "EUR");
        let account = BankAccount::parse("B/A/CHF").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(account.currency, "CHF");
        assert!(BankAccount::parse("DEMO0001").is_err());
        assert!(BankAccount::parse("B//EUR").is_err());
        assert!(BankAccount::parse("a/b/c/d").is_err());
    }

    #[test]
    fn roles_parse_in_both_spellings() {
        assert_eq!(
            parse_role("bank-processor"),
            Ok(RoleUnderTest::BankProcessor)
        );
        assert_eq!(parse_role("sms_center"), Ok(RoleUnderTest::SmsCenter));
        assert!(parse_role("bank").is_err());
    }
}
