//! Fixtures provisioned through the system's own RPCs, and the valid requests built from them.

use super::*;

/// What the fuzzer provisioned for itself.
#[derive(Debug)]
pub(super) struct Fixtures {
    pub(super) customers: Vec<Customer>,
    /// `MerchantPaymentService` as the suite's merchant, for provisioning and balances.
    pub(super) merchant: MerchantPaymentServiceClient<Channel>,
    /// A registered customer without a wallet top-up whose devices the fuzzer pairs.
    pub(super) pairing_customer: String,
    pub(super) csr_der: Vec<u8>,
    /// Per suite customer: a pending payment of the suite's merchant addressed to it.
    pub(super) pending: Vec<Option<String>>,
    pub(super) settled: Option<String>,
    pub(super) payee_payload: Option<String>,
    pub(super) payee_payment: Option<String>,
    pub(super) checkout: Option<String>,
    pub(super) round: u64,
}

/// A valid request and the suite customer whose device sends it (device methods only).
#[derive(Debug, Clone)]
pub(super) struct Seed {
    pub(super) customer: usize,
    pub(super) bytes: Vec<u8>,
}

pub(super) fn duration(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

pub(super) async fn provision(target: &Target) -> Result<Fixtures, String> {
    let checks = Checks::new("OMPP-CONF-001");
    let why = |checks: &Checks, what: &str| {
        let last = checks
            .take()
            .into_iter()
            .rev()
            .find(|a| !a.passed)
            .map(|a| format!("{}: {}", a.description, a.actual))
            .unwrap_or_default();
        format!("{what}: {last}")
    };
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(
            target
                .customer(&checks, START_TOP_UP)
                .await
                .map_err(|_| why(&checks, "provisioning a customer"))?,
        );
    }
    let (pairing_customer, _) = target
        .register(&checks, true, None)
        .await
        .map_err(|_| why(&checks, "registering the pairing customer"))?;
    let csr = ompp_server::pki::generate_csr("fuzz device").map_err(|e| format!("CSR: {e}"))?;
    let merchant = target
        .merchant(&checks)
        .await
        .map_err(|_| why(&checks, "connecting as the merchant"))?;
    let mut fixtures = Fixtures {
        customers,
        merchant,
        pairing_customer,
        csr_der: csr.csr_der,
        pending: vec![None; CUSTOMERS],
        settled: None,
        payee_payload: None,
        payee_payment: None,
        checkout: None,
        round: 0,
    };
    refresh(target, &mut fixtures).await;
    Ok(fixtures)
}

/// Creates fresh pending payments, a payee code and a checkout (best effort: what fails is
/// left out of the seeds).
pub(super) async fn refresh(target: &Target, fixtures: &mut Fixtures) {
    fixtures.round += 1;
    let mut merchant = fixtures.merchant.clone();
    for (i, customer) in fixtures.customers.iter().enumerate() {
        let created = merchant
            .create_payment(pb::CreatePaymentRequest {
                merchant_id: target.merchant_id.clone(),
                customer_id: customer.customer_id.clone(),
                amount: Some(money(125)),
                items: vec![pb::LineItem {
                    product_code: "FUZZ-1".into(),
                    description: "fuzz item".into(),
                    quantity: 1,
                }],
                merchant_reference: format!("fuzz-{}-{i}", fixtures.round),
                expires_in: Some(duration(600)),
                idempotency_key: target.key("fuzz-pay"),
            })
            .await;
        fixtures.pending[i] = created
            .ok()
            .and_then(|r| r.into_inner().payment)
            .map(|p| p.payment_id);
    }
    if fixtures.settled.is_none() {
        fixtures.settled = settle(target, &mut merchant, fixtures).await;
    }
    if let Ok(issued) = merchant
        .issue_payee_code(pb::IssuePayeeCodeRequest {
            merchant_id: target.merchant_id.clone(),
            amount: Some(money(80)),
            currency: String::new(),
            merchant_reference: format!("fuzz-code-{}", fixtures.round),
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-code"),
        })
        .await
    {
        let issued = issued.into_inner();
        fixtures.payee_payload = Some(issued.payload);
        fixtures.payee_payment = Some(issued.payment_id);
    }
    if let Ok(opened) = merchant
        .open_checkout(pb::OpenCheckoutRequest {
            merchant_id: target.merchant_id.clone(),
            amount: Some(money(90)),
            merchant_reference: format!("fuzz-checkout-{}", fixtures.round),
            items: vec![],
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-checkout"),
        })
        .await
    {
        fixtures.checkout = opened.into_inner().payment.map(|p| p.payment_id);
    }
}

/// A payment of the suite's merchant that the first customer paid, for `GetReceipt`.
pub(super) async fn settle(
    target: &Target,
    merchant: &mut MerchantPaymentServiceClient<Channel>,
    fixtures: &mut Fixtures,
) -> Option<String> {
    let customer = fixtures.customers.first_mut()?;
    let payment = merchant
        .create_payment(pb::CreatePaymentRequest {
            merchant_id: target.merchant_id.clone(),
            customer_id: customer.customer_id.clone(),
            amount: Some(money(100)),
            items: vec![],
            merchant_reference: "fuzz-settled".into(),
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-settle"),
        })
        .await
        .ok()?
        .into_inner()
        .payment?;
    customer
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment.payment_id.clone(),
            amount: Some(money(100)),
            password: PASSWORD.into(),
        })
        .await
        .ok()?;
    Some(payment.payment_id)
}

pub(super) fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

/// The valid requests of `method`.
pub(super) fn seeds(target: &Target, fixtures: &Fixtures, method: &Method, n: u64) -> Vec<Seed> {
    let merchant_id = target.merchant_id.clone();
    let any_payment = || {
        fixtures
            .pending
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_else(|| "pay_0000000000000000".into())
    };
    let payments: Vec<String> = [
        Some(any_payment()),
        fixtures.settled.clone(),
        fixtures.payee_payment.clone(),
        fixtures.checkout.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let checkout = fixtures.checkout.clone().unwrap_or_else(any_payment);
    let payload = fixtures.payee_payload.clone().unwrap_or_default();
    let key = |label: &str| format!("fuzz-{label}-{}-{n}", fixtures.round);
    let plain = |bytes: Vec<Vec<u8>>| -> Vec<Seed> {
        bytes
            .into_iter()
            .map(|bytes| Seed { customer: 0, bytes })
            .collect()
    };
    let per_customer = |build: &dyn Fn(usize) -> Vec<u8>| -> Vec<Seed> {
        (0..fixtures.customers.len())
            .map(|customer| Seed {
                customer,
                bytes: build(customer),
            })
            .collect()
    };
    match method.name {
        "CreatePayment" => per_customer(&|c| {
            encode(&pb::CreatePaymentRequest {
                merchant_id: merchant_id.clone(),
                customer_id: fixtures.customers[c].customer_id.clone(),
                amount: Some(money(150)),
                items: vec![pb::LineItem {
                    product_code: "SKU-1".into(),
                    description: "coffee".into(),
                    quantity: 2,
                }],
                merchant_reference: format!("order-{c}"),
                expires_in: Some(duration(300)),
                idempotency_key: key("create"),
            })
        }),
        "GetPayment" | "CancelPayment" | "GetReceipt" => plain(
            payments
                .iter()
                .map(|payment_id| {
                    encode(&pb::GetPaymentRequest {
                        merchant_id: merchant_id.clone(),
                        payment_id: payment_id.clone(),
                    })
                })
                .collect(),
        ),
        "IssuePayeeCode" => plain(vec![
            encode(&pb::IssuePayeeCodeRequest {
                merchant_id: merchant_id.clone(),
                amount: Some(money(50)),
                currency: String::new(),
                merchant_reference: "table 4".into(),
                expires_in: Some(duration(120)),
                idempotency_key: key("code"),
            }),
            encode(&pb::IssuePayeeCodeRequest {
                merchant_id: merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: "open amount".into(),
                expires_in: None,
                idempotency_key: key("open-code"),
            }),
        ]),
        "OpenCheckout" => plain(vec![encode(&pb::OpenCheckoutRequest {
            merchant_id: merchant_id.clone(),
            amount: Some(money(70)),
            merchant_reference: "cart 9".into(),
            items: vec![pb::LineItem {
                product_code: "SKU-2".into(),
                description: String::new(),
                quantity: 1,
            }],
            expires_in: Some(duration(300)),
            idempotency_key: key("checkout"),
        })]),
        "GetMerchantBalance" => plain(vec![encode(&pb::GetMerchantBalanceRequest {
            merchant_id: merchant_id.clone(),
        })]),
        "RegisterMerchant" => plain(vec![encode(&pb::RegisterMerchantRequest {
            enrollment_token: "not-a-real-enrollment-token".into(),
            display_name: "Fuzz Merchant".into(),
            csr_der: fixtures.csr_der.clone(),
            settlement_currencies: vec![CURRENCY.into()],
            bank_account: Some(pb::BankAccountRef {
                bank_id: "bank".into(),
                account_number: "ACC1".into(),
            }),
            idempotency_key: key("merchant"),
        })]),
        "RegisterCustomer" => plain(vec![encode(&pb::RegisterCustomerRequest {
            display_name: "Fuzz Customer".into(),
            phone_number: target.phone(),
            password: PASSWORD.into(),
            wallet_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: key("register"),
        })]),
        "PairDevice" => plain(vec![encode(&pb::PairDeviceRequest {
            customer_id: fixtures.pairing_customer.clone(),
            password: PASSWORD.into(),
            device_name: "fuzz device".into(),
            csr_der: fixtures.csr_der.clone(),
            idempotency_key: key("pair"),
        })]),
        "ConfirmPayment" => per_customer(&|c| {
            encode(&pb::ConfirmPaymentRequest {
                payment_id: fixtures.pending[c].clone().unwrap_or_else(any_payment),
                amount: Some(money(125)),
                password: PASSWORD.into(),
            })
        }),
        "DeclinePayment" => per_customer(&|c| {
            encode(&pb::DeclinePaymentRequest {
                payment_id: fixtures.pending[c].clone().unwrap_or_else(any_payment),
            })
        }),
        "PreviewPayeeCode" => per_customer(&|_| {
            encode(&pb::PreviewPayeeCodeRequest {
                payload: payload.clone(),
            })
        }),
        "SubmitPayeeCode" => per_customer(&|_| {
            encode(&pb::SubmitPayeeCodeRequest {
                payload: payload.clone(),
                amount: Some(money(80)),
                password: PASSWORD.into(),
                idempotency_key: key("submit"),
            })
        }),
        "GetWalletBalance" => per_customer(&|_| encode(&pb::GetWalletBalanceRequest {})),
        "ListWalletHistory" => per_customer(&|_| {
            encode(&pb::ListWalletHistoryRequest {
                currency: CURRENCY.into(),
                page_size: 5,
                page_token: String::new(),
            })
        }),
        "TopUpWallet" => per_customer(&|_| {
            encode(&pb::TopUpWalletRequest {
                amount: Some(money(500)),
                password: PASSWORD.into(),
                idempotency_key: key("topup"),
            })
        }),
        "GetCheckoutStatus" => plain(vec![encode(&pb::GetCheckoutStatusRequest {
            payment_id: checkout.clone(),
        })]),
        "SubmitPassword" => plain(vec![encode(&pb::SubmitPasswordRequest {
            payment_id: checkout.clone(),
            phone_number: fixtures
                .customers
                .first()
                .map(|c| c.phone.clone())
                .unwrap_or_default(),
            password: PASSWORD.into(),
        })]),
        "SubmitAuthorizationCode" => plain(vec![encode(&pb::SubmitAuthorizationCodeRequest {
            payment_id: checkout.clone(),
            session_token: "fuzz-session-token".into(),
            authorization_code: "123456".into(),
        })]),
        _ => Vec::new(),
    }
}

/// The channels the fuzzer sends on.
#[derive(Debug)]
pub(super) struct Channels {
    pub(super) merchant: Channel,
    pub(super) public: Channel,
    pub(super) devices: Vec<Channel>,
}

pub(super) async fn connect(
    target: &Target,
    url: &str,
    identity: Option<&Credential>,
) -> Result<Channel, String> {
    target
        .channel(url, identity)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))
}

impl Channels {
    pub(super) async fn open(target: &Target, customers: &[Customer]) -> Result<Self, String> {
        let mut devices = Vec::new();
        for customer in customers {
            devices.push(connect(target, &target.mobile_url, Some(&customer.credential)).await?);
        }
        Ok(Self {
            merchant: connect(target, &target.network_url, Some(&target.merchant)).await?,
            public: connect(target, &target.network_url, None).await?,
            devices,
        })
    }

    pub(super) fn for_method(&self, service: Service, customer: usize) -> Option<Channel> {
        match service {
            Service::Merchant => Some(self.merchant.clone()),
            Service::Registration | Service::Gateway => Some(self.public.clone()),
            Service::Device => self.devices.get(customer).cloned(),
        }
    }

    pub(super) async fn reconnect(
        &mut self,
        target: &Target,
        customers: &[Customer],
        service: Service,
        customer: usize,
    ) -> Result<(), String> {
        match service {
            Service::Merchant => {
                self.merchant =
                    connect(target, &target.network_url, Some(&target.merchant)).await?;
            }
            Service::Registration | Service::Gateway => {
                self.public = connect(target, &target.network_url, None).await?;
            }
            Service::Device => {
                if let (Some(slot), Some(c)) =
                    (self.devices.get_mut(customer), customers.get(customer))
                {
                    *slot = connect(target, &target.mobile_url, Some(&c.credential)).await?;
                }
            }
        }
        Ok(())
    }
}
