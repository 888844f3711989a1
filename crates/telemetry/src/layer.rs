//! The gRPC request layer: one server span per request and latency/status metrics.

use crate::Metrics;
use opentelemetry::propagation::Extractor;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Tower layer recording spans and metrics for every gRPC request of `service`.
#[derive(Clone, Debug)]
pub struct GrpcLayer {
    service: &'static str,
    metrics: Metrics,
}

impl GrpcLayer {
    /// A layer for the process's `service` (e.g. `store`).
    pub fn new(service: &'static str, metrics: Metrics) -> Self {
        Self { service, metrics }
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = GrpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            service: self.service,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service produced by [`GrpcLayer`].
#[derive(Clone, Debug)]
pub struct GrpcService<S> {
    inner: S,
    service: &'static str,
    metrics: Metrics,
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

impl<S, B, ResB> tower::Service<http::Request<B>> for GrpcService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_string();
        let method = path.rsplit('/').next().unwrap_or("").to_string();
        let rpc_service = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let span = tracing::info_span!(
            "grpc.request",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %rpc_service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
        let fut = self.inner.call(req).instrument(span.clone());
        ResponseFuture {
            inner: fut,
            span,
            start: Instant::now(),
            service: self.service,
            method,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`GrpcService`].
    #[allow(missing_debug_implementations)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        start: Instant,
        service: &'static str,
        method: String,
        metrics: Metrics,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        let code = match &out {
            Ok(resp) => resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_string(),
            Err(_) => "transport".to_string(),
        };
        this.span.record("rpc.grpc.status_code", code.as_str());
        this.metrics
            .grpc_requests
            .with_label_values(&[this.service, this.method.as_str(), code.as_str()])
            .inc();
        this.metrics
            .grpc_latency
            .with_label_values(&[this.service, this.method.as_str()])
            .observe(this.start.elapsed().as_secs_f64());
        Poll::Ready(out)
    }
}
