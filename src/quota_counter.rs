//! The quota counter Durable Object: one SQLite row `(window_start, used)` per counter, spent
//! and read through the calls of `keygate_core::limits::CounterCall`.

use keygate_core::limits::{self, CounterCall, CounterState, CounterUsage, Window};
use keygate_core::path::split_request_url;
use worker::{
    durable_object, DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State,
};

/// One quota counter: a SQLite-backed Durable Object holding `(window_start, used)`. Each call
/// reads and writes synchronously with no await in between, so concurrent requests for the
/// same counter are serialised and the count is exact.
#[durable_object(fetch)]
pub struct QuotaCounter {
    sql: SqlStorage,
}

impl DurableObject for QuotaCounter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), \
             window_start INTEGER NOT NULL, used INTEGER NOT NULL)",
            None,
        );
        Self { sql }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let raw = req.inner().url();
        let Some(url) = split_request_url(&raw) else {
            return Response::error("bad url", 400);
        };
        let Some(call) = CounterCall::parse(url.path, url.query) else {
            return Response::error("not a counter call", 400);
        };
        let stored = self.load()?;
        match call {
            CounterCall::Consume { window, limit } => {
                let (next, count) = limits::consume(stored, window, limit);
                if next != stored {
                    self.store(next)?;
                }
                Response::from_json(&count)
            }
            CounterCall::Usage { window_start } => {
                let window = Window {
                    start: window_start,
                    end: window_start,
                };
                Response::from_json(&CounterUsage {
                    used: limits::used_in(stored, window),
                })
            }
        }
    }
}

impl QuotaCounter {
    fn load(&self) -> worker::Result<CounterState> {
        let rows: Vec<CounterState> = self
            .sql
            .exec("SELECT window_start, used FROM counter WHERE id = 1", None)?
            .to_array()?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    fn store(&self, s: CounterState) -> worker::Result<()> {
        let int = |n: u64| SqlStorageValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        self.sql.exec(
            "INSERT INTO counter (id, window_start, used) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET window_start = excluded.window_start, used = excluded.used",
            vec![int(s.window_start), int(s.used)],
        )?;
        Ok(())
    }
}
