//! Connections to receivers: resolved through the destination guard, TCP, TLS when the URL
//! says `https` (verified by the platform's roots unless the hook says `insecure_ssl`), and
//! kept alive between deliveries to the same origin.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::http1::Connection;
use crate::domain::guard::{Blocked, Guard};

/// How long an unused connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most unused connections kept per origin.
const IDLE_PER_ORIGIN: usize = 64;
/// How often connections idle past [`IDLE_TIMEOUT`] are closed.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error("TLS error: {0}")]
    Tls(rustls::Error),
    #[error("timed out")]
    TimedOut,
    #[error("failed to connect to host")]
    Failed(#[source] Option<io::Error>),
}

/// A plain or TLS connection to a receiver.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(context, buffer),
            Stream::Tls(tls) => Pin::new(tls).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(context, buffer),
            Stream::Tls(tls) => Pin::new(tls).poll_write(context, buffer),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(context),
            Stream::Tls(tls) => Pin::new(tls).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(context),
            Stream::Tls(tls) => Pin::new(tls).poll_shutdown(context),
        }
    }
}

/// Where a connection goes and how it is secured: connections are shared only within one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Certificates unchecked: never shared with a verified delivery to the same host.
    pub insecure: bool,
}

impl Origin {
    /// `None` for a URL that is not http(s) or has no host.
    pub fn of(url: &url::Url, insecure: bool) -> Option<Self> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Origin {
            tls,
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
            insecure: tls && insecure,
        })
    }
}

/// Where attempts actually go, for the per-destination limit: the first permitted address
/// a URL's host resolves to (many names for one receiver share its limit), or the host
/// and port as written when it resolves to nothing permitted (the attempt fails fast).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    Address(SocketAddr),
    Unresolved(String, u16),
}

/// How long a name's addresses are reused before it is resolved again.
const RESOLVED_FOR: Duration = Duration::from_secs(10);
/// The most names whose addresses are kept.
const RESOLVED_NAMES: usize = 4096;

/// A name's addresses, and when they were looked up.
type Resolved = (Vec<SocketAddr>, Instant);

/// Opens connections and keeps the idle ones.
pub struct Connector {
    guard: Arc<Guard>,
    verified: TlsConnector,
    insecure: TlsConnector,
    connect_timeout: Duration,
    idle: Mutex<IdlePool>,
    /// Recent DNS answers: the scheduler and the connection ask in turn.
    resolved: Mutex<HashMap<(String, u16), Resolved>>,
}

#[derive(Default)]
struct IdlePool {
    by_origin: HashMap<Origin, Vec<(Connection<Stream>, Instant)>>,
    swept: Option<Instant>,
}

impl Connector {
    /// # Errors
    /// When the platform's certificate store cannot be loaded.
    pub fn new(guard: Arc<Guard>, connect_timeout: Duration) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        let tls = |verifier: Arc<dyn ServerCertVerifier>| -> anyhow::Result<TlsConnector> {
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(TlsConnector::from(Arc::new(config)))
        };
        Ok(Connector {
            verified: tls(Arc::new(verifier))?,
            insecure: tls(Arc::new(AcceptAnyCertificate(provider.clone())))?,
            guard,
            connect_timeout,
            idle: Mutex::default(),
            resolved: Mutex::default(),
        })
    }

    /// An idle connection to `origin` that is still open, if one is kept.
    pub fn reuse(&self, origin: &Origin) -> Option<Connection<Stream>> {
        let mut idle = self.idle.lock().expect("the idle pool is never poisoned");
        let kept = idle.by_origin.get_mut(origin)?;
        while let Some((connection, since)) = kept.pop() {
            if since.elapsed() < IDLE_TIMEOUT && still_open(&connection) {
                return Some(connection);
            }
        }
        None
    }

    /// Keeps `connection` for the next delivery to `origin`.
    pub fn keep(&self, origin: Origin, connection: Connection<Stream>) {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("the idle pool is never poisoned");
        if idle
            .swept
            .is_none_or(|swept| now.duration_since(swept) >= SWEEP_EVERY)
        {
            idle.swept = Some(now);
            idle.by_origin.retain(|_, kept| {
                kept.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
                !kept.is_empty()
            });
        }
        let kept = idle.by_origin.entry(origin).or_default();
        if kept.len() < IDLE_PER_ORIGIN {
            kept.push((connection, now));
        }
    }

    /// A new connection to `origin`, to an address the guard permits.
    ///
    /// # Errors
    /// When the destination is blocked, unreachable, or fails the TLS handshake.
    pub async fn open(&self, origin: &Origin) -> Result<Connection<Stream>, ConnectError> {
        let addresses = self.resolve(origin).await?;
        let tcp = tokio::time::timeout(self.connect_timeout, connect_any(&addresses))
            .await
            .map_err(|_| ConnectError::TimedOut)??;
        let _ = tcp.set_nodelay(true);
        if !origin.tls {
            return Ok(Connection::new(Stream::Plain(tcp)));
        }
        let name = ServerName::try_from(origin.host.trim_matches(['[', ']']).to_owned())
            .map_err(|_| ConnectError::Failed(None))?;
        let connector = if origin.insecure {
            &self.insecure
        } else {
            &self.verified
        };
        let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| ConnectError::TimedOut)?
            .map_err(|error| {
                match error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls) => ConnectError::Tls(tls.clone()),
                    None => ConnectError::Failed(Some(error)),
                }
            })?;
        Ok(Connection::new(Stream::Tls(Box::new(tls))))
    }

    /// The destination `origin`'s attempts count against, without waiting for DNS: a
    /// literal address, a name's permitted address from a recent answer, or else the name
    /// itself (its first connection resolves it). A name whose DNS hangs thus never holds
    /// up the claims that bring everyone's work.
    pub fn destination(&self, origin: &Origin) -> Destination {
        let host = origin.host.trim_matches(['[', ']']);
        let address = match host.parse::<std::net::IpAddr>() {
            Ok(address) => Some(SocketAddr::new(address, origin.port)),
            Err(_) => self
                .resolved
                .lock()
                .expect("not poisoned")
                .get(&(host.to_owned(), origin.port))
                .filter(|(_, at)| at.elapsed() < RESOLVED_FOR)
                .and_then(|(addresses, _)| {
                    addresses
                        .iter()
                        .copied()
                        .find(|address| self.guard.permits(address.ip()))
                }),
        };
        address.map_or_else(
            || Destination::Unresolved(origin.host.clone(), origin.port),
            Destination::Address,
        )
    }

    /// The addresses of `origin` the guard permits: a literal address is checked as it is,
    /// a name by every address it resolves to, and only those that passed are dialled, so no
    /// second DNS answer can point the connection elsewhere.
    async fn resolve(&self, origin: &Origin) -> Result<Vec<SocketAddr>, ConnectError> {
        let host = origin.host.trim_matches(['[', ']']);
        if let Ok(address) = host.parse::<std::net::IpAddr>() {
            self.guard.check(address)?;
            return Ok(vec![SocketAddr::new(address, origin.port)]);
        }
        let found = self.lookup(host, origin.port).await?;
        let permitted: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|address| self.guard.permits(address.ip()))
            .collect();
        match (permitted.is_empty(), found.first()) {
            (false, _) => Ok(permitted),
            (true, Some(first)) => Err(Blocked(first.ip()).into()),
            (true, None) => Err(ConnectError::Failed(None)),
        }
    }
}

impl Connector {
    /// What `host` resolves to, from an answer of the last [`RESOLVED_FOR`] if there is one.
    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        let key = (host.to_owned(), port);
        let now = Instant::now();
        if let Some((addresses, at)) = self.resolved.lock().expect("not poisoned").get(&key)
            && now.duration_since(*at) < RESOLVED_FOR
        {
            return Ok(addresses.clone());
        }
        let found: Vec<SocketAddr> =
            tokio::time::timeout(self.connect_timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| ConnectError::TimedOut)?
                .map_err(|error| ConnectError::Failed(Some(error)))?
                .collect();
        let mut resolved = self.resolved.lock().expect("not poisoned");
        if resolved.len() >= RESOLVED_NAMES {
            resolved.retain(|_, (_, at)| now.duration_since(*at) < RESOLVED_FOR);
            if resolved.len() >= RESOLVED_NAMES {
                resolved.clear();
            }
        }
        resolved.insert(key, (found.clone(), now));
        Ok(found)
    }
}

/// The first of `addresses` that accepts.
async fn connect_any(addresses: &[SocketAddr]) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(tcp) => return Ok(tcp),
            Err(error) => last = Some(error),
        }
    }
    Err(ConnectError::Failed(last))
}

/// Whether an idle connection can carry another request: not closed by the receiver, and
/// nothing sent by it out of turn.
fn still_open(connection: &Connection<Stream>) -> bool {
    if connection.has_unread() {
        return false;
    }
    // Pending means quiet and open; anything ready is an end of stream or stray bytes.
    let mut probe = [0u8; 1];
    connection
        .stream
        .tcp()
        .peek(&mut probe)
        .now_or_never()
        .is_none()
}

/// `insecure_ssl: "1"`: any certificate is accepted, as GitHub does for such hooks; the
/// handshake still uses the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(allow_private: bool) -> Connector {
        Connector::new(
            Arc::new(Guard::new(allow_private, Vec::new())),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn origin(host: &str, port: u16) -> Origin {
        Origin {
            tls: false,
            host: host.to_owned(),
            port,
            insecure: false,
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_blocked() {
        let error = connector(false)
            .open(&origin("localhost", 9))
            .await
            .err()
            .expect("localhost must not resolve to a permitted address");
        assert!(error.to_string().starts_with("blocked: "), "{error}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let opened = Connector::new(
            Arc::new(Guard::new(
                false,
                vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            )),
            Duration::from_secs(5),
        )
        .unwrap()
        .open(&origin("localhost", port))
        .await;
        assert!(opened.is_ok(), "opened by --allow-target");
    }

    #[tokio::test]
    async fn a_destination_is_known_without_waiting_for_dns() {
        let connector = connector(true);
        assert_eq!(
            connector.destination(&origin("127.0.0.1", 8080)),
            Destination::Address("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            connector.destination(&origin("[::1]", 8080)),
            Destination::Address("[::1]:8080".parse().unwrap())
        );
        // Not resolved yet: the name is its own destination, and nothing was looked up.
        assert_eq!(
            connector.destination(&origin("localhost", 8080)),
            Destination::Unresolved("localhost".to_owned(), 8080)
        );
        assert!(connector.resolved.lock().unwrap().is_empty());
        // Once a connection has resolved it, its permitted address is the destination.
        let resolved = connector.resolve(&origin("localhost", 8080)).await.unwrap();
        assert_eq!(
            connector.destination(&origin("localhost", 8080)),
            Destination::Address(resolved[0])
        );
        // A blocked answer is not a destination's address.
        let strict = self::connector(false);
        let _ = strict.resolve(&origin("localhost", 8080)).await;
        assert_eq!(
            strict.destination(&origin("localhost", 8080)),
            Destination::Unresolved("localhost".to_owned(), 8080)
        );
    }

    #[tokio::test]
    async fn idle_connections_are_reused_until_the_receiver_closes_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = connector(true);
        let target = origin("127.0.0.1", port);
        let first = connector.open(&target).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        connector.keep(target.clone(), first);
        let again = connector.reuse(&target).expect("kept while open");
        connector.keep(target.clone(), again);
        drop(accepted);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(connector.reuse(&target).is_none(), "closed by the receiver");
        assert!(connector.reuse(&origin("127.0.0.1", port ^ 1)).is_none());
    }
}
