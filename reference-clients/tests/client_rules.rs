//! The requirements on clients (merchant terminals, devices, handsets), which the conformance
//! suite cannot check because it certifies servers (spec 09, "Requirement coverage";
//! `conformance/self-checks.toml`): the reference clients against fake servers over real TLS
//! and real gRPC on loopback. Each fake records the calls it receives, so a test sees what the
//! client actually sent.
//!
//! - OMPP-TLS-012: a client refuses a server whose certificate has another role.
//! - OMPP-SEC-009: a client offers only TLS 1.3 and does not talk to a TLS 1.2 server.
//! - OMPP-ERR-011: after `INTERNAL`, `UPSTREAM_TIMEOUT` or a failure without an answer, a
//!   request without idempotency key is not sent again before the object's state is known.
//! - OMPP-ERR-003, OMPP-ERR-007: the wallet and the terminal decide by code and reason, never
//!   by text; an unknown reason by its code alone.
//! - OMPP-VER-005: an unknown payment status is not final; the terminal asks again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::ErrorReason as R;
use ompp::proto::v1::gateway_service_server::{GatewayService, GatewayServiceServer};
use ompp::proto::v1::merchant_payment_service_server::{
    MerchantPaymentService, MerchantPaymentServiceServer,
};
use ompp::proto::v1::registration_service_server::{
    RegistrationService, RegistrationServiceServer,
};
use ompp::types::{PartyIdentity, Role};
use ompp_clients::connect::{Target, channel};
use ompp_server::pki::{DevPki, Issued, Validity, certs_from_pem, key_from_pem};
use rustls::ServerConfig;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The calls a fake server received, by method name, in order.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<&'static str>>>);

impl Calls {
    fn push(&self, method: &'static str) {
        self.0.lock().unwrap().push(method);
    }

    fn list(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, method: &str) -> usize {
        self.list().iter().filter(|m| **m == method).count()
    }
}

/// A development PKI with its operator CA written to a directory.
struct Pki {
    dir: tempfile::TempDir,
    pki: DevPki,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate().unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.operator_ca.cert_pem()).unwrap();
        Self { dir, pki }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `issued` as `<name>.pem` and `<name>.key`.
    fn write(&self, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
        let cert = self.path(&format!("{name}.pem"));
        let key = self.path(&format!("{name}.key"));
        std::fs::write(&cert, &issued.cert_pem).unwrap();
        std::fs::write(&key, &issued.key_pem).unwrap();
        (cert, key)
    }

    fn issue(&self, role: Role, id: &str) -> Issued {
        let identity = PartyIdentity::new(role, id).unwrap();
        self.pki
            .operator_ca
            .issue(&identity, &[], &[], Validity::days_from_now(1))
            .unwrap()
    }

    /// The server certificate of `role` (DNS `localhost`, loopback addresses).
    fn server(&self, role: Role) -> &Issued {
        match role {
            Role::Network => &self.pki.network,
            Role::Mobile => &self.pki.mobile,
            Role::Sms => &self.pki.sms,
            Role::Bank => &self.pki.bank,
            other => panic!("no server certificate of role {other:?}"),
        }
    }
}

/// A server configuration with `issued` that speaks only `version`, HTTP/2 by ALPN, without
/// asking for a client certificate.
fn server_config(
    issued: &Issued,
    version: &'static rustls::SupportedProtocolVersion,
) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            certs_from_pem(&issued.cert_pem).unwrap(),
            key_from_pem(&issued.key_pem).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// Serves `routes` with TLS `config` on a loopback port; the server lives as long as the test's
/// runtime.
async fn serve(routes: Routes, config: ServerConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let incoming = ompp_server::tls::incoming(listener, config);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    address
}

fn url(address: SocketAddr) -> String {
    format!("https://localhost:{}", address.port())
}

/// Runs a reference client binary with `stdin` as its input.
async fn run(mut command: Command, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A status with an `ErrorInfo` in domain `ompp.v1` whose reason is `reason` as given, known
/// or not.
fn raw_status(code: Code, reason: &str, metadata: &[(&str, &str)], message: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        reason,
        "ompp.v1",
        metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    );
    Status::with_error_details(code, message, details)
}

// ---------------------------------------------------------------------------------------------
// A registration service that answers every customer registration.

#[derive(Debug, Clone, Default)]
struct FakeRegistration {
    calls: Calls,
}

#[tonic::async_trait]
impl RegistrationService for FakeRegistration {
    async fn register_merchant(
        &self,
        _: Request<pb::RegisterMerchantRequest>,
    ) -> Result<Response<pb::RegisterMerchantResponse>, Status> {
        self.calls.push("RegisterMerchant");
        Err(ProtocolError::new(R::EnrollmentRejected, "fake").to_status())
    }

    async fn register_customer(
        &self,
        _: Request<pb::RegisterCustomerRequest>,
    ) -> Result<Response<pb::RegisterCustomerResponse>, Status> {
        self.calls.push("RegisterCustomer");
        Ok(Response::new(pb::RegisterCustomerResponse {
            customer_id: "C-1".into(),
        }))
    }

    async fn pair_device(
        &self,
        _: Request<pb::PairDeviceRequest>,
    ) -> Result<Response<pb::PairDeviceResponse>, Status> {
        self.calls.push("PairDevice");
        Err(ProtocolError::new(R::CredentialsRejected, "fake").to_status())
    }
}

fn register_customer() -> pb::RegisterCustomerRequest {
    pb::RegisterCustomerRequest {
        display_name: "Ana".into(),
        phone_number: "+4915112345678".into(),
        password: "correct horse battery".into(),
        wallet_currencies: vec!["EUR".into()],
        bank_account: None,
        idempotency_key: "k-1".into(),
    }
}

/// Whether a client expecting `expected` gets an answer from a TLS 1.3 server presenting the
/// certificate of `presented`.
async fn talks(pki: &Pki, presented: Role, expected: Role, calls: &Calls) -> bool {
    let fake = FakeRegistration {
        calls: calls.clone(),
    };
    let config = server_config(pki.server(presented), &rustls::version::TLS13);
    let address = serve(Routes::new(RegistrationServiceServer::new(fake)), config).await;
    let ca = pki.ca();
    let url = url(address);
    let connected = channel(&Target {
        url: &url,
        ca: &ca,
        identity: None,
        server_role: expected,
    })
    .await;
    match connected {
        Ok(channel) => pb::registration_service_client::RegistrationServiceClient::new(channel)
            .register_customer(register_customer())
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// OMPP-TLS-012 (client half): a client talks only to a server whose certificate, from the
/// operator CA, carries the role it expects: `network` for a merchant terminal and a client of
/// `RegistrationService`, `mobile` for a device, `sms` for a handset. Certificates of every
/// other server role are refused before any request is sent; the real binaries refuse too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refuses_a_server_certificate_of_another_role() {
    let pki = Pki::new();
    for expected in [Role::Network, Role::Mobile, Role::Sms] {
        for presented in [Role::Network, Role::Mobile, Role::Sms, Role::Bank] {
            let calls = Calls::default();
            let talked = talks(&pki, presented, expected, &calls).await;
            assert_eq!(
                talked,
                presented == expected,
                "a client expecting {expected:?} and a server presenting {presented:?}"
            );
            let reached = usize::from(presented == expected);
            assert_eq!(calls.count("RegisterCustomer"), reached, "{calls:?}");
        }
    }

    // The binaries: the wallet registers (RegistrationService: role network) and the merchant
    // terminal registers with an enrollment token; a mobile server's certificate is refused.
    for presented in [Role::Mobile, Role::Network] {
        let calls = Calls::default();
        let fake = FakeRegistration {
            calls: calls.clone(),
        };
        let config = server_config(pki.server(presented), &rustls::version::TLS13);
        let address = serve(Routes::new(RegistrationServiceServer::new(fake)), config).await;
        std::fs::write(pki.path("pw.txt"), "correct horse battery\n").unwrap();
        let mut wallet = Command::new(env!("CARGO_BIN_EXE_ompp-wallet"));
        wallet
            .current_dir(pki.dir.path())
            .args(["--server", &url(address), "--ca"])
            .arg(pki.ca())
            .args(["--dir", "wallet", "register", "--name", "Ana"])
            .args(["--phone", "+4915112345678", "--password-file", "pw.txt"]);
        let output = run(wallet, "").await;
        let mut merchant = Command::new(env!("CARGO_BIN_EXE_ompp-merchant"));
        merchant
            .current_dir(pki.dir.path())
            .args(["--server", &url(address), "--ca"])
            .arg(pki.ca())
            .args(["register", "--enrollment-token", "enr-1", "--name", "Shop"]);
        let merchant_output = run(merchant, "").await;
        if presented == Role::Network {
            assert!(output.status.success(), "{}", text(&output));
            assert_eq!(calls.list(), ["RegisterCustomer", "RegisterMerchant"]);
        } else {
            assert!(!output.status.success(), "{}", text(&output));
            assert!(!merchant_output.status.success(), "{}", text(&output));
            assert!(
                text(&output).contains("cannot connect"),
                "{}",
                text(&output)
            );
            assert_eq!(calls.list(), Vec::<&str>::new());
        }
    }
}

/// OMPP-SEC-009 (client half): a client offers only TLS 1.3, and a server that speaks only
/// TLS 1.2 gets no connection and no request, while the same server with TLS 1.3 does. The
/// ClientHello of the reference clients lists only TLS 1.3 cipher suites, read by a listener
/// that stops after the ClientHello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offers_only_tls_1_3_and_refuses_a_tls_1_2_server() {
    let pki = Pki::new();
    for (version, answered) in [
        (&rustls::version::TLS12, false),
        (&rustls::version::TLS13, true),
    ] {
        let calls = Calls::default();
        let fake = FakeRegistration {
            calls: calls.clone(),
        };
        let config = server_config(pki.server(Role::Network), version);
        let address = serve(Routes::new(RegistrationServiceServer::new(fake)), config).await;
        let ca = pki.ca();
        let url = url(address);
        let connected = channel(&Target {
            url: &url,
            ca: &ca,
            identity: None,
            server_role: Role::Network,
        })
        .await;
        let result = match connected {
            Ok(channel) => pb::registration_service_client::RegistrationServiceClient::new(channel)
                .register_customer(register_customer())
                .await
                .is_ok(),
            Err(_) => false,
        };
        assert_eq!(result, answered, "{version:?}");
        assert_eq!(calls.count("RegisterCustomer"), usize::from(answered));
    }

    // What the client offers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hello = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .unwrap();
        start.client_hello().cipher_suites().to_vec()
    });
    let ca = pki.ca();
    let url = url(address);
    let target = Target {
        url: &url,
        ca: &ca,
        identity: None,
        server_role: Role::Network,
    };
    // The listener never answers; the client gives up when the connection closes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), channel(&target)).await;
    let suites = hello.await.unwrap();
    assert!(!suites.is_empty());
    let tls13 = [
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    assert!(
        suites.iter().all(|suite| tls13.contains(suite)),
        "the ClientHello offers {suites:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A payment page backend (GatewayService) with scripted answers.

#[derive(Debug, Clone, Default)]
struct FakeGateway {
    calls: Calls,
    /// Answers to GetCheckoutStatus after the first, in order; the last one repeats.
    states: Arc<Mutex<VecDeque<pb::CheckoutView>>>,
    /// Answers to SubmitAuthorizationCode, in order; then `INTERNAL`.
    codes: Arc<Mutex<VecDeque<Result<pb::CheckoutView, Status>>>>,
}

fn view(step: pb::CheckoutStep, status: pb::PaymentStatus) -> pb::CheckoutView {
    pb::CheckoutView {
        payment_id: "P-1".into(),
        merchant_name: "Shop".into(),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 4990,
        }),
        merchant_reference: "order-1".into(),
        step: step as i32,
        status: status as i32,
        masked_phone_number: "+49*******678".into(),
        ..Default::default()
    }
}

fn waiting_for_code() -> pb::CheckoutView {
    view(
        pb::CheckoutStep::AuthorizationCode,
        pb::PaymentStatus::PendingCustomer,
    )
}

fn settled() -> pb::CheckoutView {
    view(pb::CheckoutStep::Done, pb::PaymentStatus::Settled)
}

#[tonic::async_trait]
impl GatewayService for FakeGateway {
    async fn get_checkout_status(
        &self,
        _: Request<pb::GetCheckoutStatusRequest>,
    ) -> Result<Response<pb::GetCheckoutStatusResponse>, Status> {
        let first = self.calls.count("GetCheckoutStatus") == 0;
        self.calls.push("GetCheckoutStatus");
        let checkout = if first {
            view(
                pb::CheckoutStep::Password,
                pb::PaymentStatus::PendingCustomer,
            )
        } else {
            let mut states = self.states.lock().unwrap();
            if states.len() > 1 {
                states.pop_front()
            } else {
                states.front().cloned()
            }
            .unwrap_or_else(waiting_for_code)
        };
        Ok(Response::new(pb::GetCheckoutStatusResponse {
            checkout: Some(checkout),
        }))
    }

    async fn submit_password(
        &self,
        _: Request<pb::SubmitPasswordRequest>,
    ) -> Result<Response<pb::SubmitPasswordResponse>, Status> {
        self.calls.push("SubmitPassword");
        Ok(Response::new(pb::SubmitPasswordResponse {
            checkout: Some(waiting_for_code()),
            session_token: "s".repeat(32),
        }))
    }

    async fn submit_authorization_code(
        &self,
        _: Request<pb::SubmitAuthorizationCodeRequest>,
    ) -> Result<Response<pb::SubmitAuthorizationCodeResponse>, Status> {
        self.calls.push("SubmitAuthorizationCode");
        let answer = self.codes.lock().unwrap().pop_front();
        match answer {
            Some(Ok(checkout)) => Ok(Response::new(pb::SubmitAuthorizationCodeResponse {
                checkout: Some(checkout),
            })),
            Some(Err(status)) => Err(status),
            None => Err(ProtocolError::new(R::Internal, "script exhausted").to_status()),
        }
    }
}

/// Runs `ompp-wallet checkout P-1` against a fake gateway whose SubmitAuthorizationCode
/// answers `codes` and whose GetCheckoutStatus answers, after the first, `states`; the codes
/// are typed on stdin. Returns the calls the gateway received and the wallet's output.
async fn checkout(
    codes: Vec<Result<pb::CheckoutView, Status>>,
    states: Vec<pb::CheckoutView>,
) -> (Vec<&'static str>, Output) {
    let pki = Pki::new();
    let fake = FakeGateway {
        codes: Arc::new(Mutex::new(codes.into())),
        states: Arc::new(Mutex::new(states.into())),
        ..FakeGateway::default()
    };
    let calls = fake.calls.clone();
    let config = ompp_server::tls::server_config(
        certs_from_pem(&pki.pki.network.cert_pem).unwrap(),
        key_from_pem(&pki.pki.network.key_pem).unwrap(),
        vec![pki.pki.operator_ca.cert_der()],
        ompp_server::tls::ClientAuth::Optional,
    )
    .unwrap();
    let address = serve(Routes::new(GatewayServiceServer::new(fake)), config).await;
    std::fs::write(pki.path("pw.txt"), "correct horse battery\n").unwrap();
    let mut wallet = Command::new(env!("CARGO_BIN_EXE_ompp-wallet"));
    wallet
        .current_dir(pki.dir.path())
        .args(["--server", &url(address), "--ca"])
        .arg(pki.ca())
        .args(["--dir", "wallet", "checkout", "P-1", "--yes"])
        .args(["--phone", "+4915112345678", "--password-file", "pw.txt"]);
    let output = run(wallet, "111111\n222222\n333333\n").await;
    (calls.list(), output)
}

const BEFORE_CODE: [&str; 3] = [
    "GetCheckoutStatus",
    "SubmitPassword",
    "SubmitAuthorizationCode",
];

fn calls_after_password(calls: &[&'static str]) -> Vec<&'static str> {
    assert_eq!(calls.get(..3), Some(&BEFORE_CODE[..]), "{calls:?}");
    calls[3..].to_vec()
}

/// OMPP-ERR-011: after `UPSTREAM_TIMEOUT` or `INTERNAL` (even with a message that invites a
/// new code) and after a failure without an answer (`UNAVAILABLE` without `ErrorInfo`), the
/// wallet does not submit an authorization code again before it has asked for the checkout's
/// state; when the state shows the code was taken, it never submits again, and when it shows
/// the checkout still waits for a code, it may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_learns_the_state_before_repeating_a_request_without_key() {
    let unknown_outcomes = [
        ProtocolError::new(
            R::UpstreamTimeout,
            "AUTHORIZATION_CODE_INCORRECT: enter the code again",
        )
        .to_status(),
        ProtocolError::new(R::Internal, "please retry").to_status(),
        Status::new(Code::Unavailable, "connection reset"),
    ];
    for failure in unknown_outcomes {
        // The code was taken: the state says so, nothing is sent again.
        let (calls, output) = checkout(vec![Err(failure.clone())], vec![settled()]).await;
        assert_eq!(
            calls_after_password(&calls),
            ["GetCheckoutStatus"],
            "{failure:?}\n{}",
            text(&output)
        );
        assert!(output.status.success(), "{failure:?}\n{}", text(&output));

        // The code was not taken: the state says so, then the code may be sent again.
        let (calls, output) = checkout(
            vec![Err(failure.clone()), Ok(settled())],
            vec![waiting_for_code(), settled()],
        )
        .await;
        assert_eq!(
            calls_after_password(&calls),
            ["GetCheckoutStatus", "SubmitAuthorizationCode"],
            "{failure:?}\n{}",
            text(&output)
        );
        assert!(output.status.success(), "{failure:?}\n{}", text(&output));
    }
}

/// OMPP-ERR-003 and OMPP-ERR-007: the wallet asks for the code again after
/// `AUTHORIZATION_CODE_INCORRECT` (the reason, not the text, decides: the message here says
/// the opposite), and a reason it does not know, with the same code and metadata, is decided
/// by the code alone (`PERMISSION_DENIED`: stop) however its text reads; so is a status without
/// `ErrorInfo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_decides_on_code_and_reason_never_on_text() {
    let incorrect = ProtocolError::new(
        R::AuthorizationCodeIncorrect,
        "payment complete, do not retry",
    )
    .with_metadata("attempts_left", 2)
    .to_status();
    let (calls, output) = checkout(vec![Err(incorrect), Ok(settled())], vec![]).await;
    assert_eq!(
        calls_after_password(&calls),
        ["SubmitAuthorizationCode"],
        "{}",
        text(&output)
    );
    assert!(output.status.success(), "{}", text(&output));

    let by_code_alone = [
        raw_status(
            Code::PermissionDenied,
            "AUTHORIZATION_CODE_EXPIRED_SOON",
            &[("attempts_left", "2")],
            "AUTHORIZATION_CODE_INCORRECT: enter the code again",
        ),
        Status::new(
            Code::PermissionDenied,
            "AUTHORIZATION_CODE_INCORRECT (attempts_left=2)",
        ),
    ];
    for failure in by_code_alone {
        let (calls, output) = checkout(vec![Err(failure.clone()), Ok(settled())], vec![]).await;
        assert_eq!(
            calls_after_password(&calls),
            Vec::<&str>::new(),
            "{failure:?}\n{}",
            text(&output)
        );
        assert!(!output.status.success(), "{failure:?}\n{}", text(&output));
    }
}

// ---------------------------------------------------------------------------------------------
// A merchant payment service whose watch ends on a status from a later version.

#[derive(Debug, Clone, Default)]
struct FakeMerchant {
    calls: Calls,
}

fn payment(status: i32) -> pb::Payment {
    pb::Payment {
        payment_id: "P-7".into(),
        status,
        merchant_id: "M-1042".into(),
        customer_id: "C-1".into(),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 1250,
        }),
        ..Default::default()
    }
}

fn unimplemented<T>() -> Result<T, Status> {
    Err(ProtocolError::new(R::Unsupported, "fake").to_status())
}

#[tonic::async_trait]
impl MerchantPaymentService for FakeMerchant {
    async fn create_payment(
        &self,
        _: Request<pb::CreatePaymentRequest>,
    ) -> Result<Response<pb::CreatePaymentResponse>, Status> {
        self.calls.push("CreatePayment");
        Ok(Response::new(pb::CreatePaymentResponse {
            payment: Some(payment(pb::PaymentStatus::PendingCustomer as i32)),
        }))
    }

    async fn get_payment(
        &self,
        _: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::GetPaymentResponse>, Status> {
        self.calls.push("GetPayment");
        let mut settled = payment(pb::PaymentStatus::Settled as i32);
        settled.receipt = Some(pb::Receipt {
            receipt_id: "R-1".into(),
            payment_id: "P-7".into(),
            ..Default::default()
        });
        Ok(Response::new(pb::GetPaymentResponse {
            payment: Some(settled),
        }))
    }

    type WatchPaymentStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<pb::WatchPaymentResponse, Status>>>;

    async fn watch_payment(
        &self,
        _: Request<pb::WatchPaymentRequest>,
    ) -> Result<Response<Self::WatchPaymentStream>, Status> {
        self.calls.push("WatchPayment");
        // PENDING_CUSTOMER, then a status this terminal does not know, then the stream ends.
        let updates = [pb::PaymentStatus::PendingCustomer as i32, 99]
            .into_iter()
            .map(|status| {
                Ok(pb::WatchPaymentResponse {
                    payment: Some(payment(status)),
                })
            })
            .collect::<Vec<_>>();
        Ok(Response::new(tokio_stream::iter(updates)))
    }

    async fn cancel_payment(
        &self,
        _: Request<pb::CancelPaymentRequest>,
    ) -> Result<Response<pb::CancelPaymentResponse>, Status> {
        unimplemented()
    }

    async fn get_receipt(
        &self,
        _: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        unimplemented()
    }

    async fn issue_payee_code(
        &self,
        _: Request<pb::IssuePayeeCodeRequest>,
    ) -> Result<Response<pb::IssuePayeeCodeResponse>, Status> {
        unimplemented()
    }

    async fn open_checkout(
        &self,
        _: Request<pb::OpenCheckoutRequest>,
    ) -> Result<Response<pb::OpenCheckoutResponse>, Status> {
        unimplemented()
    }

    async fn get_merchant_balance(
        &self,
        _: Request<pb::GetMerchantBalanceRequest>,
    ) -> Result<Response<pb::GetMerchantBalanceResponse>, Status> {
        unimplemented()
    }
}

/// OMPP-VER-005 (client half): a payment status the terminal does not know (here 99, from a
/// later version) neither fails the watch nor counts as an outcome: the terminal asks again
/// (`GetPayment`) and reports the final status it gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_treats_an_unknown_payment_status_as_not_final() {
    let pki = Pki::new();
    let fake = FakeMerchant::default();
    let calls = fake.calls.clone();
    let config = ompp_server::tls::server_config(
        certs_from_pem(&pki.pki.network.cert_pem).unwrap(),
        key_from_pem(&pki.pki.network.key_pem).unwrap(),
        vec![pki.pki.operator_ca.cert_der()],
        ompp_server::tls::ClientAuth::Required,
    )
    .unwrap();
    let address = serve(Routes::new(MerchantPaymentServiceServer::new(fake)), config).await;
    let (cert, key) = pki.write("merchant", &pki.issue(Role::Merchant, "M-1042"));
    let mut merchant = Command::new(env!("CARGO_BIN_EXE_ompp-merchant"));
    merchant
        .current_dir(pki.dir.path())
        .args(["--server", &url(address), "--ca"])
        .arg(pki.ca())
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["pay", "--customer", "C-1", "--amount", "12.50"]);
    let output = run(merchant, "").await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("RECEIPT"), "{}", text(&output));
    assert_eq!(
        calls.list(),
        ["CreatePayment", "WatchPayment", "GetPayment"],
        "{}",
        text(&output)
    );
}

// ---------------------------------------------------------------------------------------------
// A mobile server (DeviceService) that pushes one payment request and answers its confirmation
// as scripted.

type Events = tokio::sync::mpsc::Sender<Result<pb::SubscribeResponse, Status>>;

#[derive(Debug, Clone)]
struct FakeDevice {
    calls: Calls,
    /// The answer to every ConfirmPayment.
    confirm: Status,
    /// The push stream of the last subscription.
    events: Arc<Mutex<Option<Events>>>,
}

impl FakeDevice {
    fn new(confirm: Status) -> Self {
        Self {
            calls: Calls::default(),
            confirm,
            events: Arc::default(),
        }
    }
}

#[tonic::async_trait]
impl ompp::proto::v1::device_service_server::DeviceService for FakeDevice {
    type SubscribeStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        _: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.calls.push("Subscribe");
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let request = pb::PushedPaymentRequest {
            payment_id: "P-1".into(),
            merchant_id: "M-1042".into(),
            merchant_name: "Shop".into(),
            amount: Some(pb::Money {
                currency: "EUR".into(),
                minor_units: 1250,
            }),
            attempts_left: 3,
            ..Default::default()
        };
        let event = pb::subscribe_response::Event::PaymentRequest(request);
        let _ = tx
            .send(Ok(pb::SubscribeResponse { event: Some(event) }))
            .await;
        *self.events.lock().unwrap() = Some(tx);
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn confirm_payment(
        &self,
        _: Request<pb::ConfirmPaymentRequest>,
    ) -> Result<Response<pb::ConfirmPaymentResponse>, Status> {
        self.calls.push("ConfirmPayment");
        // The payment settled after all: the notice follows on the push stream.
        let events = self.events.lock().unwrap().clone();
        if let Some(events) = events {
            for status in [99, pb::PaymentStatus::Settled as i32] {
                let notice = pb::DeviceNotice {
                    payment_id: "P-1".into(),
                    status,
                    ..Default::default()
                };
                let event = pb::subscribe_response::Event::Notice(notice);
                let _ = events
                    .send(Ok(pb::SubscribeResponse { event: Some(event) }))
                    .await;
            }
        }
        Err(self.confirm.clone())
    }

    async fn decline_payment(
        &self,
        _: Request<pb::DeclinePaymentRequest>,
    ) -> Result<Response<pb::DeclinePaymentResponse>, Status> {
        self.calls.push("DeclinePayment");
        unimplemented()
    }

    async fn preview_payee_code(
        &self,
        _: Request<pb::PreviewPayeeCodeRequest>,
    ) -> Result<Response<pb::PreviewPayeeCodeResponse>, Status> {
        unimplemented()
    }

    async fn submit_payee_code(
        &self,
        _: Request<pb::SubmitPayeeCodeRequest>,
    ) -> Result<Response<pb::SubmitPayeeCodeResponse>, Status> {
        unimplemented()
    }

    async fn get_wallet_balance(
        &self,
        _: Request<pb::GetWalletBalanceRequest>,
    ) -> Result<Response<pb::GetWalletBalanceResponse>, Status> {
        unimplemented()
    }

    async fn list_wallet_history(
        &self,
        _: Request<pb::ListWalletHistoryRequest>,
    ) -> Result<Response<pb::ListWalletHistoryResponse>, Status> {
        unimplemented()
    }

    async fn top_up_wallet(
        &self,
        _: Request<pb::TopUpWalletRequest>,
    ) -> Result<Response<pb::TopUpWalletResponse>, Status> {
        unimplemented()
    }
}

/// OMPP-ERR-011 for `ConfirmPayment`: after `INTERNAL`, `UPSTREAM_TIMEOUT` or `UNAVAILABLE`
/// without `ErrorInfo`, the wallet (confirming automatically with the password) sends no second
/// confirmation; it waits for the payment's notice on the push stream, skips one with a status
/// it does not know (OMPP-VER-005), and ends on the final one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_never_confirms_twice_after_an_unknown_outcome() {
    let unknown_outcomes = [
        ProtocolError::new(R::Internal, "CREDENTIALS_REJECTED: try again").to_status(),
        ProtocolError::new(R::UpstreamTimeout, "").to_status(),
        Status::new(Code::Unavailable, "connection reset"),
    ];
    for failure in unknown_outcomes {
        let pki = Pki::new();
        let fake = FakeDevice::new(failure.clone());
        let calls = fake.calls.clone();
        let config = ompp_server::tls::server_config(
            certs_from_pem(&pki.pki.mobile.cert_pem).unwrap(),
            key_from_pem(&pki.pki.mobile.key_pem).unwrap(),
            vec![pki.pki.operator_ca.cert_der()],
            ompp_server::tls::ClientAuth::Required,
        )
        .unwrap();
        let address = serve(
            Routes::new(ompp::proto::v1::device_service_server::DeviceServiceServer::new(fake)),
            config,
        )
        .await;
        std::fs::create_dir_all(pki.path("wallet")).unwrap();
        pki.write("wallet/device", &pki.issue(Role::Device, "D-1"));
        std::fs::write(pki.path("pw.txt"), "correct horse battery\n").unwrap();
        let mut wallet = Command::new(env!("CARGO_BIN_EXE_ompp-wallet"));
        wallet
            .current_dir(pki.dir.path())
            .args(["--mobile", &url(address), "--ca"])
            .arg(pki.ca())
            .args(["--dir", "wallet", "listen", "--auto-confirm", "--once"])
            .args(["--password-file", "pw.txt"]);
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), run(wallet, ""))
            .await
            .expect("the wallet ends on the payment's final notice");
        assert!(output.status.success(), "{failure:?}\n{}", text(&output));
        assert_eq!(
            calls.list(),
            ["Subscribe", "ConfirmPayment"],
            "{failure:?}\n{}",
            text(&output)
        );
        assert!(
            text(&output).contains("notice: payment P-1 SETTLED"),
            "{failure:?}\n{}",
            text(&output)
        );
    }
}
