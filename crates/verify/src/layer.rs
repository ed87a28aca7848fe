//! The tower middleware: [`VerifyLayer`] wraps a service so that only requests the
//! [`Verifier`] accepts reach it; the rest get the refusal's plain-text answer.

use crate::verifier::Verifier;
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps services in [`VerifyService`].
#[derive(Clone, Debug)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// Calls the inner service only for accepted requests, with [`crate::Verified`] in the
/// request's extensions. A refused request gets a `text/plain` answer built with
/// `ResBody: From<&'static str>` (true of axum's `Body`, `http_body_util::Full<Bytes>`,
/// `String`), and the inner service never sees it.
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> VerifyService<S> {
    pub fn new(inner: S, verifier: Verifier) -> Self {
        Self { inner, verifier }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VerifyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<&'static str>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.verifier.verify_request(&req) {
            Ok(how) => {
                req.extensions_mut().insert(how);
                ResponseFuture {
                    kind: Kind::Inner {
                        fut: self.inner.call(req),
                    },
                }
            }
            Err(refusal) => ResponseFuture {
                kind: Kind::Refused {
                    resp: Some(refusal.response()),
                },
            },
        }
    }
}

pin_project! {
    /// The future of [`VerifyService`]: the inner service's, or the refusal at once.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] fut: F },
        Refused { resp: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => fut.poll(cx),
            KindProj::Refused { resp } => {
                Poll::Ready(Ok(resp.take().expect("polled after completion")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{signature_header_value, Verified};
    use std::convert::Infallible;
    use std::future::{ready, Ready};
    use std::task::Waker;

    /// An inner service that answers 200 with how the request was verified.
    #[derive(Clone)]
    struct Echo;

    impl Service<Request<()>> for Echo {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<()>) -> Self::Future {
            let how = req.extensions().get::<Verified>().copied();
            ready(Ok(Response::new(format!("inner saw {how:?}"))))
        }
    }

    fn call(svc: &mut VerifyService<Echo>, req: Request<()>) -> Response<String> {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = std::pin::pin!(svc.call(req));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r.expect("infallible"),
            Poll::Pending => panic!("the test services are always ready"),
        }
    }

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method("GET").uri("/hello?x=1");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    const SECRET: &str = "layer-secret-0123456789";

    #[test]
    fn accepted_request_reaches_the_inner_service_with_how_it_was_verified() {
        let mut svc = VerifyLayer::new(Verifier::new([SECRET])).layer(Echo);
        let resp = call(&mut svc, req(&[("x-shared-secret", SECRET)]));
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), "inner saw Some(Secret)");

        let now = 1_800_000_000;
        let sig = signature_header_value(SECRET.as_bytes(), now, "GET", "/hello?x=1", "c", "k");
        let v = Verifier::builder()
            .secrets([SECRET])
            .clock(move || now)
            .build();
        let mut svc = VerifyLayer::new(v).layer(Echo);
        let resp = call(
            &mut svc,
            req(&[
                ("x-keygate-signature", &sig),
                ("x-consumer-id", "c"),
                ("x-key-id", "k"),
            ]),
        );
        assert_eq!(resp.body(), "inner saw Some(Signature)");
    }

    #[test]
    fn refused_request_gets_the_plain_text_answer_and_never_reaches_the_inner_service() {
        let mut svc = VerifyLayer::new(Verifier::new([SECRET])).layer(Echo);
        type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
        let cases: [Case; 3] = [
            (&[], 401, "No secret provided"),
            (&[("x-shared-secret", "wrong")], 401, "Invalid secret"),
            (
                &[("x-keygate-signature", "t=1,v1=00")],
                401,
                "Invalid signature",
            ),
        ];
        for (headers, status, body) in cases {
            let resp = call(&mut svc, req(headers));
            assert_eq!(resp.status(), status);
            assert_eq!(resp.body(), body);
            assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        }
        let mut unconfigured = VerifyLayer::new(Verifier::new(Vec::<String>::new())).layer(Echo);
        let resp = call(&mut unconfigured, req(&[("x-shared-secret", SECRET)]));
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.body(), "Server configuration error");
    }

    #[test]
    fn refusals_never_echo_the_secret_or_signature_sent() {
        let mut svc = VerifyLayer::new(Verifier::new([SECRET])).layer(Echo);
        let sent =
            "t=1798502400,v1=8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14";
        for headers in [
            [("x-shared-secret", "a-wrong-but-secret-looking-value")],
            [("x-keygate-signature", sent)],
        ] {
            let resp = call(&mut svc, req(&headers));
            let all = format!("{:?} {}", resp.headers(), resp.body());
            assert!(!all.contains(headers[0].1), "{all}");
        }
    }
}
