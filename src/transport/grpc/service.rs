//! The benchmark's gRPC service, written by hand instead of generated from a `.proto` (so no
//! `protoc` is needed): one protobuf message and two methods, served and called through
//! tonic's own lower-level API, as tonic-build's generated code would call it.
//!
//! ```proto
//! package ipcbench.v1;
//! message Msg { bytes data = 1; }   // one whole ipcbench message, header first
//! service Bench {
//!   rpc Echo(Msg) returns (Msg);           // round trip, acknowledged one-way
//!   rpc Stream(stream Msg) returns (Msg);  // throughput, one-way at a rate
//! }
//! ```
//!
//! The server hands every call to the thread that drives the runtime (the pattern's), through
//! an unbounded channel: a unary request with the means to answer it, or a client stream whose
//! messages that thread reads itself. Nothing here runs on a thread of its own.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tonic::body::Body;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The one message type: an ipcbench message (header and payload) as protobuf `bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: Bytes,
}

/// The unary method's path.
pub const ECHO_PATH: &str = "/ipcbench.v1.Bench/Echo";
/// The client-streaming method's path.
pub const STREAM_PATH: &str = "/ipcbench.v1.Bench/Stream";

pub type Codec = ProstCodec<Msg, Msg>;

/// A call as the server's driving thread takes it.
pub enum Call {
    /// A unary request; its answer goes back through `answer`.
    Unary { request: Bytes, answer: oneshot::Sender<Bytes> },
    /// A client stream; the call's response is sent once `done` fires (or is dropped).
    Stream { messages: Streaming<Msg>, done: oneshot::Sender<()> },
}

/// The server: a tower service over HTTP requests that routes the two paths.
#[derive(Clone)]
pub struct BenchServer {
    pub calls: mpsc::UnboundedSender<Call>,
    /// Largest message decoded (tonic's default is 4 MiB).
    pub max_message_bytes: usize,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<Body>> for BenchServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let handler = Handler(self.calls.clone());
        let mut grpc =
            tonic::server::Grpc::new(Codec::default()).max_decoding_message_size(self.max_message_bytes);
        match req.uri().path() {
            ECHO_PATH => Box::pin(async move { Ok(grpc.unary(handler, req).await) }),
            STREAM_PATH => Box::pin(async move { Ok(grpc.client_streaming(handler, req).await) }),
            other => {
                let status = Status::unimplemented(format!("no method {other}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

impl tonic::server::NamedService for BenchServer {
    const NAME: &'static str = "ipcbench.v1.Bench";
}

/// One call's handler: passes it to the driving thread and waits for its answer.
struct Handler(mpsc::UnboundedSender<Call>);

fn gone() -> Status {
    Status::unavailable("the ipcbench server stopped taking calls")
}

impl tonic::server::UnaryService<Msg> for Handler {
    type Response = Msg;
    type Future = BoxFuture<Result<Response<Msg>, Status>>;

    fn call(&mut self, request: Request<Msg>) -> Self::Future {
        let (answer, answered) = oneshot::channel();
        let sent = self.0.send(Call::Unary { request: request.into_inner().data, answer });
        Box::pin(async move {
            sent.map_err(|_| gone())?;
            let data = answered.await.map_err(|_| gone())?;
            Ok(Response::new(Msg { data }))
        })
    }
}

impl tonic::server::ClientStreamingService<Msg> for Handler {
    type Response = Msg;
    type Future = BoxFuture<Result<Response<Msg>, Status>>;

    fn call(&mut self, request: Request<Streaming<Msg>>) -> Self::Future {
        let (done, finished) = oneshot::channel();
        let sent = self.0.send(Call::Stream { messages: request.into_inner(), done });
        Box::pin(async move {
            sent.map_err(|_| gone())?;
            // Dropped or fired, the stream is over for the driving thread: answer it.
            let _ = finished.await;
            Ok(Response::new(Msg { data: Bytes::new() }))
        })
    }
}
