//! `GatewayService` requests (network server, customer side of flow C).

use super::Request;
use crate::proto::v1 as pb;
use crate::types::{AuthorizationCodeText, Password, PaymentId, PhoneNumber, SessionToken};
use crate::validation::{FieldPath, Validator};

/// What the payment page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCheckoutStatus {
    /// The checkout's payment.
    pub payment_id: PaymentId,
}

impl Request for GetCheckoutStatus {
    type Proto = pb::GetCheckoutStatusRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id))?;
        Some(Self { payment_id })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::GetCheckoutStatusRequest {
            payment_id: self.payment_id.to_string(),
        }
    }
}

/// The password step: online identity and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPassword {
    /// The checkout's payment.
    pub payment_id: PaymentId,
    /// The online identity.
    pub phone_number: PhoneNumber,
    /// The payment password.
    pub password: Password,
}

impl Request for SubmitPassword {
    type Proto = pb::SubmitPasswordRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id));
        let phone_number = v.check(
            path.child("phone_number"),
            PhoneNumber::parse(&p.phone_number),
        );
        let password = v.check(path.child("password"), Password::parse(&p.password));
        Some(Self {
            payment_id: payment_id?,
            phone_number: phone_number?,
            password: password?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::SubmitPasswordRequest {
            payment_id: self.payment_id.to_string(),
            phone_number: self.phone_number.to_string(),
            password: self.password.expose().to_owned(),
        }
    }
}

/// The code step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitAuthorizationCode {
    /// The checkout's payment.
    pub payment_id: PaymentId,
    /// The token from the password step.
    pub session_token: SessionToken,
    /// The code as typed (OMPP-AUTH-001).
    pub authorization_code: AuthorizationCodeText,
}

impl Request for SubmitAuthorizationCode {
    type Proto = pb::SubmitAuthorizationCodeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id));
        let session_token = v.check(
            path.child("session_token"),
            SessionToken::parse(&p.session_token),
        );
        let authorization_code = v.check(
            path.child("authorization_code"),
            AuthorizationCodeText::parse(&p.authorization_code),
        );
        Some(Self {
            payment_id: payment_id?,
            session_token: session_token?,
            authorization_code: authorization_code?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::SubmitAuthorizationCodeRequest {
            payment_id: self.payment_id.to_string(),
            session_token: self.session_token.expose().to_owned(),
            authorization_code: self.authorization_code.expose().to_owned(),
        }
    }
}
