//! One HTTP request: hand it to the core's driver, which pauses it for the calls it asks for.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use session_core::engine::driver::{Done, RequestDriver};
use session_core::engine::unconfigured;

use crate::host::{send, CallAnswer, Headers, Proxy, Shared};

pub struct Http {
    shared: Option<Rc<Shared>>,
    driver: RequestDriver<u32>,
}

impl Http {
    pub fn new(shared: Option<Rc<Shared>>) -> Http {
        Http {
            shared,
            driver: RequestDriver::default(),
        }
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, id: u32, headers: usize, body: usize, _: usize) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let answer = CallAnswer::new(headers, body);
        let done = self.driver.on_response(
            &shared.engine,
            &*shared,
            &Headers::default(),
            id,
            answer,
            &mut Proxy,
        );
        if done == Some(Done::Forwarded) {
            let _ = hostcalls::resume_http_request();
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return send(&unconfigured());
        };
        let done = self.driver.on_request(
            &shared.engine,
            &*shared,
            &Headers::default(),
            shared.now(),
            &mut Proxy,
        );
        match done {
            Done::Forwarded => Action::Continue,
            Done::Replied | Done::Paused => Action::Pause,
        }
    }
}
