//! What the suite's bank processor presents in the TLS handshake, switchable for the cases that
//! check that the operation center verifies the servers it calls (OMPP-TLS-012, OMPP-SEC-009).
//!
//! [`incoming`] accepts the bank's connections with the TLS configuration of the current
//! [`Presentation`]. [`Presenter::present`] switches it and severs every open connection, so
//! that the system's next call opens a new one and meets the new presentation; each handshake is
//! tallied by the presentation it met, completed or refused.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ompp_server::pki::{Ca, Validity, certs_from_pem, key_from_pem};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::target::Credential;

/// One way of presenting the bank processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presentation {
    /// The manifest's `tls.counterparty_server`: what the system must accept.
    Genuine,
    /// The same identity and names, from a throwaway CA the system does not trust.
    UnknownCa,
    /// The manifest's `tls.counterparty_other_server`: trusted, but another bank's identity.
    OtherIdentity,
    /// The genuine certificate, over TLS 1.2 only.
    Tls12Only,
}

/// Handshakes that met one presentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handshakes {
    /// Handshakes that completed.
    pub completed: u64,
    /// Handshakes that failed (the client refused, or never finished).
    pub refused: u64,
}

/// Switches the bank processor's presentation; clones share it.
#[derive(Clone)]
pub struct Presenter {
    acceptors: Arc<HashMap<Presentation, TlsAcceptor>>,
    current: Arc<Mutex<Presentation>>,
    generation: Arc<watch::Sender<u64>>,
    tally: Arc<Mutex<HashMap<Presentation, Handshakes>>>,
}

impl std::fmt::Debug for Presenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presenter")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl Presenter {
    /// The presentations of a bank processor whose genuine identity is `genuine`, accepting
    /// clients that chain to `client_anchors`; [`Presentation::OtherIdentity`] only with
    /// `other`.
    pub fn new(
        genuine: &Credential,
        other: Option<&Credential>,
        client_anchors: &[CertificateDer<'static>],
    ) -> Result<Self, String> {
        let chain = |credential: &Credential| {
            certs_from_pem(&credential.cert_pem).map_err(|e| format!("certificate: {e}"))
        };
        let key = |credential: &Credential| {
            key_from_pem(&credential.key_pem).map_err(|e| format!("key: {e}"))
        };
        let genuine_chain = chain(genuine)?;
        let leaf = genuine_chain
            .first()
            .ok_or("the bank processor's certificate: no certificate in the PEM")?;
        let identity = ompp_server::pki::identity_of(leaf.as_ref())
            .map_err(|e| format!("the bank processor's certificate: {e}"))?;
        let throwaway = Ca::generate("OMPP conformance throwaway CA")
            .and_then(|ca| {
                ca.issue(
                    &identity,
                    &["localhost"],
                    &[std::net::IpAddr::from([127, 0, 0, 1])],
                    Validity::days_from_now(30),
                )
            })
            .map_err(|e| format!("a certificate from a throwaway CA: {e}"))?;
        let mut acceptors = HashMap::new();
        let mut add = |presentation, versions, chain, key| -> Result<(), String> {
            let config = server_config(versions, chain, key, client_anchors)
                .map_err(|e| format!("the bank processor's TLS ({presentation:?}): {e}"))?;
            acceptors.insert(presentation, TlsAcceptor::from(Arc::new(config)));
            Ok(())
        };
        let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        let tls12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        add(
            Presentation::Genuine,
            tls13,
            genuine_chain.clone(),
            key(genuine)?,
        )?;
        add(Presentation::Tls12Only, tls12, genuine_chain, key(genuine)?)?;
        add(
            Presentation::UnknownCa,
            tls13,
            vec![throwaway.cert_der.clone()],
            throwaway.key_der(),
        )?;
        if let Some(other) = other {
            add(
                Presentation::OtherIdentity,
                tls13,
                chain(other)?,
                key(other)?,
            )?;
        }
        Ok(Self {
            acceptors: Arc::new(acceptors),
            current: Arc::new(Mutex::new(Presentation::Genuine)),
            generation: Arc::new(watch::Sender::new(0)),
            tally: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Whether `presentation` is available (the other identity needs its certificate).
    pub fn can(&self, presentation: Presentation) -> bool {
        self.acceptors.contains_key(&presentation)
    }

    /// The presentation new connections meet.
    pub fn current(&self) -> Presentation {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Presents `presentation` from now on and severs every open connection.
    pub fn present(&self, presentation: Presentation) -> Result<(), String> {
        if !self.can(presentation) {
            return Err(format!("no certificate for {presentation:?}"));
        }
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = presentation;
        self.generation.send_modify(|generation| *generation += 1);
        Ok(())
    }

    /// The handshakes that met `presentation` so far.
    pub fn handshakes(&self, presentation: Presentation) -> Handshakes {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&presentation)
            .copied()
            .unwrap_or_default()
    }

    fn count(&self, presentation: Presentation, completed: bool) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = tally.entry(presentation).or_default();
        if completed {
            entry.completed += 1;
        } else {
            entry.refused += 1;
        }
    }
}

fn server_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_anchors: &[CertificateDer<'static>],
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for anchor in client_anchors {
        roots.add(anchor.clone())?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The bank processor's connections for `serve_with_incoming`: each handshake uses the
/// presentation current when the connection was accepted, and is tallied; a connection ends
/// when the presentation is switched.
pub fn incoming(
    listener: TcpListener,
    presenter: Presenter,
) -> ReceiverStream<Result<Severable<TlsStream<TcpStream>>, io::Error>> {
    let (tx, rx) = mpsc::channel(128);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => break,
            };
            let Ok((tcp, _)) = accepted else { continue };
            let _ = tcp.set_nodelay(true);
            let presentation = presenter.current();
            let Some(acceptor) = presenter.acceptors.get(&presentation).cloned() else {
                continue;
            };
            let (presenter, tx) = (presenter.clone(), tx.clone());
            tokio::spawn(async move {
                let severed = presenter.generation.subscribe();
                let handshake =
                    tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                        .await;
                match handshake {
                    Ok(Ok(stream)) => {
                        presenter.count(presentation, true);
                        let _ = tx.send(Ok(Severable::new(stream, severed))).await;
                    }
                    _ => presenter.count(presentation, false),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A connection that fails every read and write once the presentation changes, so that the
/// server drops it.
pub struct Severable<T> {
    inner: T,
    severed: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
}

impl<T> std::fmt::Debug for Severable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Severable").finish_non_exhaustive()
    }
}

impl<T> Severable<T> {
    fn new(inner: T, mut generation: watch::Receiver<u64>) -> Self {
        let at = *generation.borrow_and_update();
        Self {
            inner,
            severed: Box::pin(async move {
                let _ = generation.wait_for(|now| *now != at).await;
            }),
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> Result<(), io::Error> {
        match self.severed.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the suite's bank processor changed its presentation",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Severable<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Severable<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: Connected> Connected for Severable<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
