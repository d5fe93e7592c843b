//! Secrets and the fields the OC sets: no password or enrollment token comes back in any
//! answer, a password is checked byte for byte as the customer typed it (and the mobile server
//! passes it on unchanged), and the identifiers, amounts, enums and lists of the OC's answers
//! follow chapter 02.

use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{CURRENCY, Credential, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.sec.no-secret-in-answers",
            title: "passwords and an enrollment token sent in failing and succeeding requests appear in no answer, status message, ErrorInfo or BadRequest",
            role: OC,
            profile: None,
            requirements: &["OMPP-SEC-002"],
            run: body!(no_secret_in_answers),
        },
        Case {
            id: "oc.pwd.exact-bytes",
            title: "a password with outer spaces and a decomposed letter works only exactly as registered: trimmed, composed or re-cased it is rejected",
            role: OC,
            profile: None,
            requirements: &["OMPP-PWD-004", "OMPP-PWD-006"],
            run: body!(exact_bytes),
        },
        Case {
            id: "oc.msg.answers-follow-the-rules",
            title: "identifiers, amounts, enum values and lists in the OC's answers of flows A and B follow chapter 02",
            role: OC,
            profile: None,
            requirements: &["OMPP-MSG-017"],
            run: body!(answers_follow_the_rules),
        },
    ]
}

/// Where `secret` shows in an answer, if anywhere.
fn leaks<T: std::fmt::Debug>(
    result: &Result<tonic::Response<T>, tonic::Status>,
    secret: &str,
) -> Option<String> {
    match result {
        Ok(response) => format!("{:?}", response.get_ref())
            .contains(secret)
            .then(|| "the response".to_owned()),
        Err(status) => {
            if status.message().contains(secret) {
                Some("the status message".to_owned())
            } else if status
                .details()
                .windows(secret.len().max(1))
                .any(|w| w == secret.as_bytes())
            {
                Some("the status details (ErrorInfo or BadRequest)".to_owned())
            } else {
                None
            }
        }
    }
}

fn no_leak<T: std::fmt::Debug>(
    checks: &Checks,
    description: &str,
    result: &Result<tonic::Response<T>, tonic::Status>,
    secret: &str,
) {
    let outcome = match result {
        Ok(_) => "OK".to_owned(),
        Err(status) => describe_status(status),
    };
    let leak = leaks(result, secret);
    checks.record(
        "OMPP-SEC-002",
        format!("{description}: the secret is nowhere in the answer"),
        "not found",
        match &leak {
            None => format!("not found (answered {outcome})"),
            Some(place) => format!("found in {place} (answered {outcome})"),
        },
        leak.is_none(),
    );
}

async fn no_secret_in_answers(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 1_000).await?;
    let secret = format!("Zq7{}wX", target.key("secret").replace('-', ""));
    let mut registration = target.registration(checks).await?;

    let result = registration
        .register_customer(pb::RegisterCustomerRequest {
            display_name: "Conformance Customer".into(),
            phone_number: "12".into(),
            password: secret.clone(),
            wallet_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(
        checks,
        "RegisterCustomer with a malformed phone number",
        &result,
        &secret,
    );
    let result = registration
        .register_customer(pb::RegisterCustomerRequest {
            display_name: "Conformance Customer".into(),
            phone_number: target.phone(),
            password: format!("{secret}\u{7}"),
            wallet_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(
        checks,
        "RegisterCustomer whose password holds a control character",
        &result,
        &secret,
    );
    let result = registration
        .pair_device(pb::PairDeviceRequest {
            customer_id: ana.customer_id.clone(),
            password: secret.clone(),
            device_name: "conformance device".into(),
            csr_der: vec![0x30, 0x00],
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(checks, "PairDevice with a wrong password", &result, &secret);
    let result = registration
        .register_merchant(pb::RegisterMerchantRequest {
            enrollment_token: secret.clone(),
            display_name: "Conformance Merchant".into(),
            csr_der: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            settlement_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(
        checks,
        "RegisterMerchant with an enrollment token the operator never issued",
        &result,
        &secret,
    );

    let mut merchant = target.merchant(checks).await?;
    let payment = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, 100, &target.key("secret")))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let result = ana
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment.payment_id.clone(),
            amount: Some(money(100)),
            password: secret.clone(),
        })
        .await;
    no_leak(
        checks,
        "ConfirmPayment with a wrong password",
        &result,
        &secret,
    );
    let result = ana
        .device
        .top_up_wallet(pb::TopUpWalletRequest {
            amount: Some(money(100)),
            password: secret.clone(),
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(
        checks,
        "TopUpWallet with a wrong password",
        &result,
        &secret,
    );

    // Succeeding requests: the customer's own password does not come back either.
    let own = format!("Own{secret}");
    let registered = registration
        .register_customer(pb::RegisterCustomerRequest {
            display_name: "Conformance Customer".into(),
            phone_number: target.phone(),
            password: own.clone(),
            wallet_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: target.key("secret"),
        })
        .await;
    no_leak(checks, "RegisterCustomer that succeeds", &registered, &own);
    Ok(())
}

/// The password the case registers: outer spaces, a letter written as `a` + combining
/// diaeresis (U+0308), and mixed case.
const DECOMPOSED: &str = "  Pa\u{0308}sswort Zwo ";

async fn exact_bytes(target: &Target, checks: &Checks) -> Result<(), Abort> {
    // Top-ups are funded by this account at the suite's bank (OMPP-LEDGER-010).
    let account = super::flow_c::support(target, checks)?
        .parties
        .bank
        .open_account(1_000);
    let phone = target.phone();
    let mut registration = target.registration(checks).await?;
    let customer_id = checks
        .setup_call(
            "RegisterCustomer",
            registration
                .register_customer(pb::RegisterCustomerRequest {
                    display_name: "Conformance Customer".into(),
                    phone_number: phone,
                    password: DECOMPOSED.into(),
                    wallet_currencies: vec![CURRENCY.into()],
                    bank_account: Some(account),
                    idempotency_key: target.key("pwd"),
                })
                .await,
        )?
        .customer_id;
    let csr = checks.setup(
        "generate a device key and CSR",
        ompp_server::pki::generate_csr("device"),
    )?;
    let paired = checks.succeeds(
        "OMPP-PWD-006",
        "PairDevice with the password exactly as registered succeeds",
        registration
            .pair_device(pb::PairDeviceRequest {
                customer_id: customer_id.clone(),
                password: DECOMPOSED.into(),
                device_name: "conformance device".into(),
                csr_der: csr.csr_der,
                idempotency_key: target.key("pwd"),
            })
            .await,
    )?;
    let credential = Credential {
        cert_pem: ompp_server::pki::cert_der_to_pem(&paired.certificate_der),
        key_pem: csr.key_pem,
    };
    let channel = checks.setup(
        "connect to DeviceService with the paired device's certificate",
        target.channel(&target.mobile_url, Some(&credential)).await,
    )?;
    let mut device = pb::device_service_client::DeviceServiceClient::new(channel);
    let composed = DECOMPOSED.replace("a\u{0308}", "\u{e4}");
    for (password, description) in [
        (DECOMPOSED.trim().to_owned(), "trimmed"),
        (composed, "with the letter composed (NFC)"),
        (DECOMPOSED.to_lowercase(), "lower-cased"),
    ] {
        checks.reason(
            "OMPP-PWD-006",
            format!("TopUpWallet with the password {description} fails"),
            device
                .top_up_wallet(pb::TopUpWalletRequest {
                    amount: Some(money(100)),
                    password,
                    idempotency_key: target.key("pwd"),
                })
                .await,
            R::CredentialsRejected,
        );
    }
    let topped = checks.succeeds(
        "OMPP-PWD-004",
        "TopUpWallet through the mobile server with the password exactly as registered succeeds (passed on unchanged)",
        device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(100)),
                password: DECOMPOSED.into(),
                idempotency_key: target.key("pwd"),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-PWD-004",
        "only the exact password moved money",
        Some(money(100)),
        topped.entry.and_then(|e| e.balance_after),
    );
    Ok(())
}

/// Whether `id` matches OMPP-MSG-002.
fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Collects what breaks chapter 02 in the OC's answers.
#[derive(Default)]
struct Audit {
    problems: Vec<String>,
}

impl Audit {
    fn id(&mut self, at: &str, id: &str) {
        if !id.is_empty() && !is_identifier(id) {
            self.problems.push(format!("{at}: identifier {id:?}"));
        }
    }

    fn required_id(&mut self, at: &str, id: &str) {
        if id.is_empty() {
            self.problems.push(format!("{at}: empty"));
        }
        self.id(at, id);
    }

    fn money(&mut self, at: &str, amount: Option<&pb::Money>) {
        match amount {
            None => self.problems.push(format!("{at}: absent")),
            Some(m)
                if m.currency.len() != 3 || !m.currency.chars().all(|c| c.is_ascii_uppercase()) =>
            {
                self.problems
                    .push(format!("{at}: currency {:?}", m.currency));
            }
            Some(_) => {}
        }
    }

    fn payment(&mut self, at: &str, payment: Option<&pb::Payment>) {
        let Some(p) = payment else {
            self.problems.push(format!("{at}: no payment"));
            return;
        };
        self.required_id(&format!("{at}.payment_id"), &p.payment_id);
        self.required_id(&format!("{at}.merchant_id"), &p.merchant_id);
        self.id(&format!("{at}.customer_id"), &p.customer_id);
        self.money(&format!("{at}.amount"), p.amount.as_ref());
        if pb::PaymentStatus::try_from(p.status)
            .map_or(true, |s| s == pb::PaymentStatus::Unspecified)
        {
            self.problems.push(format!("{at}.status: {}", p.status));
        }
        if pb::PaymentFlow::try_from(p.flow).map_or(true, |f| f == pb::PaymentFlow::Unspecified) {
            self.problems.push(format!("{at}.flow: {}", p.flow));
        }
        if R::try_from(p.failure_reason).is_err() {
            self.problems
                .push(format!("{at}.failure_reason: {}", p.failure_reason));
        }
        if p.items.len() > 50 {
            self.problems.push(format!("{at}.items: {}", p.items.len()));
        }
        if let Some(r) = &p.receipt {
            self.receipt(&format!("{at}.receipt"), r);
        }
    }

    fn receipt(&mut self, at: &str, r: &pb::Receipt) {
        self.required_id(&format!("{at}.receipt_id"), &r.receipt_id);
        self.required_id(&format!("{at}.payment_id"), &r.payment_id);
        self.required_id(&format!("{at}.merchant_id"), &r.merchant_id);
        self.required_id(&format!("{at}.transfer_id"), &r.transfer_id);
        self.id(&format!("{at}.customer_id"), &r.customer_id);
        self.money(&format!("{at}.amount"), r.amount.as_ref());
        if pb::PaymentFlow::try_from(r.flow).map_or(true, |f| f == pb::PaymentFlow::Unspecified) {
            self.problems.push(format!("{at}.flow: {}", r.flow));
        }
    }

    fn entry(&mut self, at: &str, e: &pb::WalletEntry) {
        self.required_id(&format!("{at}.transfer_id"), &e.transfer_id);
        self.id(&format!("{at}.payment_id"), &e.payment_id);
        self.money(&format!("{at}.delta"), e.delta.as_ref());
        self.money(&format!("{at}.balance_after"), e.balance_after.as_ref());
    }
}

async fn answers_follow_the_rules(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let mut audit = Audit::default();
    audit.required_id("RegisterCustomerResponse.customer_id", &ana.customer_id);
    audit.required_id("PairDeviceResponse.device_id", &ana.device_id);
    let mut merchant = target.merchant(checks).await?;
    let created = checks.setup_call(
        "CreatePayment",
        merchant
            .create_payment(create(target, &ana.customer_id, 420, &target.key("rules")))
            .await,
    )?;
    audit.payment("CreatePaymentResponse.payment", created.payment.as_ref());
    let payment_id = created.payment.unwrap_or_default().payment_id;
    let confirmed = checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment_id.clone(),
                amount: Some(money(420)),
                password: crate::target::PASSWORD.into(),
            })
            .await,
    )?;
    if pb::PaymentStatus::try_from(confirmed.status)
        .map_or(true, |s| s == pb::PaymentStatus::Unspecified)
    {
        audit.problems.push(format!(
            "ConfirmPaymentResponse.status: {}",
            confirmed.status
        ));
    }
    if let Some(r) = &confirmed.receipt {
        audit.receipt("ConfirmPaymentResponse.receipt", r);
    }
    let got = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id,
            })
            .await,
    )?;
    audit.payment("GetPaymentResponse.payment", got.payment.as_ref());
    let code = checks.setup_call(
        "IssuePayeeCode",
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: Some(money(310)),
                currency: String::new(),
                merchant_reference: "rules".into(),
                expires_in: None,
                idempotency_key: target.key("rules"),
            })
            .await,
    )?;
    audit.required_id("IssuePayeeCodeResponse.code_id", &code.code_id);
    audit.id("IssuePayeeCodeResponse.payment_id", &code.payment_id);
    let preview = checks.setup_call(
        "PreviewPayeeCode",
        ana.device
            .preview_payee_code(pb::PreviewPayeeCodeRequest {
                payload: code.payload.clone(),
            })
            .await,
    )?;
    audit.required_id("PreviewPayeeCodeResponse.merchant_id", &preview.merchant_id);
    audit.money("PreviewPayeeCodeResponse.amount", preview.amount.as_ref());
    let paid = checks.setup_call(
        "SubmitPayeeCode",
        ana.device
            .submit_payee_code(pb::SubmitPayeeCodeRequest {
                payload: code.payload,
                amount: Some(money(310)),
                password: crate::target::PASSWORD.into(),
                idempotency_key: target.key("rules"),
            })
            .await,
    )?;
    audit.payment("SubmitPayeeCodeResponse.payment", paid.payment.as_ref());
    let balances = checks.setup_call(
        "GetWalletBalance",
        ana.device
            .get_wallet_balance(pb::GetWalletBalanceRequest {})
            .await,
    )?;
    for (n, m) in balances.balances.iter().enumerate() {
        audit.money(&format!("GetWalletBalanceResponse.balances[{n}]"), Some(m));
    }
    let history = checks.setup_call(
        "ListWalletHistory",
        ana.device
            .list_wallet_history(pb::ListWalletHistoryRequest {
                currency: String::new(),
                page_size: 2,
                page_token: String::new(),
            })
            .await,
    )?;
    if history.entries.len() > 2 {
        audit.problems.push(format!(
            "ListWalletHistoryResponse.entries: {} for page_size 2",
            history.entries.len()
        ));
    }
    for (n, e) in history.entries.iter().enumerate() {
        audit.entry(&format!("ListWalletHistoryResponse.entries[{n}]"), e);
    }
    // Not a transcript step: concurrent cases move the shared merchant's balance.
    let balance = merchant
        .get_merchant_balance(pb::GetMerchantBalanceRequest {
            merchant_id: target.merchant_id.clone(),
        })
        .await
        .map_err(|status| checks.fail("GetMerchantBalance", describe_status(&status)))?
        .into_inner();
    for (n, m) in balance.balances.iter().enumerate() {
        audit.money(
            &format!("GetMerchantBalanceResponse.balances[{n}]"),
            Some(m),
        );
    }
    checks.record(
        "OMPP-MSG-017",
        "every identifier matches OMPP-MSG-002, every amount is Money with an alphabetic currency code, no required enum is UNSPECIFIED or unknown, lists keep their bounds",
        "no problem",
        if audit.problems.is_empty() {
            "no problem".to_owned()
        } else {
            format!("{:?}", audit.problems)
        },
        audit.problems.is_empty(),
    );
    Ok(())
}
