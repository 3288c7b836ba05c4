use std::cell::Cell;
use std::collections::VecDeque;

use super::*;
use crate::engine::timer::TICK_MS;
use crate::login::jwks::MAX_JWKS_BYTES;
use crate::metrics::Metric;
use crate::ports::Upstream;
use crate::testing::*;

const NOW: Millis = NOW_SECS * 1_000;

/// A token login: with no keys yet, its first step is a JWKS call.
fn login() -> Req {
    Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())))
}

/// A host's port that answers `start` from a script (`Failed` once it runs out) and keeps
/// what it was asked to do.
#[derive(Default)]
struct Fake {
    script: VecDeque<Started<u32>>,
    started: Vec<Call>,
    forwarded: Option<usize>,
    replied: Option<Reply>,
}

impl Fake {
    fn answering(script: impl IntoIterator<Item = Started<u32>>) -> Fake {
        Fake {
            script: script.into_iter().collect(),
            ..Fake::default()
        }
    }
}

impl Dispatch for Fake {
    type Id = u32;

    fn start(&mut self, call: &Call) -> Started<u32> {
        self.started.push(call.clone());
        self.script.pop_front().unwrap_or(Started::Failed)
    }
}

impl Port for Fake {
    fn forward(&mut self, edits: crate::request::filter::HeaderEdits<'_>) {
        self.forwarded = Some(edits.len());
    }

    fn reply(&mut self, reply: Reply) {
        self.replied = Some(reply);
    }
}

fn jwks() -> Received {
    Received {
        status: 200,
        body: jwks_json(),
    }
}

fn status(port: &Fake) -> Option<u32> {
    port.replied.as_ref().map(|r| r.status)
}

#[test]
fn a_forwarded_request_starts_no_call() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let req = Req::new("GET", "/static/app.js");
    let mut port = Fake::default();
    let mut driver = RequestDriver::default();
    let done = driver.on_request(&engine, &host, &req, NOW, &mut port);
    assert_eq!(done, Done::Forwarded);
    assert!(port.forwarded.is_some());
    assert!(port.started.is_empty());
}

#[test]
fn a_call_that_cannot_be_made_goes_back_to_the_engine_and_the_loop_goes_on() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut port = Fake::answering([Started::Failed]);
    let mut driver = RequestDriver::default();
    let done = driver.on_request(&engine, &host, &login(), NOW, &mut port);
    assert_eq!(done, Done::Replied);
    assert_eq!(port.started.len(), 1);
    assert_eq!(status(&port), Some(503), "the login fails closed");
    assert_eq!(host.count_of(Metric::LoginIdpUnavailable), 1);
}

#[test]
fn a_call_answered_at_once_goes_straight_to_the_engine() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut port = Fake::answering([Started::Now(read(jwks(), MAX_JWKS_BYTES))]);
    let mut driver = RequestDriver::default();
    let done = driver.on_request(&engine, &host, &login(), NOW, &mut port);
    assert_eq!(done, Done::Replied);
    assert_eq!(status(&port), Some(200));
    assert_eq!(host.count_of(Metric::LoginOk), 1);
}

#[test]
fn a_paused_request_takes_only_the_answer_of_its_own_call() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let req = login();
    let mut port = Fake::answering([Started::Pending(7)]);
    let mut driver = RequestDriver::default();
    assert_eq!(
        driver.on_request(&engine, &host, &req, NOW, &mut port),
        Done::Paused
    );
    let other = driver.on_response(&engine, &host, &req, 8, jwks(), &mut port);
    assert_eq!(other, None, "not the call it waits for");
    let done = driver.on_response(&engine, &host, &req, 7, jwks(), &mut port);
    assert_eq!(done, Some(Done::Replied));
    assert_eq!(status(&port), Some(200));
    let again = driver.on_response(&engine, &host, &req, 7, jwks(), &mut port);
    assert_eq!(again, None, "answered once");
}

#[test]
fn an_answer_over_the_calls_cap_reaches_the_engine_without_its_body() {
    capture_logs();
    let engine = Engine::new(config());
    let host = MemHost::default();
    let req = login();
    let mut port = Fake::answering([Started::Pending(1)]);
    let mut driver = RequestDriver::default();
    driver.on_request(&engine, &host, &req, NOW, &mut port);
    let huge = Received {
        status: 200,
        body: vec![b' '; MAX_JWKS_BYTES + 1],
    };
    driver.on_response(&engine, &host, &req, 1, huge, &mut port);
    assert_eq!(status(&port), Some(503));
    assert!(logged().iter().any(|l| l.contains("too large")));
}

/// An answer that counts how often its body is read.
struct Counted<'a> {
    arrived: bool,
    size: usize,
    reads: &'a Cell<usize>,
}

impl Answer for Counted<'_> {
    fn arrived(&self) -> bool {
        self.arrived
    }

    fn status(&self) -> Option<u32> {
        Some(200)
    }

    fn size(&self) -> usize {
        self.size
    }

    fn body(self) -> Option<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        Some(vec![b'x'; self.size])
    }
}

#[test]
fn the_cap_keeps_a_body_at_the_limit_and_drops_one_a_byte_over() {
    let at = read(
        Received {
            status: 200,
            body: b"0123456789".to_vec(),
        },
        10,
    );
    assert_eq!(
        at,
        Response {
            status: Some(200),
            body: Some(b"0123456789".to_vec())
        }
    );
    let over = read(
        Received {
            status: 200,
            body: b"0123456789".to_vec(),
        },
        9,
    );
    assert_eq!(
        over,
        Response {
            status: Some(200),
            body: None
        },
        "the status is kept"
    );
}

#[test]
fn the_cap_reads_no_body_it_does_not_keep() {
    let reads = Cell::new(0);
    let answer = |arrived, size| Counted {
        arrived,
        size,
        reads: &reads,
    };
    assert_eq!(read(answer(true, 11), 10).body, None);
    assert_eq!(read(answer(true, 0), 10).body, Some(Vec::new()));
    assert_eq!(read(answer(false, 5), 10), Response::none(), "no answer");
    assert_eq!(reads.get(), 0);
    assert_eq!(read(answer(true, 10), 10).body.map(|b| b.len()), Some(10));
    assert_eq!(reads.get(), 1);
}

fn sidecar_config() -> crate::config::Config {
    let mut c = config();
    c.sidecar = Some(crate::config::Sidecar {
        cluster: "sidecar".into(),
        token: "t".into(),
        login_requires_store: false,
    });
    c
}

#[test]
fn the_timer_table_routes_each_answer_to_its_own_call() {
    let engine = Engine::new(sidecar_config());
    let host = MemHost::default();
    let mut timer = TimerDriver::new(Timer::new(0));
    let mut port = Fake::answering([Started::Pending(1), Started::Pending(2)]);
    // The first tick fetches the keys; the fifth (one second) also syncs with the sidecar.
    for tick in 0..5 {
        timer.tick(&engine, &host, NOW + tick * TICK_MS, &mut port);
    }
    let upstreams: Vec<Upstream> = port.started.iter().map(|c| c.upstream).collect();
    assert_eq!(upstreams, [Upstream::Idp, Upstream::Sidecar]);
    assert!(
        !timer.on_response(&engine, &host, 9, jwks(), NOW, &mut port),
        "an unknown id is ignored"
    );
    assert_eq!(host.count_of(Metric::JwksFetchOk), 0);
    let refused = Received {
        status: 500,
        body: Vec::new(),
    };
    assert!(timer.on_response(&engine, &host, 2, refused, NOW, &mut port));
    assert_eq!(host.count_of(Metric::SyncErrors), 1);
    assert_eq!(host.count_of(Metric::JwksFetchOk), 0);
    assert!(timer.on_response(&engine, &host, 1, jwks(), NOW, &mut port));
    assert_eq!(host.count_of(Metric::JwksFetchOk), 1);
    assert!(
        !timer.on_response(&engine, &host, 1, jwks(), NOW, &mut port),
        "answered once"
    );
}

#[test]
fn a_timer_call_that_cannot_be_made_or_is_answered_at_once_leaves_nothing_in_flight() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut timer = TimerDriver::new(Timer::new(0));
    let mut port = Fake::answering([Started::Failed]);
    timer.tick(&engine, &host, NOW, &mut port);
    assert_eq!(host.count_of(Metric::JwksFetchFailed), 1);
    assert!(timer.calls.is_empty());
    // Retried once the retry interval passed, and answered at once this time.
    let mut port = Fake::answering([Started::Now(read(jwks(), MAX_JWKS_BYTES))]);
    timer.tick(&engine, &host, NOW + 6_000, &mut port);
    assert_eq!(port.started.len(), 1);
    assert_eq!(host.count_of(Metric::JwksFetchOk), 1);
    assert!(timer.calls.is_empty());
}
