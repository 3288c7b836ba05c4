//! One HTTP request: hand it to the core and carry out the outcome, pausing for the calls
//! it asks for.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use session_core::request::engine::{unconfigured, Outcome, Pending};

use crate::host::{dispatch, forward, response, send, Headers, Shared};

pub struct Http {
    shared: Option<Rc<Shared>>,
    waiting: Option<(u32, Pending)>,
}

impl Http {
    pub fn new(shared: Option<Rc<Shared>>) -> Http {
        Http {
            shared,
            waiting: None,
        }
    }

    fn carry_out(&mut self, shared: &Shared, outcome: Outcome<'_>) -> Action {
        let mut outcome = outcome;
        loop {
            match outcome {
                Outcome::Forward(edits) => return forward(edits),
                Outcome::Reply(reply) => return send(&reply),
                Outcome::Call(call, pending) => match dispatch(&call) {
                    Some(id) => {
                        self.waiting = Some((id, pending));
                        return Action::Pause;
                    }
                    None => {
                        outcome = shared.engine.on_dispatch_failed(shared, pending);
                    }
                },
            }
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        match self.waiting.take() {
            Some((id, pending)) if id == token_id => {
                let answer = response(num_headers, body_size, pending.max_answer());
                let outcome =
                    shared
                        .engine
                        .on_response(&*shared, &Headers::default(), pending, answer);
                if let Action::Continue = self.carry_out(&shared, outcome) {
                    let _ = hostcalls::resume_http_request();
                }
            }
            other => self.waiting = other,
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return send(&unconfigured());
        };
        let outcome = shared
            .engine
            .on_request(&*shared, &Headers::default(), shared.now());
        self.carry_out(&shared, outcome)
    }
}
