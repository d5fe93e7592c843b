//! Registration: customers, wallets and device pairing.

use ompp::conformance::Profile;
use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{CURRENCY, Credential, PASSWORD, Target, money};
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.reg.new-wallet-zero-balance",
            title: "a new customer's wallet exists with a zero balance",
            role: OC,
            profile: Some(Profile::Registration),
            requirements: &["OMPP-REG-010"],
            run: body!(new_wallet),
        },
        Case {
            id: "oc.reg.duplicate-phone",
            title: "a phone number another customer holds fails with ALREADY_REGISTERED",
            role: OC,
            profile: Some(Profile::Registration),
            requirements: &["OMPP-REG-006"],
            run: body!(duplicate_phone),
        },
        Case {
            id: "oc.reg.pair-device-credentials-alike",
            title: "PairDevice answers an unknown customer and a wrong password alike",
            role: OC,
            profile: Some(Profile::Registration),
            requirements: &["OMPP-REG-008", "OMPP-ERR-004"],
            run: body!(pair_alike),
        },
        Case {
            id: "oc.reg.merchant-enrollment",
            title: "an issued enrollment token registers a merchant once: its certificate works, its wallet is empty, a retry returns it, another key is refused",
            role: OC,
            profile: Some(Profile::Registration),
            requirements: &["OMPP-REG-002", "OMPP-REG-004"],
            run: body!(merchant_enrollment),
        },
        Case {
            id: "oc.reg.merchant-enrollment-refusals",
            title: "a malformed token, a CSR that is not one, no settlement currency and a token never issued are refused with their reasons",
            role: OC,
            profile: Some(Profile::Registration),
            requirements: &[
                "OMPP-REG-001",
                "OMPP-REG-002",
                "OMPP-REG-003",
                "OMPP-REG-004",
            ],
            run: body!(merchant_enrollment_refusals),
        },
    ]
}

fn register_merchant(
    target: &Target,
    token: &str,
    csr_der: Vec<u8>,
    key: &str,
) -> pb::RegisterMerchantRequest {
    pb::RegisterMerchantRequest {
        enrollment_token: token.into(),
        display_name: "Conformance Merchant".into(),
        csr_der,
        settlement_currencies: vec![CURRENCY.into()],
        bank_account: None,
        idempotency_key: target.key(key),
    }
}

async fn merchant_enrollment(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let token = target.enrollment_token(checks)?;
    let csr = checks.setup(
        "generate a merchant key and CSR",
        ompp_server::pki::generate_csr("merchant"),
    )?;
    let mut registration = target.registration(checks).await?;
    let request = register_merchant(target, &token, csr.csr_der.clone(), "enroll");
    let registered = checks.succeeds(
        "OMPP-REG-002",
        "RegisterMerchant with an issued token succeeds",
        registration.register_merchant(request.clone()).await,
    )?;
    let credential = Credential {
        cert_pem: ompp_server::pki::cert_der_to_pem(&registered.certificate_der),
        key_pem: csr.key_pem,
    };
    let channel = checks.setup(
        "connect with the new merchant certificate",
        target.channel(&target.network_url, Some(&credential)).await,
    )?;
    let mut merchant = MerchantPaymentServiceClient::new(channel);
    let balance = checks.succeeds(
        "OMPP-REG-004",
        "the new merchant's certificate is accepted",
        merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: registered.merchant_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-REG-004",
        "one wallet per settlement currency, with a zero balance",
        vec![money(0)],
        balance.balances,
    );
    let retry = checks.succeeds(
        "OMPP-REG-002",
        "a retry with the same key and content succeeds",
        registration.register_merchant(request.clone()).await,
    )?;
    checks.equal(
        "OMPP-REG-002",
        "the retry returns the same merchant",
        registered.merchant_id.clone(),
        retry.merchant_id,
    );
    let other_key = registration
        .register_merchant(pb::RegisterMerchantRequest {
            idempotency_key: target.key("enroll-again"),
            ..request
        })
        .await;
    checks.reason(
        "OMPP-REG-002",
        "the redeemed token under another key fails with ENROLLMENT_REJECTED",
        other_key,
        R::EnrollmentRejected,
    );
    Ok(())
}

async fn merchant_enrollment_refusals(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let csr = checks.setup(
        "generate a merchant key and CSR",
        ompp_server::pki::generate_csr("merchant"),
    )?;
    let never_issued = format!("{}-never-issued-token", target.key("enr"));
    let mut registration = target.registration(checks).await?;
    let short = registration
        .register_merchant(register_merchant(
            target,
            "short",
            csr.csr_der.clone(),
            "refuse",
        ))
        .await;
    if let Some(error) = checks.reason(
        "OMPP-REG-001",
        "a 5-character enrollment token fails with INVALID_FIELD",
        short,
        R::InvalidField,
    ) {
        checks.equal(
            "OMPP-REG-001",
            "the error names enrollment_token",
            Some("enrollment_token"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    let no_currency = registration
        .register_merchant(pb::RegisterMerchantRequest {
            settlement_currencies: vec![],
            ..register_merchant(target, &never_issued, csr.csr_der.clone(), "refuse")
        })
        .await;
    if let Some(error) = checks.reason(
        "OMPP-REG-004",
        "no settlement currency fails with INVALID_FIELD",
        no_currency,
        R::InvalidField,
    ) {
        checks.equal(
            "OMPP-REG-004",
            "the error names settlement_currencies",
            Some("settlement_currencies"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    let not_der = registration
        .register_merchant(register_merchant(
            target,
            &never_issued,
            b"not a certificate signing request".to_vec(),
            "refuse",
        ))
        .await;
    if let Some(error) = checks.reason(
        "OMPP-REG-001",
        "a csr_der that does not start with a DER SEQUENCE fails with INVALID_FIELD",
        not_der,
        R::InvalidField,
    ) {
        checks.equal(
            "OMPP-REG-001",
            "the error names csr_der",
            Some("csr_der"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    // A DER SEQUENCE holding one INTEGER: well-formed DER, not a PKCS#10 request.
    let not_a_csr = registration
        .register_merchant(register_merchant(
            target,
            &never_issued,
            vec![0x30, 0x03, 0x02, 0x01, 0x00],
            "refuse",
        ))
        .await;
    checks.reason(
        "OMPP-REG-003",
        "a DER SEQUENCE that is not a PKCS#10 request fails with CSR_REJECTED",
        not_a_csr,
        R::CsrRejected,
    );
    let unknown = registration
        .register_merchant(register_merchant(
            target,
            &never_issued,
            csr.csr_der.clone(),
            "refuse",
        ))
        .await;
    checks.reason(
        "OMPP-REG-002",
        "a well-formed token the operator never issued fails with ENROLLMENT_REJECTED",
        unknown,
        R::EnrollmentRejected,
    );
    Ok(())
}

async fn new_wallet(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let balances = checks.succeeds(
        "OMPP-REG-010",
        "GetWalletBalance from the paired device succeeds",
        ana.device
            .get_wallet_balance(pb::GetWalletBalanceRequest {})
            .await,
    )?;
    checks.equal(
        "OMPP-REG-010",
        "exactly one zero balance per wallet currency",
        vec![money(0)],
        balances.balances,
    );
    Ok(())
}

async fn duplicate_phone(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let (_, phone) = target.register(checks, true, None).await?;
    let mut registration = target.registration(checks).await?;
    checks.reason(
        "OMPP-REG-006",
        "RegisterCustomer with the same phone number under another key fails",
        registration
            .register_customer(pb::RegisterCustomerRequest {
                display_name: "Second Customer".into(),
                phone_number: phone,
                password: PASSWORD.into(),
                wallet_currencies: vec![CURRENCY.into()],
                bank_account: None,
                idempotency_key: target.key("reg"),
            })
            .await,
        R::AlreadyRegistered,
    );
    Ok(())
}

async fn pair_alike(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let (customer_id, _) = target.register(checks, true, None).await?;
    let csr = checks.setup(
        "generate a device key and CSR",
        ompp_server::pki::generate_csr("device"),
    )?;
    let mut registration = target.registration(checks).await?;
    let request = |customer_id: String| pb::PairDeviceRequest {
        customer_id,
        password: "not the password 1".into(),
        device_name: "conformance device".into(),
        csr_der: csr.csr_der.clone(),
        idempotency_key: target.key("pair"),
    };
    let wrong = registration.pair_device(request(customer_id)).await;
    let unknown = registration
        .pair_device(request(target.key("nobody")))
        .await;
    let describe =
        |result: &Result<tonic::Response<pb::PairDeviceResponse>, tonic::Status>| match result {
            Ok(_) => ("OK".to_owned(), None),
            Err(status) => (
                describe_status(status),
                ProtocolError::from_status(status).ok().map(|e| {
                    (
                        status.code(),
                        e.reason,
                        e.metadata.keys().cloned().collect::<Vec<_>>(),
                    )
                }),
            ),
        };
    let (wrong_text, wrong) = describe(&wrong);
    let (unknown_text, unknown) = describe(&unknown);
    checks.record(
        "OMPP-REG-008",
        "a wrong password fails with CREDENTIALS_REJECTED",
        "CREDENTIALS_REJECTED",
        wrong_text,
        wrong
            .as_ref()
            .is_some_and(|w| w.1 == R::CredentialsRejected),
    );
    checks.record(
        "OMPP-REG-008",
        "an unknown customer id fails with CREDENTIALS_REJECTED",
        "CREDENTIALS_REJECTED",
        unknown_text,
        unknown
            .as_ref()
            .is_some_and(|u| u.1 == R::CredentialsRejected),
    );
    checks.equal(
        "OMPP-ERR-004",
        "both failures have the same code, reason and metadata keys",
        wrong,
        unknown,
    );
    Ok(())
}
