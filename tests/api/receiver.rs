//! A real webhook receiver on 127.0.0.1:0, over HTTP or HTTPS with a freshly generated
//! self-signed certificate, whose behaviour a test sets: answer a status, hang, redirect,
//! close the connection, or flood the response. Every request it reads is handed to the
//! test through a channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Status(u16),
    /// Answers 503 with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// Never answers.
    Hang,
    /// 302 to another path of the same receiver.
    Redirect,
    /// Reads the request, then closes the connection without a word.
    Close,
    /// 200 with a 10 MB body.
    Flood,
    /// 200 with a body that is not text (every byte value once).
    Binary,
    /// 204 with no body.
    Empty,
}

#[derive(Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

pub struct TestReceiver {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
}

type Shared = (Arc<Mutex<Behaviour>>, mpsc::UnboundedSender<Received>);

impl TestReceiver {
    pub async fn start() -> Self {
        Self::launch(None).await
    }

    /// HTTPS with a self-signed certificate for `localhost` and 127.0.0.1.
    pub async fn start_tls() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("a certificate");
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("a TLS configuration");
        Self::launch(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn launch(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let behaviour = Arc::new(Mutex::new(Behaviour::Status(200)));
        let (sender, received) = mpsc::unbounded_channel();
        let shared: Shared = (behaviour.clone(), sender);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, shared).await;
                            }
                        }
                        None => serve(stream, shared).await,
                    }
                });
            }
        });
        TestReceiver {
            url: format!("{scheme}://127.0.0.1:{}/hook", address.port()),
            behaviour,
            received: tokio::sync::Mutex::new(received),
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// The next request received; fails the test after 20 s.
    pub async fn next(&self) -> Received {
        tokio::time::timeout(Duration::from_secs(20), self.received.lock().await.recv())
            .await
            .expect("a delivery arrives")
            .expect("the receiver runs")
    }

    /// Takes the next request, which must be of `event`.
    pub async fn next_of(&self, event: &str) -> Received {
        let received = self.next().await;
        assert_eq!(received.header("x-github-event"), Some(event));
        received
    }

    /// Requests received so far and not taken.
    pub async fn pending(&self) -> usize {
        self.received.lock().await.len()
    }
}

async fn serve<S>(mut stream: S, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if *shared.0.lock().unwrap() == Behaviour::Close {
        // Read the request head, then hang up without answering.
        let mut buffer = vec![0u8; 65536];
        let _ = stream.read(&mut buffer).await;
        let _ = shared.1.send(Received {
            path: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        });
        return;
    }
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        async move { answer(request, shared).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The answer to one request; an error makes hyper hang up without one (`Close` set while
/// a kept-alive connection was open).
async fn answer(
    request: Request<Incoming>,
    (behaviour, sender): Shared,
) -> Result<Response<Full<Bytes>>, &'static str> {
    // The behaviour set when the request arrived (before the test can hear of it).
    let behaviour = *behaviour.lock().unwrap();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let _ = sender.send(Received {
        path,
        headers,
        body,
    });
    let mut response = Response::builder();
    let body = match behaviour {
        Behaviour::Status(code) => {
            response = response.status(code).header("X-Receiver", "test");
            Bytes::from(format!("answered {code}"))
        }
        Behaviour::RetryAfter(seconds) => {
            response = response
                .status(503)
                .header("Retry-After", seconds.to_string());
            Bytes::from_static(b"busy")
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Bytes::new()
        }
        Behaviour::Redirect => {
            response = response.status(302).header("Location", "/elsewhere");
            Bytes::new()
        }
        Behaviour::Flood => {
            response = response.status(200);
            Bytes::from(vec![b'x'; 10 * 1024 * 1024])
        }
        Behaviour::Binary => {
            response = response
                .status(200)
                .header("Content-Type", "application/octet-stream");
            Bytes::from((0..=255u8).collect::<Vec<u8>>())
        }
        Behaviour::Empty => {
            response = response.status(204);
            Bytes::new()
        }
        Behaviour::Close => return Err("hang up without answering"),
    };
    Ok(response.body(Full::new(body)).unwrap())
}
