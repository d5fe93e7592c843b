//! Party identities: the URI SAN `ompp://<role>/<id>` of every OMPP certificate.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::is_id_char;
use super::{check_chars, check_len};
use crate::limits::ID_LEN;
use crate::validation::Violation;

/// The role part of an identity.
#[non_exhaustive]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Role {
    /// A merchant terminal.
    Merchant,
    /// A customer device.
    Device,
    /// The network server.
    Network,
    /// The mobile server.
    Mobile,
    /// A bank processor.
    Bank,
    /// An SMS center.
    Sms,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Merchant,
        Role::Device,
        Role::Network,
        Role::Mobile,
        Role::Bank,
        Role::Sms,
    ];

    /// The role as written in the URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Merchant => "merchant",
            Role::Device => "device",
            Role::Network => "network",
            Role::Mobile => "mobile",
            Role::Bank => "bank",
            Role::Sms => "sms",
        }
    }
}

/// A party's identity, `ompp://<role>/<id>`, as carried in a certificate's URI SAN and in a
/// secure-link envelope's `sender_id`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct PartyIdentity {
    role: Role,
    id: String,
}

impl PartyIdentity {
    const SCHEME: &'static str = "ompp://";

    /// The identity of `role` number `id`, if `id` follows the identifier grammar.
    pub fn new(role: Role, id: &str) -> Result<Self, Violation> {
        check_len(id, ID_LEN)?;
        check_chars(id, is_id_char)?;
        // Same grammar as every other id (OMPP-MSG-002): first character a letter or digit.
        if id.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
            return Err(Violation::BadCharacter { position: 0 });
        }
        Ok(Self {
            role,
            id: id.to_owned(),
        })
    }

    /// Parses `ompp://<role>/<id>`.
    pub fn parse(uri: &str) -> Result<Self, Violation> {
        const EXPECTED: &str =
            "ompp://<role>/<id> with role merchant, device, network, mobile, bank or sms";
        if uri.is_empty() {
            return Err(Violation::Missing);
        }
        let rest = uri
            .strip_prefix(Self::SCHEME)
            .ok_or(Violation::BadFormat { expected: EXPECTED })?;
        let (role, id) = rest
            .split_once('/')
            .ok_or(Violation::BadFormat { expected: EXPECTED })?;
        let role = Role::ALL
            .into_iter()
            .find(|r| r.as_str() == role)
            .ok_or(Violation::BadFormat { expected: EXPECTED })?;
        Self::new(role, id).map_err(|_| Violation::BadFormat { expected: EXPECTED })
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The id within the role.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for PartyIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", Self::SCHEME, self.role.as_str(), self.id)
    }
}

impl TryFrom<String> for PartyIdentity {
    type Error = Violation;
    fn try_from(uri: String) -> Result<Self, Violation> {
        Self::parse(&uri)
    }
}

impl From<PartyIdentity> for String {
    fn from(identity: PartyIdentity) -> Self {
        identity.to_string()
    }
}
