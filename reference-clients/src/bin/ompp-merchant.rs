//! `ompp-merchant`: the OMPP reference merchant terminal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ompp::money::{Amount, Currency};
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use ompp::proto::v1::registration_service_client::RegistrationServiceClient;
use ompp::types::Role;
use ompp_clients::connect::{Target, channel, identity_of_pem};
use ompp_clients::outcome::{
    Failure, Next, describe, money, payment_final, reason, receipt, status,
};
use ompp_clients::{ClientError, keys, write_text};
use tonic::transport::Channel;

/// OMPP reference merchant terminal: asks the operation center to collect a payment from a
/// registered customer (flow A), waits for the customer to confirm on the phone, and prints
/// the receipt.
///
/// The defaults fit `ompp-server run` started in the same directory: it listens on
/// https://localhost:7100 and keeps its development PKI in ./ompp-data/pki, including the
/// certificate of the sample merchant M-1042.
#[derive(Debug, Parser)]
#[command(name = "ompp-merchant", version, about)]
struct Cli {
    /// The network server's merchant endpoint.
    #[arg(long, global = true, default_value = "https://localhost:7100")]
    server: String,
    /// PEM file of the operator CA that signed the server's certificate.
    #[arg(long, global = true, default_value = "ompp-data/pki/operator-ca.pem")]
    ca: PathBuf,
    /// The terminal's certificate (PEM); its `ompp://merchant/<id>` identity is the merchant id.
    #[arg(
        long,
        global = true,
        default_value = "ompp-data/pki/merchant-M-1042.pem"
    )]
    cert: PathBuf,
    /// The terminal's private key (PEM).
    #[arg(
        long,
        global = true,
        default_value = "ompp-data/pki/merchant-M-1042.key"
    )]
    key: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register a new merchant with an enrollment token from the operator; writes the new
    /// certificate and key (use them with --cert/--key afterwards).
    Register {
        /// The enrollment token the operator gave you.
        #[arg(long)]
        enrollment_token: String,
        /// Name shown to customers and on receipts.
        #[arg(long)]
        name: String,
        /// Settlement currency (repeat for several).
        #[arg(long = "currency", default_value = "EUR")]
        currencies: Vec<String>,
        /// Where to write merchant.pem and merchant.key.
        #[arg(long, default_value = "merchant")]
        out: PathBuf,
    },
    /// Collect a payment from a customer and wait for the outcome; prints the receipt. Exits 0
    /// when the payment settles, 1 when it ends otherwise.
    Pay {
        /// The customer's id.
        #[arg(long)]
        customer: String,
        /// The amount in major units, e.g. 12.50.
        #[arg(long)]
        amount: String,
        /// ISO 4217 currency code.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// A product code (repeat for several items).
        #[arg(long = "item")]
        items: Vec<String>,
        /// Your reference for the sale (till or order number).
        #[arg(long, default_value = "")]
        reference: String,
        /// Seconds the customer has to answer (30 to 600; default 120).
        #[arg(long)]
        expires_in: Option<i64>,
        /// Idempotency key; a retry with the same key and content returns the same payment.
        /// Default: a fresh one.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Have the operation center issue a signed payee code (flow B): shows it in the terminal
    /// and writes it as a PNG for the payer to scan. With --amount the code is dynamic (single
    /// use, for that amount); without, static (the payer enters the amount).
    Qr {
        /// Amount in major units for a dynamic code, e.g. 7.90.
        #[arg(long)]
        amount: Option<String>,
        /// ISO 4217 currency code.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Your reference, carried in the code (at most 25 characters).
        #[arg(long, default_value = "")]
        reference: String,
        /// Seconds the code is valid (dynamic: 30 to 86400, default 300; static: 3600 to
        /// 31622400, default 30 days).
        #[arg(long)]
        expires_in: Option<i64>,
        /// Where to write the PNG.
        #[arg(long, default_value = "payee-code.png")]
        png: PathBuf,
        /// For a dynamic code: wait until it is paid and print the receipt.
        #[arg(long)]
        wait: bool,
    },
    /// Open an online checkout (flow C) and wait until the customer pays it on the payment
    /// page (`ompp-wallet checkout`); prints the receipt. Exits 0 when it settles.
    Checkout {
        /// The amount in major units, e.g. 49.90.
        #[arg(long)]
        amount: String,
        /// ISO 4217 currency code.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Your order reference (shown on the payment page), 1 to 64 characters.
        #[arg(long)]
        reference: String,
        /// A product code (repeat for several items).
        #[arg(long = "item")]
        items: Vec<String>,
        /// Seconds the customer has (60 to 3600; default 900).
        #[arg(long)]
        expires_in: Option<i64>,
        /// Print the checkout and return at once instead of waiting for the outcome.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show a payment.
    Status {
        /// The payment id.
        payment_id: String,
    },
    /// Cancel a payment the customer has not confirmed yet.
    Cancel {
        /// The payment id.
        payment_id: String,
    },
    /// Show the merchant's settlement balances.
    Balance,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ompp-merchant: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ompp-merchant: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn merchant(
    cli: &Cli,
) -> Result<(MerchantPaymentServiceClient<Channel>, String), ClientError> {
    let identity = identity_of_pem(&cli.cert)?;
    let channel = channel(&Target {
        url: &cli.server,
        ca: &cli.ca,
        server_role: Role::Network,
        identity: Some((&cli.cert, &cli.key)),
    })
    .await?;
    Ok((
        MerchantPaymentServiceClient::new(channel),
        identity.id().to_owned(),
    ))
}

fn refused(status: &tonic::Status) -> ClientError {
    ClientError::Refused(describe(status))
}

/// The payment once final: `last` if it is, otherwise what `GetPayment` says, asked again with
/// backoff (half a second to four, for about a minute) while it is not final. A status this
/// terminal does not know (a later version's) is not final (OMPP-VER-005).
async fn learn_payment(
    client: &mut MerchantPaymentServiceClient<Channel>,
    merchant_id: &str,
    last: pb::Payment,
) -> Result<pb::Payment, ClientError> {
    let mut last = last;
    let mut delay = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    while !payment_final(last.status) {
        if waited >= Duration::from_secs(60) {
            return Err(ClientError::Refused(format!(
                "payment {} is {}; ask again later (ompp-merchant status)",
                last.payment_id,
                status(last.status)
            )));
        }
        tokio::time::sleep(delay).await;
        waited += delay;
        delay = (delay * 2).min(Duration::from_secs(4));
        let asked = client
            .get_payment(pb::GetPaymentRequest {
                merchant_id: merchant_id.to_owned(),
                payment_id: last.payment_id.clone(),
            })
            .await;
        match asked {
            Ok(response) => {
                if let Some(p) = response.into_inner().payment {
                    last = p;
                }
            }
            Err(s) if matches!(Failure::of(&s).next(), Next::Stop | Next::Correct) => {
                return Err(refused(&s));
            }
            Err(_) => {}
        }
    }
    Ok(last)
}

fn print_payment(p: &pb::Payment) {
    println!("payment   {}", p.payment_id);
    println!("status    {}", status(p.status));
    println!("amount    {}", money(p.amount.as_ref()));
    println!("customer  {}", p.customer_id);
    if p.failure_reason != 0 {
        println!("reason    {}", reason(p.failure_reason));
    }
}

async fn run(cli: Cli) -> Result<ExitCode, ClientError> {
    match &cli.command {
        Command::Register {
            enrollment_token,
            name,
            currencies,
            out,
        } => {
            let keys = keys::key_and_csr(name)?;
            let channel = channel(&Target {
                url: &cli.server,
                ca: &cli.ca,
                server_role: Role::Network,
                identity: None,
            })
            .await?;
            let response = RegistrationServiceClient::new(channel)
                .register_merchant(pb::RegisterMerchantRequest {
                    enrollment_token: enrollment_token.clone(),
                    display_name: name.clone(),
                    csr_der: keys.csr_der,
                    settlement_currencies: currencies.clone(),
                    bank_account: None,
                    idempotency_key: format!("register-{}", std::process::id()),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let cert_path = out.join("merchant.pem");
            let key_path = out.join("merchant.key");
            write_text(
                &cert_path,
                &keys::cert_pem(&response.certificate_der),
                false,
            )?;
            write_text(&key_path, &keys.key_pem, true)?;
            println!("registered merchant {}", response.merchant_id);
            println!(
                "certificate {}  key {}",
                cert_path.display(),
                key_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Pay {
            customer,
            amount,
            currency,
            items,
            reference,
            expires_in,
            idempotency_key,
        } => {
            let currency = Currency::from_code(currency)
                .map_err(|v| ClientError::Usage(format!("--currency: {v}")))?;
            let amount = Amount::parse_decimal(currency, amount)
                .map_err(|v| ClientError::Usage(format!("--amount: {v}")))?;
            let (mut client, merchant_id) = merchant(&cli).await?;
            let key = idempotency_key
                .clone()
                .unwrap_or_else(|| format!("pay-{}-{}", std::process::id(), now_millis()));
            let request = pb::CreatePaymentRequest {
                merchant_id: merchant_id.clone(),
                customer_id: customer.clone(),
                amount: Some(amount.to_proto()),
                items: items
                    .iter()
                    .map(|code| pb::LineItem {
                        product_code: code.clone(),
                        description: String::new(),
                        quantity: 1,
                    })
                    .collect(),
                merchant_reference: reference.clone(),
                expires_in: expires_in.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
                idempotency_key: key,
            };
            let payment = client
                .create_payment(request)
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .payment
                .unwrap_or_default();
            println!(
                "payment {} for {}: waiting for the customer to confirm on the phone...",
                payment.payment_id, amount
            );
            let mut watch = client
                .watch_payment(pb::WatchPaymentRequest {
                    merchant_id: merchant_id.clone(),
                    payment_id: payment.payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let mut last = payment;
            loop {
                match tokio::time::timeout(Duration::from_secs(660), watch.message()).await {
                    Ok(Ok(Some(update))) => {
                        if let Some(p) = update.payment {
                            last = p;
                        }
                    }
                    Ok(Ok(None)) => break,
                    Ok(Err(s)) => return Err(refused(&s)),
                    Err(_) => {
                        return Err(ClientError::Refused("no outcome after 11 minutes".into()));
                    }
                }
            }
            let last = learn_payment(&mut client, &merchant_id, last).await?;
            match &last.receipt {
                Some(r) if last.status == pb::PaymentStatus::Settled as i32 => {
                    println!("{}", receipt(r));
                    Ok(ExitCode::SUCCESS)
                }
                _ => {
                    println!(
                        "payment {} ended {}: {}",
                        last.payment_id,
                        status(last.status),
                        reason(last.failure_reason)
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Qr {
            amount,
            currency,
            reference,
            expires_in,
            png,
            wait,
        } => {
            let currency = Currency::from_code(currency)
                .map_err(|v| ClientError::Usage(format!("--currency: {v}")))?;
            let amount = amount
                .as_deref()
                .map(|a| {
                    Amount::parse_decimal(currency, a)
                        .map_err(|v| ClientError::Usage(format!("--amount: {v}")))
                })
                .transpose()?;
            let (mut client, merchant_id) = merchant(&cli).await?;
            let request = pb::IssuePayeeCodeRequest {
                merchant_id: merchant_id.clone(),
                amount: amount.map(Amount::to_proto),
                currency: if amount.is_some() {
                    String::new()
                } else {
                    currency.code().to_owned()
                },
                merchant_reference: reference.clone(),
                expires_in: expires_in.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
                idempotency_key: format!("qr-{}-{}", std::process::id(), now_millis()),
            };
            let code = client
                .issue_payee_code(request)
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            println!("{}", ompp_clients::qr::to_terminal(&code.payload)?);
            ompp_clients::qr::write_png(&code.payload, png)?;
            println!("payload  {}", code.payload);
            println!("code     {}", code.code_id);
            if let Some(t) = &code.expires_at {
                println!("expires  {}", ompp_clients::outcome::timestamp(t));
            }
            println!("png      {}", png.display());
            if code.payment_id.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            println!("payment  {}", code.payment_id);
            if !*wait {
                return Ok(ExitCode::SUCCESS);
            }
            println!("waiting for the payer to scan and confirm...");
            let mut watch = client
                .watch_payment(pb::WatchPaymentRequest {
                    merchant_id: merchant_id.clone(),
                    payment_id: code.payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let mut last = None;
            while let Some(update) = watch.message().await.map_err(|s| refused(&s))? {
                last = update.payment;
            }
            let last = match last {
                Some(p) => Some(learn_payment(&mut client, &merchant_id, p).await?),
                None => None,
            };
            match last {
                Some(p) if p.status == pb::PaymentStatus::Settled as i32 => {
                    if let Some(r) = &p.receipt {
                        println!("{}", receipt(r));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(p) => {
                    println!(
                        "payment {} ended {}: {}",
                        p.payment_id,
                        status(p.status),
                        reason(p.failure_reason)
                    );
                    Ok(ExitCode::FAILURE)
                }
                None => Ok(ExitCode::FAILURE),
            }
        }
        Command::Checkout {
            amount,
            currency,
            reference,
            items,
            expires_in,
            no_wait,
        } => {
            let currency = Currency::from_code(currency)
                .map_err(|v| ClientError::Usage(format!("--currency: {v}")))?;
            let amount = Amount::parse_decimal(currency, amount)
                .map_err(|v| ClientError::Usage(format!("--amount: {v}")))?;
            let (mut client, merchant_id) = merchant(&cli).await?;
            let opened = client
                .open_checkout(pb::OpenCheckoutRequest {
                    merchant_id: merchant_id.clone(),
                    amount: Some(amount.to_proto()),
                    merchant_reference: reference.clone(),
                    items: items
                        .iter()
                        .map(|code| pb::LineItem {
                            product_code: code.clone(),
                            description: String::new(),
                            quantity: 1,
                        })
                        .collect(),
                    expires_in: expires_in
                        .map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
                    idempotency_key: format!("checkout-{}-{}", std::process::id(), now_millis()),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let payment = opened.payment.unwrap_or_default();
            println!("checkout {} for {}", payment.payment_id, amount);
            println!("payment page {}", opened.payment_page_url);
            println!("(customer: ompp-wallet checkout {})", payment.payment_id);
            if *no_wait {
                return Ok(ExitCode::SUCCESS);
            }
            println!("waiting for the customer to pay...");
            let mut watch = client
                .watch_payment(pb::WatchPaymentRequest {
                    merchant_id: merchant_id.clone(),
                    payment_id: payment.payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let mut last = payment;
            while let Some(update) = watch.message().await.map_err(|s| refused(&s))? {
                if let Some(p) = update.payment {
                    last = p;
                }
            }
            let last = learn_payment(&mut client, &merchant_id, last).await?;
            match &last.receipt {
                Some(r) if last.status == pb::PaymentStatus::Settled as i32 => {
                    println!("{}", receipt(r));
                    Ok(ExitCode::SUCCESS)
                }
                _ => {
                    println!(
                        "checkout {} ended {}: {}",
                        last.payment_id,
                        status(last.status),
                        reason(last.failure_reason)
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Status { payment_id } => {
            let (mut client, merchant_id) = merchant(&cli).await?;
            let payment = client
                .get_payment(pb::GetPaymentRequest {
                    merchant_id,
                    payment_id: payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .payment
                .unwrap_or_default();
            print_payment(&payment);
            if let Some(r) = &payment.receipt {
                println!("{}", receipt(r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { payment_id } => {
            let (mut client, merchant_id) = merchant(&cli).await?;
            let payment = client
                .cancel_payment(pb::CancelPaymentRequest {
                    merchant_id,
                    payment_id: payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .payment
                .unwrap_or_default();
            print_payment(&payment);
            Ok(ExitCode::SUCCESS)
        }
        Command::Balance => {
            let (mut client, merchant_id) = merchant(&cli).await?;
            let balances = client
                .get_merchant_balance(pb::GetMerchantBalanceRequest { merchant_id })
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .balances;
            for balance in &balances {
                println!("{}", money(Some(balance)));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
