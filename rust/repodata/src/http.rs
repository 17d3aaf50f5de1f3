//! HTTP for everything Strata fetches (repository metadata and payloads,
//! the Koji hub): one agent per process, configured once from strata.toml
//! (`[network]`), so every peer meets the same limits.
//!
//! A peer may be silent, trickle, or never stop; none of that may hang a
//! compose. Each request therefore has
//! - a connect timeout, and bounded retries with backoff for what may be
//!   passing (connection failures, HTTP 5xx and 429; never other 4xx);
//! - a read timeout on every read: a peer that sends nothing for that long
//!   fails;
//! - a low-speed limit on the body, as curl and dnf (`minrate`) have: over
//!   each stretch of `read_timeout` spent waiting for data, at least
//!   `min_rate` bytes a second must arrive, so a peer that sends one byte
//!   just before each read timeout fails too;
//! - a deadline for the response's status and headers (ureq reads them
//!   with the read timeout alone, so a trickle could stretch them for
//!   days), or, for a call whose answer is computed (the Koji hub), one
//!   overall deadline;
//! - a bound on the bytes of the body.

use std::io::{self, Read};
use std::sync::{mpsc, Arc, RwLock};
use std::time::{Duration, Instant};

/// `[network]` in strata.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSettings {
    pub connect_timeout: Duration,
    /// How long a read may wait for data, and the stretch over which
    /// `min_rate` is measured.
    pub read_timeout: Duration,
    /// Bytes a second a body must average over each `read_timeout`.
    pub min_rate: u64,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The pause before the first retry, doubled for each next one (not a
    /// setting; tests shorten it).
    pub backoff: Duration,
}

impl Default for NetworkSettings {
    /// dnf's defaults (`timeout=30`, `minrate=1000`), and three retries.
    fn default() -> Self {
        NetworkSettings {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            min_rate: 1000,
            retries: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Why a request failed. The URL is named by whoever reports it (and only
/// there, so that it is shown the one way that may be shown).
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect: {reason}{}", attempts_note(*.attempts))]
    Connect { reason: String, attempts: u32 },
    #[error(
        "cannot connect within {} (connect timeout; set [network] connect_timeout){}",
        secs(*.after),
        attempts_note(*.attempts)
    )]
    ConnectTimeout { after: Duration, attempts: u32 },
    #[error("the server answered HTTP {status} {text}{}", attempts_note(*.attempts))]
    Status {
        status: u16,
        text: String,
        attempts: u32,
    },
    #[error("no data for {} (read timeout; set [network] read_timeout)", secs(*.after))]
    Silent { after: Duration },
    #[error(
        "no complete response within {} (set [network] connect_timeout and read_timeout)",
        secs(*.after)
    )]
    NoResponse { after: Duration },
    #[error(
        "too slow: {bytes} bytes in {} of waiting, below [network] min_rate = {min_rate} bytes/s",
        secs(*.over)
    )]
    TooSlow {
        bytes: u64,
        over: Duration,
        min_rate: u64,
    },
    #[error("no complete answer within {} ({setting})", secs(*.after))]
    Deadline {
        after: Duration,
        setting: &'static str,
    },
    #[error("the answer is larger than {} ({what})", crate::limits::human(*.limit))]
    TooLarge { limit: u64, what: &'static str },
    #[error("{reason}")]
    Transport { reason: String },
}

fn attempts_note(n: u32) -> String {
    if n > 1 {
        format!(" ({n} attempts)")
    } else {
        String::new()
    }
}

/// `30 s`, `0.5 s`.
pub(crate) fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// An overall deadline for one call, and the setting that gives it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub after: Duration,
    pub setting: &'static str,
}

/// An agent and its settings.
pub struct Client {
    agent: ureq::Agent,
    settings: NetworkSettings,
}

static CLIENT: RwLock<Option<Arc<Client>>> = RwLock::new(None);

/// Sets the network settings of this process (from `[network]`).
pub fn configure(settings: NetworkSettings) {
    let client = Arc::new(Client::new(settings));
    *CLIENT.write().unwrap_or_else(|p| p.into_inner()) = Some(client);
}

/// The process's client: as configured, else with the defaults.
pub fn client() -> Arc<Client> {
    if let Some(c) = CLIENT.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return c.clone();
    }
    let mut slot = CLIENT.write().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| Arc::new(Client::new(NetworkSettings::default())))
        .clone()
}

/// `GET url`, its body bounded to `limit` bytes (`what` names the limit).
pub(crate) fn get(url: &str, limit: u64, what: &'static str) -> Result<Body, HttpError> {
    client().get(url, limit, what)
}

/// A request as one attempt sends it.
#[derive(Clone)]
struct Call {
    method: &'static str,
    url: String,
    body: Option<(String, Vec<u8>)>,
    deadline: Option<Deadline>,
}

/// How one attempt failed.
enum Failure {
    Status {
        status: u16,
        text: String,
        retry_after: Option<Duration>,
    },
    Connect(Box<ureq::Transport>),
    ConnectTimeout,
    Silent,
    NoResponse(Duration),
    Other(Box<ureq::Transport>),
}

impl Client {
    pub(crate) fn new(settings: NetworkSettings) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(settings.connect_timeout)
            .timeout_read(settings.read_timeout)
            .timeout_write(settings.read_timeout)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent, settings }
    }

    /// `GET url`, its body bounded to `limit` bytes (`what` names the
    /// limit in the error).
    pub(crate) fn get(&self, url: &str, limit: u64, what: &'static str) -> Result<Body, HttpError> {
        self.send(
            Call {
                method: "GET",
                url: url.to_string(),
                body: None,
                deadline: None,
            },
            limit,
            what,
        )
    }

    /// `POST body` to `url`, answered within `deadline`; the answer
    /// bounded to `limit` bytes (`what` names the limit in the error).
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        deadline: Deadline,
        limit: u64,
        what: &'static str,
    ) -> Result<Body, HttpError> {
        self.send(
            Call {
                method: "POST",
                url: url.to_string(),
                body: Some((content_type.to_string(), body)),
                deadline: Some(deadline),
            },
            limit,
            what,
        )
    }

    fn send(&self, call: Call, limit: u64, what: &'static str) -> Result<Body, HttpError> {
        let s = &self.settings;
        let mut attempt = 1;
        loop {
            let failure = match self.once(call.clone()) {
                Ok(resp) => {
                    return Ok(Body {
                        reader: resp.into_reader(),
                        limit,
                        what,
                        got: 0,
                        read_timeout: s.read_timeout,
                        min_rate: s.min_rate,
                        deadline: call.deadline,
                        waited: Duration::ZERO,
                        window_bytes: 0,
                    })
                }
                Err(f) => f,
            };
            let pause = match &failure {
                Failure::Status {
                    status,
                    retry_after,
                    ..
                } if *status == 429 || *status >= 500 => Some(*retry_after),
                Failure::Connect(_) | Failure::ConnectTimeout => Some(None),
                _ => None,
            };
            match pause {
                Some(retry_after) if attempt <= s.retries => {
                    let backoff = s.backoff.saturating_mul(1 << (attempt - 1).min(16));
                    let pause = retry_after.unwrap_or(backoff).min(MAX_BACKOFF);
                    tracing::info!(
                        url = %strata_model::redact_credentials(&call.url),
                        attempt,
                        "retrying in {}: {}",
                        secs(pause),
                        self.error(failure, &call, attempt)
                    );
                    std::thread::sleep(pause);
                    attempt += 1;
                }
                _ => return Err(self.error(failure, &call, attempt)),
            }
        }
    }

    fn error(&self, failure: Failure, call: &Call, attempts: u32) -> HttpError {
        match failure {
            Failure::Status { status, text, .. } => HttpError::Status {
                status,
                text,
                attempts,
            },
            Failure::Connect(t) => HttpError::Connect {
                reason: describe(&t),
                attempts,
            },
            Failure::ConnectTimeout => HttpError::ConnectTimeout {
                after: self.settings.connect_timeout,
                attempts,
            },
            Failure::Silent => match call.deadline {
                Some(d) => HttpError::Deadline {
                    after: d.after,
                    setting: d.setting,
                },
                None => HttpError::Silent {
                    after: self.settings.read_timeout,
                },
            },
            Failure::NoResponse(after) => HttpError::NoResponse { after },
            Failure::Other(t) => HttpError::Transport {
                reason: describe(&t),
            },
        }
    }

    /// One attempt, up to the response's headers.
    fn once(&self, call: Call) -> Result<ureq::Response, Failure> {
        let mut req = self.agent.request(call.method, &call.url);
        if let Some(d) = call.deadline {
            // ureq bounds the whole call, headers and body.
            req = req.timeout(d.after);
            return Self::call(req, call.body);
        }
        // ureq reads the headers with the read timeout alone: they are
        // read on a thread of their own and waited for with a deadline.
        // A thread left behind ends with its connection, at the latest
        // after ureq's bounds on headers (100 fields of 100 KiB).
        let s = &self.settings;
        let budget = s.connect_timeout + s.read_timeout * 2;
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("strata-http".into())
            .spawn(move || {
                let _ = tx.send(Self::call(req, call.body));
            });
        if let Err(e) = spawned {
            return Err(Failure::Other(Box::new(
                ureq::Error::from(io::Error::other(e))
                    .into_transport()
                    .expect("an I/O error is a transport error"),
            )));
        }
        match rx.recv_timeout(budget) {
            Ok(r) => r,
            Err(_) => Err(Failure::NoResponse(budget)),
        }
    }

    fn call(
        req: ureq::Request,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<ureq::Response, Failure> {
        let sent = match body {
            Some((content_type, bytes)) => {
                req.set("Content-Type", &content_type).send_bytes(&bytes)
            }
            None => req.call(),
        };
        match sent {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => Err(Failure::Status {
                status,
                text: resp.status_text().to_string(),
                retry_after: resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            }),
            Err(ureq::Error::Transport(t)) => {
                let timed_out = std::error::Error::source(&t)
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .is_some_and(is_timeout);
                Err(match t.kind() {
                    ureq::ErrorKind::ConnectionFailed if timed_out => Failure::ConnectTimeout,
                    ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => {
                        Failure::Connect(Box::new(t))
                    }
                    ureq::ErrorKind::Io if timed_out => Failure::Silent,
                    _ => Failure::Other(Box::new(t)),
                })
            }
        }
    }
}

/// What went wrong, without the URL: ureq's own message quotes it whole,
/// credentials and all, and the caller names the URL as it may be shown.
fn describe(t: &ureq::Transport) -> String {
    let mut s = t.kind().to_string();
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// A response body that enforces the read timeout's meaning, the low-speed
/// limit and its byte limit. Its errors carry an [`HttpError`].
pub struct Body {
    reader: Box<dyn Read + Send + Sync + 'static>,
    limit: u64,
    what: &'static str,
    got: u64,
    read_timeout: Duration,
    min_rate: u64,
    deadline: Option<Deadline>,
    /// Time spent waiting in reads, and bytes received, since the last
    /// low-speed check. Only time in reads counts: a consumer that stops
    /// reading for a while does not make the peer slow.
    waited: Duration,
    window_bytes: u64,
}

impl Body {
    fn fail(kind: io::ErrorKind, e: HttpError) -> io::Error {
        io::Error::new(kind, e)
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is asked for, to tell "exactly the
        // limit" from "more".
        let room = (self.limit - self.got.min(self.limit)).saturating_add(1);
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let start = Instant::now();
        let n = match self.reader.read(&mut buf[..len]) {
            Ok(n) => n,
            Err(e) if is_timeout(&e) => {
                let e = match self.deadline {
                    Some(d) => HttpError::Deadline {
                        after: d.after,
                        setting: d.setting,
                    },
                    None => HttpError::Silent {
                        after: self.read_timeout,
                    },
                };
                return Err(Self::fail(io::ErrorKind::TimedOut, e));
            }
            Err(e) => return Err(e),
        };
        self.waited += start.elapsed();
        self.got += n as u64;
        self.window_bytes += n as u64;
        if self.got > self.limit {
            return Err(Self::fail(
                io::ErrorKind::InvalidData,
                HttpError::TooLarge {
                    limit: self.limit,
                    what: self.what,
                },
            ));
        }
        if n > 0 && self.deadline.is_none() && self.waited >= self.read_timeout {
            let wanted = self.min_rate as f64 * self.waited.as_secs_f64();
            if (self.window_bytes as f64) < wanted {
                return Err(Self::fail(
                    io::ErrorKind::TimedOut,
                    HttpError::TooSlow {
                        bytes: self.window_bytes,
                        over: self.waited,
                        min_rate: self.min_rate,
                    },
                ));
            }
            self.waited = Duration::ZERO;
            self.window_bytes = 0;
        }
        Ok(n)
    }
}

/// The [`HttpError`] an I/O error of a [`Body`] carries.
pub(crate) fn body_error(e: &io::Error) -> Option<&HttpError> {
    e.get_ref().and_then(|i| i.downcast_ref::<HttpError>())
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings() -> NetworkSettings {
        NetworkSettings {
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(300),
            min_rate: 1000,
            retries: 2,
            backoff: Duration::from_millis(10),
        }
    }

    /// A loopback server answering each connection with `answer`; returns
    /// its URL and the count of connections.
    fn serve(
        answer: impl Fn(usize, TcpStream) + Send + Sync + 'static,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                std::thread::spawn(move || {
                    // The request, up to its blank line.
                    let mut req = Vec::new();
                    let mut b = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") && conn.read(&mut b).is_ok_and(|n| n == 1) {
                        req.push(b[0]);
                    }
                    answer(n, conn)
                });
            }
        });
        (url, count)
    }

    fn status(conn: &mut TcpStream, code: &str, body: &[u8]) {
        let _ = write!(
            conn,
            "HTTP/1.1 {code}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(body);
    }

    /// An answer that sends `head`, then a byte every 50 ms.
    fn trickle(head: &'static [u8]) -> impl Fn(usize, TcpStream) + Send + Sync + 'static {
        move |_, mut c| {
            let _ = c.write_all(head);
            for _ in 0..1000 {
                if c.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn read_all(mut body: Body) -> Result<Vec<u8>, io::Error> {
        let mut out = Vec::new();
        body.read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn server_errors_are_retried_with_backoff_and_client_errors_are_not() {
        let client = Client::new(settings());
        let (url, count) = serve(|n, mut c| {
            if n < 2 {
                status(&mut c, "503 Service Unavailable", b"")
            } else {
                status(&mut c, "200 OK", b"hello")
            }
        });
        let body = client.get(&url, 100, "test").unwrap();
        assert_eq!(read_all(body).unwrap(), b"hello");
        assert_eq!(count.load(Ordering::SeqCst), 3);

        let (url, count) = serve(|_, mut c| status(&mut c, "429 Too Many Requests", b""));
        let e = client.get(&url, 100, "test").err().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert_eq!(
            e.to_string(),
            "the server answered HTTP 429 Too Many Requests (3 attempts)"
        );

        let (url, count) = serve(|_, mut c| status(&mut c, "404 Not Found", b""));
        let e = client.get(&url, 100, "test").err().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(e.to_string(), "the server answered HTTP 404 Not Found");

        // Nothing listens: connection refused, retried.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client
            .get(&format!("http://127.0.0.1:{port}/x"), 100, "test")
            .err()
            .unwrap();
        assert!(matches!(e, HttpError::Connect { attempts: 3, .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("cannot connect: Connection Failed: ")
                && e.to_string().ends_with(" (3 attempts)")
                && !e.to_string().contains("127.0.0.1"),
            "{e}"
        );
    }

    #[test]
    fn a_silent_server_times_out() {
        let client = Client::new(settings());
        // Accepted by the kernel, never answered.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let e = client.get(&url, 100, "test").err().unwrap();
        assert_eq!(
            e.to_string(),
            "no data for 0.3 s (read timeout; set [network] read_timeout)"
        );
        // Silent in the middle of the body.
        let (url, _) = serve(|_, mut c| {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            std::thread::sleep(Duration::from_secs(3));
        });
        let e = read_all(client.get(&url, 100, "test").unwrap()).unwrap_err();
        assert!(
            matches!(body_error(&e), Some(HttpError::Silent { .. })),
            "{e:?}"
        );
        drop(listener);
    }

    #[test]
    fn a_trickle_fails_the_low_speed_limit() {
        let client = Client::new(settings());
        let (url, _) = serve(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
        let e = read_all(client.get(&url, 10_000, "test").unwrap()).unwrap_err();
        let inner = body_error(&e).unwrap();
        assert!(
            matches!(inner, HttpError::TooSlow { min_rate: 1000, .. }),
            "{inner:?}"
        );
        assert!(inner
            .to_string()
            .contains("[network] min_rate = 1000 bytes/s"));

        // Headers that never end: the response deadline.
        let (url, _) = serve(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "));
        let e = client.get(&url, 100, "test").err().unwrap();
        assert_eq!(
            e.to_string(),
            "no complete response within 1.1 s (set [network] connect_timeout and read_timeout)"
        );
    }

    #[test]
    fn bodies_are_bounded_and_posts_have_a_deadline() {
        let client = Client::new(settings());
        let (url, _) = serve(|_, mut c| status(&mut c, "200 OK", &[b'x'; 5000]));
        let e = read_all(client.get(&url, 1000, "TEST_LIMIT").unwrap()).unwrap_err();
        assert_eq!(
            body_error(&e).unwrap().to_string(),
            "the answer is larger than 1000 B (TEST_LIMIT)"
        );
        assert_eq!(
            read_all(client.get(&url, 5000, "TEST_LIMIT").unwrap())
                .unwrap()
                .len(),
            5000
        );

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let deadline = Deadline {
            after: Duration::from_millis(700),
            setting: "[koji] timeout",
        };
        let e = client
            .post(&url, "text/xml", b"<x/>".to_vec(), deadline, 100, "test")
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "no complete answer within 0.7 s ([koji] timeout)"
        );
        drop(listener);
    }
}
