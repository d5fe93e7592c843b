//! The system under test as the suite sees it: endpoints, TLS material, and the fixtures every
//! case provisions for itself through the system's own RPCs (OMPP-CONF-008).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ompp::conformance::{Endpoints, Manifest, Profile};
use ompp::proto::v1 as pb;
use ompp::proto::v1::device_service_client::DeviceServiceClient;
use ompp::proto::v1::gateway_service_client::GatewayServiceClient;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use ompp::proto::v1::registration_service_client::RegistrationServiceClient;
use ompp_server::pki::{DevPki, cert_der_to_pem, certs_from_pem, generate_csr};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::case::{Abort, Checks};
use crate::parties::link::{LinkProxy, LinkProxyConfig};
use crate::parties::{Parties, PartyConfig, PartyTls};

/// How many enrollment tokens the in-process reference is started with.
const ENROLLMENT_TOKENS: u32 = 4;

/// The payment password of every customer the suite registers.
pub const PASSWORD: &str = "conformance pass 1";

/// The currency of every wallet and payment the suite creates.
pub const CURRENCY: &str = "EUR";

/// A PEM certificate chain and its key.
#[derive(Clone)]
pub struct Credential {
    /// PEM certificate chain, leaf first.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").finish_non_exhaustive()
    }
}

/// Flow C through the suite's own bank processor and SMS center, which the system under test
/// calls (issue 6): customers get accounts at the suite's bank, codes are read from what the
/// suite's SMS center received.
#[derive(Debug, Clone)]
pub struct CheckoutSupport {
    /// The suite's running counterparties.
    pub parties: Parties,
    /// Said in the report: which counterparties flow C used.
    pub note: String,
}

/// The secure link of an operation center, as the firewall cases reach it (OMPP-CONF-009).
#[derive(Debug, Clone)]
pub struct LinkSupport {
    /// `https://host:port` of `NetworkLinkService`.
    pub network_link_url: String,
    /// `https://host:port` of `MobileLinkService`.
    pub mobile_link_url: String,
    /// PEM anchors of the link servers' certificates.
    pub anchors_pem: String,
    /// A link identity the network server allow-lists as a mobile server.
    pub as_mobile: Credential,
    /// Its identity URI (`ompp://mobile/...`), the envelope's `sender_id`.
    pub as_mobile_id: String,
    /// A link identity the mobile server allow-lists as a network server.
    pub as_network: Credential,
    /// Its identity URI.
    pub as_network_id: String,
    /// A link identity neither side allow-lists.
    pub unlisted: Credential,
    /// Its identity URI.
    pub unlisted_id: String,
    /// A second link identity the network server allow-lists as a mobile server, used by no
    /// real mobile server (the rate-limit case's), with its identity URI.
    pub second_mobile: Option<(Credential, String)>,
}

/// The identity URI in a PEM certificate.
pub fn identity_uri(cert_pem: &str) -> Result<String, String> {
    let certs = certs_from_pem(cert_pem).map_err(|e| format!("certificate: {e}"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| "certificate: no certificate in the PEM".to_owned())?;
    ompp_server::pki::identity_of(leaf.as_ref())
        .map(|identity| identity.to_string())
        .map_err(|e| format!("certificate: {e}"))
}

impl LinkSupport {
    fn new(
        network_link_url: String,
        mobile_link_url: String,
        anchors_pem: String,
        as_mobile: Credential,
        as_network: Credential,
        unlisted: Credential,
        second_mobile: Option<Credential>,
    ) -> Result<Self, String> {
        let second_mobile = match second_mobile {
            Some(credential) => {
                let id = identity_uri(&credential.cert_pem)?;
                Some((credential, id))
            }
            None => None,
        };
        Ok(Self {
            second_mobile,
            as_mobile_id: identity_uri(&as_mobile.cert_pem)?,
            as_network_id: identity_uri(&as_network.cert_pem)?,
            unlisted_id: identity_uri(&unlisted.cert_pem)?,
            network_link_url,
            mobile_link_url,
            anchors_pem,
            as_mobile,
            as_network,
            unlisted,
        })
    }
}

/// Everything the cases need to reach and authenticate to the system under test.
#[derive(Debug)]
pub struct Target {
    /// Network server public endpoint.
    pub network_url: String,
    /// Mobile server device endpoint.
    pub mobile_url: String,
    /// PEM trust anchors of the system's server certificates.
    pub trust_anchors_pem: String,
    /// The merchant identity the suite uses on `MerchantPaymentService`.
    pub merchant: Credential,
    /// Its merchant id (from its certificate's `ompp://merchant/<id>`).
    pub merchant_id: String,
    /// An expired merchant certificate from the system's CA, when one is available.
    pub expired_merchant: Option<Credential>,
    /// Valid certificates from the system's CA for a merchant it has not registered and a
    /// device it has not paired, when available (OMPP-TLS-011).
    pub unknown_callers: Option<UnknownCallers>,
    /// The suite's own bank processor and SMS center, which the system calls: wallet top-ups
    /// (OMPP-LEDGER-010) and flow C. Always there for an operation center.
    pub checkout: Option<CheckoutSupport>,
    /// The secure link, when the suite can reach it.
    pub link: Option<LinkSupport>,
    /// The suite between the network server and the mobile server on the secure link, when the
    /// system is configured to call the mobile server through it (OMPP-LINK-010).
    pub link_proxy: Option<LinkProxy>,
    /// Unused enrollment tokens (manifest `fixtures.enrollment_tokens`), handed out once each.
    enrollment_tokens: std::sync::Mutex<Vec<String>>,
    /// The profiles declared.
    pub profiles: Vec<Profile>,
    /// The endpoints, as reported.
    pub endpoints: Endpoints,
    /// What a bank processor or SMS center run needs ([`crate::roles`]); `None` for an
    /// operation center.
    pub role: Option<crate::roles::RoleSupport>,
    run_tag: String,
    phone_seed: u32,
    counter: AtomicU32,
}

/// Callers the system's CA certified but the system does not know (OMPP-TLS-011).
#[derive(Debug, Clone)]
pub struct UnknownCallers {
    /// A merchant certificate for a merchant id never registered.
    pub merchant: Credential,
    /// A device certificate for a device id never paired.
    pub device: Credential,
}

/// What a customer's account at the suite's bank holds beyond its first top-up, for the top-ups
/// cases make later (the largest is 2^53 + 1 minor units, OMPP-MONEY-001).
pub const SPARE_FUNDS: i64 = 10_000_000_000_000_000;

/// A customer the suite registered, with a paired device.
#[derive(Debug)]
pub struct Customer {
    /// The system's customer id.
    pub customer_id: String,
    /// The registered phone number.
    pub phone: String,
    /// `DeviceService` as the paired device.
    pub device: DeviceServiceClient<Channel>,
    /// The paired device's certificate and key.
    pub credential: Credential,
    /// The paired device's id.
    pub device_id: String,
    /// The customer's registered account at the suite's bank, which funds its top-ups.
    pub bank_account: Option<String>,
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("https://")
        .split([':', '/'])
        .next()
        .unwrap_or("localhost")
        .to_owned()
}

fn merchant_id_of(cert_pem: &str) -> Result<String, String> {
    let certs = certs_from_pem(cert_pem).map_err(|e| format!("merchant certificate: {e}"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| "merchant certificate: no certificate in the PEM".to_owned())?;
    let identity = ompp_server::pki::identity_of(leaf.as_ref())
        .map_err(|e| format!("merchant certificate: {e}"))?;
    if identity.role() != ompp::types::Role::Merchant {
        return Err(format!(
            "merchant certificate: identity {identity} is not a merchant"
        ));
    }
    Ok(identity.id().to_owned())
}

/// The `Money` of `minor_units` in the suite's currency.
pub fn money(minor_units: i64) -> pb::Money {
    pb::Money {
        currency: CURRENCY.into(),
        minor_units,
    }
}

impl Target {
    #[allow(clippy::too_many_arguments)]
    fn new(
        network_url: String,
        mobile_url: String,
        trust_anchors_pem: String,
        merchant: Credential,
        expired_merchant: Option<Credential>,
        checkout: Option<CheckoutSupport>,
        link: Option<LinkSupport>,
        profiles: Vec<Profile>,
    ) -> Result<Self, String> {
        let merchant_id = merchant_id_of(&merchant.cert_pem)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = nanos ^ (u128::from(std::process::id()) << 20);
        let endpoints = Endpoints {
            network: Some(network_url.clone()),
            mobile: Some(mobile_url.clone()),
            network_link: link.as_ref().map(|l| l.network_link_url.clone()),
            mobile_link: link.as_ref().map(|l| l.mobile_link_url.clone()),
            ..Endpoints::default()
        };
        Ok(Self {
            network_url,
            mobile_url,
            trust_anchors_pem,
            merchant,
            merchant_id,
            expired_merchant,
            unknown_callers: None,
            link_proxy: None,
            checkout,
            link,
            enrollment_tokens: std::sync::Mutex::new(Vec::new()),
            profiles,
            endpoints,
            role: None,
            run_tag: format!("oc{:010x}", seed % 0x100_0000_0000),
            phone_seed: u32::try_from(seed % 100_000).unwrap_or(0),
            counter: AtomicU32::new(0),
        })
    }

    /// A target for a bank processor or SMS center under test ([`crate::roles`]): it has none
    /// of an operation center's endpoints or identities, only `support`.
    pub(crate) fn for_role(
        support: crate::roles::RoleSupport,
        trust_anchors_pem: String,
        endpoints: Endpoints,
    ) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = nanos ^ (u128::from(std::process::id()) << 20);
        Self {
            network_url: String::new(),
            mobile_url: String::new(),
            trust_anchors_pem,
            merchant: Credential {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
            merchant_id: String::new(),
            expired_merchant: None,
            unknown_callers: None,
            link_proxy: None,
            checkout: None,
            link: None,
            enrollment_tokens: std::sync::Mutex::new(Vec::new()),
            profiles: Vec::new(),
            endpoints,
            role: Some(support),
            run_tag: format!("oc{:010x}", seed % 0x100_0000_0000),
            phone_seed: u32::try_from(seed % 100_000).unwrap_or(0),
            counter: AtomicU32::new(0),
        }
    }

    /// Reads a manifest's endpoints and TLS material (paths relative to `base`), and starts the
    /// suite's own bank processor and SMS center, which every operation center calls: wallets
    /// are funded through the bank processor (OMPP-LEDGER-010), flow C uses both.
    pub async fn from_manifest(manifest: &Manifest, base: &Path) -> Result<Self, String> {
        let read = |path: &str| {
            let full = base.join(path);
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
        };
        let network = manifest
            .endpoints
            .network
            .clone()
            .ok_or("manifest: endpoints.network is required for an operation center")?;
        let mobile = manifest
            .endpoints
            .mobile
            .clone()
            .ok_or("manifest: endpoints.mobile is required for an operation center")?;
        let merchant = manifest.tls.merchant.as_ref().ok_or(
            "manifest: tls.merchant is required: most cases act as that merchant (the enrollment tokens of fixtures.enrollment_tokens serve the merchant registration cases)",
        )?;
        let credential = |identity: &ompp::conformance::Identity| -> Result<Credential, String> {
            Ok(Credential {
                cert_pem: read(&identity.cert)?,
                key_pem: read(&identity.key)?,
            })
        };
        let merchant = credential(merchant)?;
        let expired = manifest
            .tls
            .expired_merchant
            .as_ref()
            .map(credential)
            .transpose()?;
        let link = match (
            &manifest.endpoints.network_link,
            &manifest.endpoints.mobile_link,
            &manifest.tls.link,
        ) {
            (Some(network_link), Some(mobile_link), Some(material)) => Some(LinkSupport::new(
                network_link.clone(),
                mobile_link.clone(),
                read(&material.trust_anchors)?,
                credential(&material.as_mobile)?,
                credential(&material.as_network)?,
                credential(&material.unlisted)?,
                material
                    .second_mobile
                    .as_ref()
                    .map(credential)
                    .transpose()?,
            )?),
            (None, None, None) => None,
            _ => {
                return Err("manifest: the secure-link firewall cases need all of \
                     endpoints.network_link, endpoints.mobile_link and tls.link"
                    .to_owned());
            }
        };
        let unknown_callers = match (
            &manifest.tls.unregistered_merchant,
            &manifest.tls.unpaired_device,
        ) {
            (Some(merchant), Some(device)) => Some(UnknownCallers {
                merchant: credential(merchant)?,
                device: credential(device)?,
            }),
            (None, None) => None,
            _ => {
                return Err("manifest: the unknown-caller case needs both \
                     tls.unregistered_merchant and tls.unpaired_device"
                    .to_owned());
            }
        };
        let checkout = Some(counterparties(manifest, &read).await?);
        let link_proxy = match (&manifest.counterparties.link_listen, &manifest.tls.link) {
            (None, _) => None,
            (Some(listen), Some(material)) => {
                let mobile_link = manifest.endpoints.mobile_link.clone().ok_or(
                    "manifest: counterparties.link_listen needs endpoints.mobile_link, where the \
                     suite forwards what the network server sends",
                )?;
                Some(
                    LinkProxy::start(&LinkProxyConfig {
                        listen: listen.parse().map_err(|e| {
                            format!(
                                "manifest: counterparties.link_listen {listen:?}: {e} (expected ip:port)"
                            )
                        })?,
                        upstream_url: Some(mobile_link),
                        anchors_pem: read(&material.trust_anchors)?,
                        as_mobile: credential(&material.as_mobile)?,
                        as_network: credential(&material.as_network)?,
                    })
                    .await?,
                )
            }
            (Some(_), None) => {
                return Err("manifest: counterparties.link_listen needs tls.link".to_owned());
            }
        };
        Self::new(
            network,
            mobile,
            read(&manifest.tls.trust_anchors)?,
            merchant,
            expired,
            checkout,
            link,
            manifest.profiles.clone(),
        )
        .map(|target| target.with_enrollment_tokens(manifest.fixtures.enrollment_tokens.clone()))
        .map(|target| Target {
            unknown_callers,
            link_proxy,
            ..target
        })
    }

    /// Gives the target unused enrollment tokens for the cases that register merchants.
    fn with_enrollment_tokens(self, tokens: Vec<String>) -> Self {
        Self {
            enrollment_tokens: std::sync::Mutex::new(tokens),
            ..self
        }
    }

    /// An unused enrollment token; the case cannot run without one (OMPP-CONF-008).
    pub fn enrollment_token(&self, checks: &Checks) -> Result<String, Abort> {
        let token = self
            .enrollment_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        checks.setup(
            "an unused enrollment token (manifest fixtures.enrollment_tokens)",
            token.ok_or("none left"),
        )
    }

    /// A key unique to this run (OMPP-CONF-008), for idempotency keys and references.
    pub fn key(&self, label: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{label}-{n}", self.run_tag)
    }

    /// A phone number unique to this run.
    pub fn phone(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) % 1000;
        format!("+4915{:05}{n:03}", self.phone_seed)
    }

    /// The addresses the suite must reach before it runs a case.
    pub fn addresses(&self) -> Vec<String> {
        let urls: Vec<&String> = match &self.role {
            Some(role) => role.urls(),
            None => vec![&self.network_url, &self.mobile_url],
        };
        urls.iter()
            .map(|url| {
                url.trim_start_matches("https://")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// A TLS channel to `url`, presenting `identity` when given.
    pub async fn channel(
        &self,
        url: &str,
        identity: Option<&Credential>,
    ) -> Result<Channel, tonic::transport::Error> {
        self.channel_with(url, &self.trust_anchors_pem, identity)
            .await
    }

    /// A TLS channel to `url` whose server certificate `anchors_pem` anchors.
    pub async fn channel_with(
        &self,
        url: &str,
        anchors_pem: &str,
        identity: Option<&Credential>,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(anchors_pem))
            .domain_name(host_of(url));
        if let Some(identity) = identity {
            tls = tls.identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem));
        }
        Endpoint::from_shared(url.to_owned())?
            .tls_config(tls)?
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
    }

    /// `MerchantPaymentService` as the suite's merchant.
    pub async fn merchant(
        &self,
        checks: &Checks,
    ) -> Result<MerchantPaymentServiceClient<Channel>, Abort> {
        let channel = checks.setup(
            "connect to MerchantPaymentService with the merchant certificate",
            self.channel(&self.network_url, Some(&self.merchant)).await,
        )?;
        Ok(MerchantPaymentServiceClient::new(channel))
    }

    /// `RegistrationService` (no client certificate).
    pub async fn registration(
        &self,
        checks: &Checks,
    ) -> Result<RegistrationServiceClient<Channel>, Abort> {
        let channel = checks.setup(
            "connect to RegistrationService",
            self.channel(&self.network_url, None).await,
        )?;
        Ok(RegistrationServiceClient::new(channel))
    }

    /// `GatewayService` (no client certificate).
    pub async fn gateway(&self, checks: &Checks) -> Result<GatewayServiceClient<Channel>, Abort> {
        let channel = checks.setup(
            "connect to GatewayService",
            self.channel(&self.network_url, None).await,
        )?;
        Ok(GatewayServiceClient::new(channel))
    }

    /// Registers a customer (optionally with a bank account) and returns its id and phone.
    pub async fn register(
        &self,
        checks: &Checks,
        wallet: bool,
        bank_account: Option<pb::BankAccountRef>,
    ) -> Result<(String, String), Abort> {
        let phone = self.phone();
        let mut registration = self.registration(checks).await?;
        let registered = checks.setup_call(
            "RegisterCustomer",
            registration
                .register_customer(pb::RegisterCustomerRequest {
                    display_name: "Conformance Customer".into(),
                    phone_number: phone.clone(),
                    password: PASSWORD.into(),
                    wallet_currencies: if wallet {
                        vec![CURRENCY.into()]
                    } else {
                        vec![]
                    },
                    bank_account,
                    idempotency_key: self.key("reg"),
                })
                .await,
        )?;
        Ok((registered.customer_id, phone))
    }

    /// Registers a customer with a wallet and an account at the suite's bank holding `top_up`
    /// and [`SPARE_FUNDS`] minor units, pairs a device, and tops the wallet up by `top_up`
    /// through that bank (OMPP-LEDGER-010).
    pub async fn customer(&self, checks: &Checks, top_up: i64) -> Result<Customer, Abort> {
        let account = match &self.checkout {
            Some(support) => Some(support.parties.bank.open_account(top_up + SPARE_FUNDS)),
            None if top_up > 0 => {
                return Err(checks.fail(
                    "fund a wallet through the suite's bank processor (OMPP-LEDGER-010)",
                    "the suite's bank processor is not running",
                ));
            }
            None => None,
        };
        let bank_account = account.as_ref().map(|a| a.account_number.clone());
        let (customer_id, phone) = self.register(checks, true, account).await?;
        let csr = checks.setup("generate a device key and CSR", generate_csr("device"))?;
        let mut registration = self.registration(checks).await?;
        let paired = checks.setup_call(
            "PairDevice",
            registration
                .pair_device(pb::PairDeviceRequest {
                    customer_id: customer_id.clone(),
                    password: PASSWORD.into(),
                    device_name: "conformance device".into(),
                    csr_der: csr.csr_der.clone(),
                    idempotency_key: self.key("pair"),
                })
                .await,
        )?;
        let credential = Credential {
            cert_pem: cert_der_to_pem(&paired.certificate_der),
            key_pem: csr.key_pem,
        };
        let channel = checks.setup(
            "connect to DeviceService with the paired device's certificate",
            self.channel(&self.mobile_url, Some(&credential)).await,
        )?;
        let mut device = DeviceServiceClient::new(channel);
        if top_up > 0 {
            checks.setup_call(
                "TopUpWallet",
                device
                    .top_up_wallet(pb::TopUpWalletRequest {
                        amount: Some(money(top_up)),
                        password: PASSWORD.into(),
                        idempotency_key: self.key("topup"),
                    })
                    .await,
            )?;
        }
        Ok(Customer {
            device_id: paired.device_id.clone(),
            customer_id,
            phone,
            device,
            credential,
            bank_account,
        })
    }

    /// Registers a flow C customer whose bank account is a new account at the suite's bank
    /// processor holding `balance` minor units; returns its id, phone number and account number.
    pub async fn bank_customer(
        &self,
        checks: &Checks,
        support: &CheckoutSupport,
        balance: i64,
    ) -> Result<(String, String, String), Abort> {
        let account = support.parties.bank.open_account(balance);
        let number = account.account_number.clone();
        let (customer_id, phone) = self.register(checks, false, Some(account)).await?;
        Ok((customer_id, phone, number))
    }
}

impl Customer {
    /// The wallet balance in the suite's currency.
    pub async fn balance(&mut self, checks: &Checks) -> Result<i64, Abort> {
        let balances = checks.setup_call(
            "GetWalletBalance",
            self.device
                .get_wallet_balance(pb::GetWalletBalanceRequest {})
                .await,
        )?;
        Ok(balances
            .balances
            .iter()
            .find(|m| m.currency == CURRENCY)
            .map_or(0, |m| m.minor_units))
    }
}

/// The authorization code in an SMS: its first maximal run of ASCII digits (OMPP-AUTH-010).
pub fn code_in(text: &str) -> String {
    text.chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect()
}

/// Starts the suite's counterparties an operation center's manifest describes; every piece is required
/// (OMPP-CONF-006: a missing or unreadable one stops the run before any case).
async fn counterparties(
    manifest: &Manifest,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<CheckoutSupport, String> {
    let needed = |what: &str| {
        format!(
            "manifest: {what} is required: the suite plays the bank processor and SMS center \
             the operation center calls (wallet top-ups go through the bank processor, \
             OMPP-LEDGER-010; flow C through both)"
        )
    };
    let parties = &manifest.counterparties;
    let address = |value: &Option<String>, key: &str| -> Result<SocketAddr, String> {
        let value = value.as_deref().ok_or_else(|| needed(key))?;
        value
            .parse()
            .map_err(|e| format!("manifest: {key} {value:?}: {e} (expected ip:port)"))
    };
    let bank_listen = address(&parties.bank_listen, "counterparties.bank_listen")?;
    let sms_listen = address(&parties.sms_listen, "counterparties.sms_listen")?;
    let bank_id = parties
        .bank_id
        .clone()
        .ok_or_else(|| needed("counterparties.bank_id"))?;
    ompp::types::BankId::parse(&bank_id)
        .map_err(|e| format!("manifest: counterparties.bank_id {bank_id:?}: {e}"))?;
    for account in &parties.bank_accounts {
        ompp::types::AccountNumber::parse(account).map_err(|e| {
            format!("manifest: counterparties.bank_accounts entry {account:?}: {e}")
        })?;
    }
    let identity = manifest
        .tls
        .counterparty_server
        .as_ref()
        .ok_or_else(|| needed("tls.counterparty_server"))?;
    let client_ca = manifest
        .tls
        .counterparty_client_ca
        .as_deref()
        .ok_or_else(|| needed("tls.counterparty_client_ca"))?;
    let credential = |identity: &ompp::conformance::Identity| -> Result<Credential, String> {
        Ok(Credential {
            cert_pem: read(&identity.cert)?,
            key_pem: read(&identity.key)?,
        })
    };
    let bank = credential(identity)?;
    let sms = match &manifest.tls.counterparty_sms_server {
        Some(sms) => credential(sms)?,
        None => bank.clone(),
    };
    let other_bank = manifest
        .tls
        .counterparty_other_server
        .as_ref()
        .map(credential)
        .transpose()?;
    let tls = PartyTls {
        bank,
        sms,
        client_ca_pem: read(client_ca)?,
        other_bank,
    };
    let config = PartyConfig {
        bank_listen,
        sms_listen,
        bank_id,
        accounts: parties.bank_accounts.clone(),
    };
    let parties = Parties::start(&config, &tls).await?;
    Ok(CheckoutSupport {
        note: format!(
            "flow C: the suite played the bank processor (bank {}, listening on {}) and the SMS \
             center (listening on {}) the system under test calls, read each authorization code \
             from the SMS it received and observed every transfer at its bank",
            config.bank_id, parties.bank_addr, parties.sms_addr
        ),
        parties,
    })
}

/// The reference implementation running in this process, for the self-test run.
#[derive(Debug)]
pub struct InProcess {
    /// The servers started: the network and mobile servers, or a bank processor or SMS center.
    running: Vec<ompp_server::run::Running>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// The reference `running` with its data in `dir` (the bank processor or SMS center
    /// alone, [`crate::roles`]).
    pub(crate) fn of(running: ompp_server::run::Running, dir: tempfile::TempDir) -> Self {
        Self {
            running: vec![running],
            _dir: dir,
        }
    }

    /// Starts the reference operation center on loopback ports in a fresh temporary directory,
    /// calling the suite's own bank processor and SMS center, and describes it as a [`Target`]
    /// whose TLS material comes from the reference's development PKI.
    pub async fn start() -> Result<(Self, Target), String> {
        Self::start_with(|_| {}).await
    }

    /// [`InProcess::start`], with `adjust` applied to the reference's configuration just
    /// before it starts (the suite's own tests use it to start broken variants).
    pub async fn start_with(
        adjust: impl FnOnce(&mut ompp_server::config::Config),
    ) -> Result<(Self, Target), String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = ompp_server::config::Config::on_loopback(
            dir.path().to_owned(),
            ompp_server::passwords::HashingProfile::FastInsecure,
        );
        // The shortest code validity the protocol allows, so that oc.flow-c.code-expiry waits no
        // longer than the checkout-expiry case beside it (OMPP-AUTH-002).
        config.network.auth_code_validity_secs = ompp::limits::AUTH_CODE_VALIDITY.min_secs;
        // The second mobile link identity, for the rate-limit case's load (OMPP-LINK-005).
        config.network.link_peers = vec![format!(
            "ompp://mobile/{}",
            ompp_server::pki::SECOND_LINK_MOBILE_ID
        )];
        // Enrollment tokens for the cases that register merchants, unique to this start.
        let tokens: Vec<String> = (0..ENROLLMENT_TOKENS)
            .map(|n| format!("conformance-{:08x}-{n}", std::process::id() ^ n))
            .collect();
        config.network.enrollment_tokens = tokens
            .iter()
            .enumerate()
            .map(|(n, token)| ompp_server::config::EnrollmentTokenConfig {
                token: token.clone(),
                merchant_id: format!("M-CONF-{n}"),
            })
            .collect();
        // The suite's counterparties, presenting the reference PKI's bank and SMS identities
        // (which the network server trusts) and accepting its network identity.
        let pki = ompp_server::run::load_or_create_pki(&config)
            .map_err(|e| format!("reference PKI: {e}"))?;
        let parties = Parties::start(
            &PartyConfig {
                bank_listen: any,
                sms_listen: any,
                bank_id: config.bank.bank_id.clone(),
                // The sample merchant's account (`provision` in the reference) and the
                // operator's, which top-ups credit.
                accounts: vec![
                    "DEMO1042".to_owned(),
                    ompp_server::config::OPERATOR_ACCOUNT.to_owned(),
                ],
            },
            &PartyTls {
                bank: Credential {
                    cert_pem: pki.bank.cert_pem.clone(),
                    key_pem: pki.bank.key_pem.clone(),
                },
                sms: Credential {
                    cert_pem: pki.sms.cert_pem.clone(),
                    key_pem: pki.sms.key_pem.clone(),
                },
                client_ca_pem: pki.operator_ca.cert_pem(),
                other_bank: Some(
                    pki.other_bank()
                        .map(|issued| Credential {
                            cert_pem: issued.cert_pem,
                            key_pem: issued.key_pem,
                        })
                        .map_err(|e| format!("another bank's certificate: {e}"))?,
                ),
            },
        )
        .await?;
        config.network.bank_url = format!("https://localhost:{}", parties.bank_addr.port());
        config.network.sms_url = format!("https://localhost:{}", parties.sms_addr.port());
        // The network and mobile servers run as two servers, as deployed, and the network
        // server calls the mobile server's link through the suite (parties::link), which
        // records what it sends (OMPP-LINK-010). The suite learns where to forward once the
        // mobile server listens (every port is the system's choice: none can be taken meanwhile).
        let credential = |issued: &ompp_server::pki::Issued| Credential {
            cert_pem: issued.cert_pem.clone(),
            key_pem: issued.key_pem.clone(),
        };
        let proxy = LinkProxy::start(&LinkProxyConfig {
            listen: any,
            upstream_url: None,
            anchors_pem: pki.link_ca.cert_pem(),
            as_mobile: credential(&pki.link_mobile),
            as_network: credential(&pki.link_network),
        })
        .await?;
        config.network.mobile_link_url = format!("https://localhost:{}", proxy.addr.port());
        adjust(&mut config);
        let start = |config: ompp_server::config::Config, role| async move {
            ompp_server::run::start(
                &config,
                role,
                Arc::new(ompp_server::clock::SystemClock),
                None,
            )
            .await
            .map_err(|e| format!("starting the reference ({role:?}): {e}"))
        };
        let network = start(config.clone(), ompp_server::run::Role::Network).await?;
        let url = |addr: Option<SocketAddr>| {
            addr.map(|a| format!("https://localhost:{}", a.port()))
                .ok_or_else(|| "the reference did not report an address".to_owned())
        };
        config.mobile.network_link_url = url(network.network_link_addr)?;
        let mobile = start(config, ompp_server::run::Role::Mobile).await?;
        proxy.forward_to(&url(mobile.mobile_link_addr)?)?;
        let network_url = url(network.network_addr)?;
        let mobile_url = url(mobile.mobile_addr)?;
        let expired = expired_merchant(&pki)?;
        let checkout = CheckoutSupport {
            parties,
            note: "flow C: the in-process reference's network server called the suite's own bank \
                   processor and SMS center; the suite read each authorization code from the SMS \
                   it received and observed every transfer at its bank"
                .into(),
        };
        let target = Target::new(
            network_url,
            mobile_url,
            pki.operator_ca.cert_pem(),
            Credential {
                cert_pem: pki.merchant.cert_pem.clone(),
                key_pem: pki.merchant.key_pem.clone(),
            },
            Some(expired),
            Some(checkout),
            Some(link_support(
                network.network_link_addr,
                mobile.mobile_link_addr,
                &pki,
            )?),
            vec![
                Profile::Registration,
                Profile::FlowA,
                Profile::FlowB,
                Profile::FlowC,
            ],
        )?
        .with_enrollment_tokens(tokens);
        let issued = |what: &str, issued: Result<ompp_server::pki::Issued, _>| {
            issued
                .map(|i: ompp_server::pki::Issued| Credential {
                    cert_pem: i.cert_pem,
                    key_pem: i.key_pem,
                })
                .map_err(|e: ompp_server::pki::PkiError| format!("{what} certificate: {e}"))
        };
        let target = Target {
            unknown_callers: Some(UnknownCallers {
                merchant: issued("unregistered merchant", pki.unregistered_merchant())?,
                device: issued("unpaired device", pki.unpaired_device())?,
            }),
            link_proxy: Some(proxy),
            ..target
        };
        Ok((
            Self {
                running: vec![network, mobile],
                _dir: dir,
            },
            target,
        ))
    }

    /// Stops the reference.
    pub async fn stop(self) {
        for running in self.running {
            running.stop().await;
        }
    }
}

/// The in-process reference's secure link: its link endpoints, the link CA, the reference's
/// own link identities (which each side allow-lists) and a link identity on no allow-list.
fn link_support(
    network_link: Option<SocketAddr>,
    mobile_link: Option<SocketAddr>,
    pki: &DevPki,
) -> Result<LinkSupport, String> {
    let url = |addr: Option<SocketAddr>| {
        addr.map(|a| format!("https://localhost:{}", a.port()))
            .ok_or_else(|| "the reference did not report a link address".to_owned())
    };
    let credential = |issued: &ompp_server::pki::Issued| Credential {
        cert_pem: issued.cert_pem.clone(),
        key_pem: issued.key_pem.clone(),
    };
    let unlisted = pki
        .unlisted_link_identity()
        .map_err(|e| format!("unlisted link identity: {e}"))?;
    let second_mobile = pki
        .second_link_mobile()
        .map_err(|e| format!("second mobile link identity: {e}"))?;
    LinkSupport::new(
        url(network_link)?,
        url(mobile_link)?,
        pki.link_ca.cert_pem(),
        credential(&pki.link_mobile),
        credential(&pki.link_network),
        credential(&unlisted),
        Some(credential(&second_mobile)),
    )
}

/// The reference's expired certificate for the sample merchant.
fn expired_merchant(pki: &DevPki) -> Result<Credential, String> {
    let issued = pki
        .expired_merchant()
        .map_err(|e| format!("expired merchant certificate: {e}"))?;
    Ok(Credential {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    })
}
