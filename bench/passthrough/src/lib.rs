//! The passthrough baseline of `make bench`: forwards every request to `ORIGIN_URL` with the
//! shared secret and checks nothing. It is the floor keygate is measured against, built with the
//! same crates and release profile; never deploy it.

use worker::{event, Context, Env, Fetch, Request, RequestInit, RequestRedirect, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    let secret = env.secret("SHARED_SECRET")?.to_string();
    let path = req.path();
    let target = format!("{}{}", origin.trim_end_matches('/'), path);
    let headers = req.headers().clone();
    headers.set("x-shared-secret", &secret)?;
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
}
