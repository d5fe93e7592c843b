//! Registration: customers, wallets and device pairing.

use ompp::conformance::Profile;
use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{CURRENCY, PASSWORD, Target, money};

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
    ]
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
