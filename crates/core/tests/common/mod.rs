//! Fixtures shared by the native pipeline tests: a minimal key record and a `GET` request head
//! carrying a bearer key.
#![allow(dead_code)] // Each test binary uses its own subset.

use http::{HeaderMap, HeaderValue};
use keygate_core::forward::ClientContext;
use keygate_core::{ApiKey, KeyRecord, RequestHead};

/// An active record for `key`, owned by `consumer`, with no limits, scopes or metadata.
pub fn record(key: &str, consumer: &str) -> KeyRecord {
    KeyRecord {
        v: 1,
        id: ApiKey::new(key).hash().id().to_owned(),
        name: "t".into(),
        consumer_id: consumer.into(),
        consumer_name: None,
        created_at: 0,
        expires_at: None,
        disabled: false,
        meta: Default::default(),
        scopes: vec![],
        description: None,
        tier: None,
        quota: None,
    }
}

/// Headers with `Authorization: Bearer <key>`.
pub fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).expect("header value"),
    );
    h
}

/// A `GET path` over https from an unknown client.
pub fn get<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method: "GET",
        path,
        query: None,
        headers,
        client: ClientContext {
            client_ip: None,
            proto: "https",
            request_id: "rid",
        },
    }
}
