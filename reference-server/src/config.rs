//! The operation center's configuration file (TOML). Every field has a default, so an empty
//! file (or none at all) runs a complete local operation center.
//!
//! ```toml
//! data_dir = "ompp-data"              # database and, unless pki_dir is set, the PKI
//! password_hashing = "production"     # or "fast-insecure" (tests and benchmarks only)
//!
//! [network]
//! listen = "127.0.0.1:7100"           # merchants, registration
//! link_listen = "127.0.0.1:7101"      # secure link, mobile server -> network server
//! mobile_link_url = "https://localhost:7201"
//! link_peers = []                     # further mobile servers allowed on the secure link
//! bank_identity = "ompp://bank/BP-1"  # the only bank processor identity accepted at bank_url
//! sms_identity = "ompp://sms/SC-1"    # the only SMS center identity accepted at sms_url
//! [[network.enrollment_tokens]]
//! token = "dev-enrollment-token-0001"
//! merchant_id = "M-2001"
//!
//! [mobile]
//! listen = "127.0.0.1:7200"           # devices
//! link_listen = "127.0.0.1:7201"      # secure link, network server -> mobile server
//! network_link_url = "https://localhost:7101"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::passwords::HashingProfile;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database (and by default the PKI) lives.
    pub data_dir: PathBuf,
    /// Where the PKI lives; `data_dir/pki` when absent. Created on first start if empty.
    pub pki_dir: Option<PathBuf>,
    /// Password hashing cost.
    pub password_hashing: HashingProfile,
    /// The network server.
    pub network: NetworkConfig,
    /// The mobile server.
    pub mobile: MobileConfig,
    /// The reference bank processor.
    pub bank: crate::bank::BankConfig,
    /// The reference SMS center.
    pub sms: crate::sms::SmsConfig,
    /// Deliberately broken behaviours, for the conformance suite's own tests; never read from
    /// a file.
    #[cfg(feature = "defects")]
    #[serde(default, skip)]
    pub defects: crate::defects::Defects,
}

impl Config {
    /// Every party on 127.0.0.1 with a port the system picks, data in `data_dir`, passwords
    /// hashed with `hashing`: the start of every test's, benchmark's and self-test's
    /// configuration.
    pub fn on_loopback(data_dir: PathBuf, hashing: HashingProfile) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = Self {
            data_dir,
            password_hashing: hashing,
            ..Self::default()
        };
        config.network.listen = any;
        config.network.link_listen = any;
        config.mobile.listen = any;
        config.mobile.link_listen = any;
        config.bank.listen = any;
        config.sms.listen = any;
        config.sms.handset_listen = any;
        config
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ompp-data"),
            pki_dir: None,
            password_hashing: HashingProfile::Production,
            network: NetworkConfig::default(),
            mobile: MobileConfig::default(),
            bank: crate::bank::BankConfig::default(),
            sms: crate::sms::SmsConfig::default(),
            #[cfg(feature = "defects")]
            defects: crate::defects::Defects::default(),
        }
    }
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The PKI directory in effect.
    pub fn pki_dir(&self) -> PathBuf {
        self.pki_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pki"))
    }
}

/// A configuration file that cannot be used.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
}

/// A merchant enrollment token the operator hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentTokenConfig {
    /// The token (16 to 128 URL-safe characters).
    pub token: String,
    /// The merchant id it registers.
    pub merchant_id: String,
}

/// The operator's account number at the reference bank processor, by default.
pub const OPERATOR_ACCOUNT: &str = "OPER0001";

/// The network server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Public endpoint: merchant payment service and registration.
    pub listen: SocketAddr,
    /// Secure-link endpoint the mobile server calls.
    pub link_listen: SocketAddr,
    /// Where the mobile server's link endpoint is (used when the mobile server runs in another
    /// process; in one process the actual address is used).
    pub mobile_link_url: String,
    /// Further link identities (`ompp://mobile/<id>`, from the link CA) allowed to call the
    /// secure-link endpoint besides this PKI's mobile server: other mobile servers, or a
    /// conformance suite's second link identity. Each has its own token bucket (OMPP-LINK-001,
    /// OMPP-LINK-005). Empty by default.
    pub link_peers: Vec<String>,
    /// Enrollment tokens for merchant registration.
    pub enrollment_tokens: Vec<EnrollmentTokenConfig>,
    /// The bank processor's endpoint (when it runs in another process; in one process the
    /// actual address is used).
    pub bank_url: String,
    /// The SMS center's endpoint (same rule).
    pub sms_url: String,
    /// The identity the bank processor at `bank_url` must present (`ompp://bank/<id>`, from the
    /// operator CA); any other is refused at the handshake (OMPP-TLS-012).
    pub bank_identity: String,
    /// The identity the SMS center at `sms_url` must present (`ompp://sms/<id>`, same rule).
    pub sms_identity: String,
    /// The operator's account at the bank processor (bank `bank.bank_id`), credited by the bank
    /// transfer of every wallet top-up (OMPP-LEDGER-010).
    pub operator_account: String,
    /// How long an authorization code is valid, in seconds: 60 to 900, 300 by default
    /// (OMPP-AUTH-002, `ompp::limits::AUTH_CODE_VALIDITY`).
    pub auth_code_validity_secs: u64,
    /// Base address of the hosted payment page, for `OpenCheckoutResponse.payment_page_url`.
    pub gateway_url: String,
    /// ISO 3166-1 country code written into payee codes (EMVCo tag 58).
    pub payee_code_country: String,
    /// City written into payee codes (EMVCo tag 60), at most 15 characters.
    pub payee_code_city: String,
    /// Register the development PKI's sample merchant (`M-1042`, "Sample Merchant", EUR) at
    /// start, so its certificate works at once.
    pub sample_merchant: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7100)),
            link_listen: SocketAddr::from(([127, 0, 0, 1], 7101)),
            mobile_link_url: "https://localhost:7201".to_owned(),
            link_peers: Vec::new(),
            enrollment_tokens: Vec::new(),
            bank_url: "https://localhost:7300".to_owned(),
            sms_url: "https://localhost:7400".to_owned(),
            bank_identity: "ompp://bank/BP-1".to_owned(),
            sms_identity: "ompp://sms/SC-1".to_owned(),
            operator_account: OPERATOR_ACCOUNT.to_owned(),
            auth_code_validity_secs: ompp::limits::AUTH_CODE_VALIDITY.default_secs,
            gateway_url: "https://localhost:7100".to_owned(),
            payee_code_country: "DE".to_owned(),
            payee_code_city: "Berlin".to_owned(),
            sample_merchant: true,
        }
    }
}

/// The mobile server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MobileConfig {
    /// Device endpoint.
    pub listen: SocketAddr,
    /// Secure-link endpoint the network server calls.
    pub link_listen: SocketAddr,
    /// Where the network server's link endpoint is (when it runs in another process).
    pub network_link_url: String,
}

impl Default for MobileConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7200)),
            link_listen: SocketAddr::from(([127, 0, 0, 1], 7201)),
            network_link_url: "https://localhost:7101".to_owned(),
        }
    }
}
