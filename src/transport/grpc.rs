//! gRPC over a Unix socket as a transport (`--transport grpc-uds`, built with `--features
//! grpc`): tonic's HTTP/2 client and server on one Unix stream socket in the socket directory,
//! the shape of an application calling a local sidecar or daemon.
//!
//! - The initiator is the gRPC client and the peer the gRPC server. The socket is made as for
//!   `uds` (the initiator binds it in the socket directory, the peer connects and proves the
//!   session's key); then the initiator speaks HTTP/2 as the client over the accepted socket.
//!   Which side called `connect` changes no byte of the HTTP/2 traffic.
//! - A message whose answer the initiator awaits (round trip, one-way with acknowledgements) is
//!   one unary call, `Echo`; it starts when the answer is awaited ([`Transport::recv`]), right
//!   after the send. Messages sent without waiting for answers (throughput, one-way at a
//!   `--rate`) go as one client-streaming call, `Stream`, each handed to HTTP/2 as it is sent;
//!   the call ends with the stop message and its response is the stop's answer. The client
//!   sees which from the order of calls: a second send without a receive opens the stream.
//! - Each message is one protobuf `bytes` field (see [`service`]): one copy into the request
//!   on the sending side (tonic then encodes it into HTTP/2 frames); the server answers an echo
//!   with the request's own bytes.
//! - Each side runs a current-thread tokio runtime on the thread that calls the transport
//!   ([`driver`]: what `--wait` means there); no runtime thread is left when the side is
//!   dropped. After answering the stop, the server keeps serving until the client closes the
//!   connection (or the timeout passes), so that the answer is written out.
//! - gRPC has no publish-subscribe: fan-out and fan-in are refused.

use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::auth::Key;
use crate::wire::{Header, HEADER_BYTES, STOP_SEQ};

mod driver;
mod service;

use driver::Driver;
use service::{BenchServer, Call, Codec, Msg, ECHO_PATH, STREAM_PATH};

/// The library under this transport and its version, as Cargo.lock pinned it at build time
/// (for the configuration key: results of different versions are never compared).
pub fn library() -> String {
    format!("tonic {}", env!("IPCBENCH_TONIC_VERSION"))
}

/// Messages queued for a client stream before the sender waits (HTTP/2 flow control bounds
/// what is in flight beyond that).
const STREAM_QUEUE: usize = 16;

/// The largest message either side decodes: the message and protobuf's few bytes around it.
fn max_decoded(size_bytes: usize) -> usize {
    size_bytes + 64
}

/// The initiator's side: the gRPC client over the socket the peer connected to.
pub fn client(
    fd: OwnedFd,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
) -> Result<GrpcTransport> {
    let driver = Driver::new(wait, timeout).context("starting the gRPC client's tokio runtime")?;
    let socket = std::os::unix::net::UnixStream::from(fd);
    socket.set_nonblocking(true)?;
    // tonic asks its connector for a socket (again after a failure): the first time it gets
    // this one, then an error, since the peer never listens anew.
    let slot = std::sync::Mutex::new(Some(socket));
    let connector = tower::service_fn(move |_: http::Uri| {
        let socket = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        async move {
            let socket = socket.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the connection to the gRPC peer closed",
                )
            })?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::from_std(socket)?))
        }
    });
    let endpoint = tonic::transport::Endpoint::from_static("http://ipcbench.grpc-uds");
    let channel = driver
        .run(endpoint.connect_with_connector(connector))
        .map_err(anyhow::Error::from)
        .and_then(|r| r.map_err(anyhow::Error::from))
        .context("starting HTTP/2 with the gRPC peer")?;
    let grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_decoded(size_bytes));
    Ok(GrpcTransport::new(Role::Client(Client { grpc, pending: None, stream: None }), driver, size_bytes))
}

/// The peer's side: connects to the initiator's socket, proves `key`, and serves gRPC on it.
pub fn serve(
    ep: &Endpoint,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<GrpcTransport> {
    let fd = super::listener::connect_proven(ep, timeout, key)?;
    let driver = Driver::new(wait, timeout).context("starting the gRPC server's tokio runtime")?;
    let socket = std::os::unix::net::UnixStream::from(fd);
    socket.set_nonblocking(true)?;
    let (calls_tx, calls) = mpsc::unbounded_channel();
    {
        let _in_runtime = driver.enter();
        let socket = tokio::net::UnixStream::from_std(socket)?;
        let svc = BenchServer { calls: calls_tx, max_message_bytes: max_decoded(size_bytes) };
        // The one connection is served on a task of its own; the server's future ends once it
        // has taken it, and the connection's task when the client closes.
        driver.spawn(
            tonic::transport::Server::builder()
                .serve_with_incoming(svc, tokio_stream::once(Ok::<_, std::io::Error>(socket))),
        );
    }
    let server = Server { calls, answer: None, stream: None, stopped: false };
    Ok(GrpcTransport::new(Role::Server(server), driver, size_bytes))
}

/// A client-streaming call running on the runtime: its response, once the stream has ended.
type StreamCall = tokio::task::JoinHandle<Result<tonic::Response<Msg>, Status>>;

struct Client {
    grpc: tonic::client::Grpc<Channel>,
    /// The message sent whose call has not started (it starts when its answer is awaited).
    pending: Option<Bytes>,
    /// The client stream, once messages go without waiting for answers: its queue and the call.
    stream: Option<(mpsc::Sender<Msg>, StreamCall)>,
}

struct Server {
    calls: mpsc::UnboundedReceiver<Call>,
    /// Where the unary request last received is answered.
    answer: Option<oneshot::Sender<Bytes>>,
    /// The client stream being read, and what ends its call.
    stream: Option<(Streaming<Msg>, oneshot::Sender<()>)>,
    /// The stop arrived: on drop, serve on until the client has its answer and closes.
    stopped: bool,
}

enum Role {
    Client(Client),
    Server(Server),
}

/// One side of a gRPC channel.
pub struct GrpcTransport {
    // Fields drop in this order: the calls and channel before the runtime that runs them.
    role: Role,
    tx: Vec<u8>,
    rx: Bytes,
    size: usize,
    /// `None` once the client has closed after the stop's answer.
    driver: Option<Driver>,
}

impl GrpcTransport {
    fn new(role: Role, driver: Driver, size: usize) -> GrpcTransport {
        GrpcTransport { role, tx: vec![0; size], rx: Bytes::new(), size, driver: Some(driver) }
    }

    /// The message just received, checked for its size.
    fn received(&mut self, data: Bytes) -> TransportResult<&[u8]> {
        if data.len() != self.size {
            return Err(TransportError::Malformed(format!(
                "a gRPC message of {} bytes, not {}",
                data.len(),
                self.size
            )));
        }
        self.rx = data;
        Ok(&self.rx)
    }

    /// The client after the stop's answer: closes the connection (the server waits for that)
    /// and stops its runtime.
    fn close(&mut self) {
        if let Role::Client(c) = &mut self.role {
            c.stream = None;
        }
        self.driver = None;
    }
}

fn driver(d: &Option<Driver>) -> TransportResult<&Driver> {
    d.as_ref().ok_or_else(|| io_err("the gRPC channel is closed (the stop was answered)".into()))
}

fn io_err(text: String) -> TransportError {
    TransportError::Io(std::io::Error::other(text))
}

/// What a failed call means: the connection gone is the peer gone.
fn status_error(s: Status) -> TransportError {
    match s.code() {
        Code::Unavailable | Code::Cancelled => TransportError::PeerClosed,
        code => io_err(format!("gRPC call failed: {code:?}: {}", s.message())),
    }
}

impl Client {
    /// The unary call for `msg`.
    fn echo_call(&mut self, d: &Driver, msg: Bytes) -> TransportResult<Bytes> {
        let grpc = &mut self.grpc;
        let reply = d.run(async move {
            grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
            let path = http::uri::PathAndQuery::from_static(ECHO_PATH);
            grpc.unary(tonic::Request::new(Msg { data: msg }), path, Codec::default()).await
        })?;
        Ok(reply.map_err(status_error)?.into_inner().data)
    }

    /// Puts `msg` on the client stream (opening it first with the message before, if any) and
    /// lets HTTP/2 write it out.
    fn stream_send(&mut self, d: &Driver, msg: Msg) -> TransportResult<()> {
        if self.stream.is_none() {
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            let mut grpc = self.grpc.clone();
            let call = d.spawn(async move {
                grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
                let path = http::uri::PathAndQuery::from_static(STREAM_PATH);
                let messages = tokio_stream::wrappers::ReceiverStream::new(rx);
                grpc.client_streaming(tonic::Request::new(messages), path, Codec::default()).await
            });
            self.stream = Some((tx, call));
            if let Some(earlier) = self.pending.take() {
                self.stream_send(d, Msg { data: earlier })?;
            }
        }
        let (tx, _) = self.stream.as_ref().expect("opened above");
        let queued = d.run(async move {
            let queued = tx.send(msg).await.is_ok();
            // One turn of the runtime: the stream's tasks take the message and write it.
            tokio::task::yield_now().await;
            queued
        })?;
        if !queued {
            // The call ended early: its status says why.
            return Err(self.end_stream(d).err().unwrap_or(TransportError::PeerClosed));
        }
        Ok(())
    }

    /// Closes the client stream and waits for the call's response.
    fn end_stream(&mut self, d: &Driver) -> TransportResult<()> {
        let (tx, call) = self.stream.take().expect("a stream is open");
        drop(tx);
        match d.run(call)? {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(status_error(status)),
            Err(e) => Err(io_err(format!("the gRPC stream's task failed: {e}"))),
        }
    }
}

impl Server {
    /// The next message, from the open client stream or the next call.
    fn next(&mut self, d: &Driver) -> TransportResult<Bytes> {
        // A request the pattern left unanswered gets none (its call fails).
        self.answer = None;
        loop {
            if let Some((messages, _)) = &mut self.stream {
                return match d.run(messages.message())? {
                    Ok(Some(m)) => Ok(m.data),
                    // The stream ended without the stop message.
                    Ok(None) => Err(TransportError::PeerClosed),
                    Err(status) => Err(status_error(status)),
                };
            }
            match d.run(self.calls.recv())? {
                // Every sender is gone: the connection is closed.
                None => return Err(TransportError::PeerClosed),
                Some(Call::Unary { request, answer }) => {
                    self.answer = Some(answer);
                    return Ok(request);
                }
                Some(Call::Stream { messages, done }) => self.stream = Some((messages, done)),
            }
        }
    }

    /// Answers the unary request last received and lets HTTP/2 write the answer out.
    fn answer(&mut self, d: &Driver, data: Bytes) -> TransportResult<()> {
        let answer = self
            .answer
            .take()
            .ok_or_else(|| io_err("nothing to answer: a client stream's messages take no answers".into()))?;
        if answer.send(data).is_err() {
            return Err(TransportError::PeerClosed);
        }
        d.run(tokio::task::yield_now())
    }

    /// On drop: ends an open stream's call, and after the stop serves on until the client has
    /// closed the connection (every handle of the service gone), for at most `limit`.
    fn finish(&mut self, d: &Driver, limit: Duration) {
        self.answer = None;
        if let Some((mut messages, done)) = self.stream.take() {
            if self.stopped {
                // The client closes its stream right after the stop: read to its end, so that
                // the response is not sent into a stream still open.
                let _ = d.run_within(limit, async { while let Ok(Some(_)) = messages.message().await {} });
            }
            let _ = done.send(());
        }
        if self.stopped {
            let calls = &mut self.calls;
            let _ = d.run_within(limit, async move { while calls.recv().await.is_some() {} });
        }
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        if let (Role::Server(s), Some(d)) = (&mut self.role, &self.driver) {
            s.finish(d, d.timeout());
        }
    }
}

impl Transport for GrpcTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tx[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.tx);
        let msg = Bytes::copy_from_slice(&self.tx);
        let d = driver(&self.driver)?;
        match &mut self.role {
            Role::Server(s) => s.answer(d, msg),
            Role::Client(c) => {
                if c.stream.is_none() && c.pending.is_none() {
                    c.pending = Some(msg);
                    return Ok(());
                }
                c.stream_send(d, Msg { data: msg })?;
                if h.seq == STOP_SEQ {
                    c.end_stream(d)?;
                    self.close();
                }
                Ok(())
            }
        }
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        let d = driver(&self.driver)?;
        let data = match &mut self.role {
            Role::Server(s) => s.next(d)?,
            Role::Client(c) => {
                let msg = c.pending.take().ok_or_else(|| {
                    io_err("nothing awaits an answer: a client stream's messages take none".into())
                })?;
                c.echo_call(d, msg)?
            }
        };
        let stop = data.len() >= HEADER_BYTES && Header::read(&data).seq == STOP_SEQ;
        match &mut self.role {
            Role::Server(s) => s.stopped |= stop,
            Role::Client(_) if stop => self.close(),
            Role::Client(_) => {}
        }
        self.received(data)
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        self.recv()?;
        let header = Header::read(&self.rx);
        let d = driver(&self.driver)?;
        match &mut self.role {
            Role::Server(s) => s.answer(d, self.rx.clone())?,
            Role::Client(_) => return Err(io_err("the gRPC client does not echo".into())),
        }
        Ok(header)
    }
}
