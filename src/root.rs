//! The root context: configuration, and the timer that runs the core's [`Timer`].

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use session_core::config::Config;
use session_core::ports::{Call, Host};
use session_core::request::engine::Engine;
use session_core::timer::{Timer, TimerCall, TICK_MS};

use crate::host::{dispatch, response, Shared};
use crate::http::Http;

#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
    timer: Timer,
    calls: Vec<(u32, TimerCall, usize)>,
}

impl Root {
    fn dispatch(&mut self, shared: &Shared, calls: Vec<(Call, TimerCall)>) {
        for (call, pending) in calls {
            match dispatch(&call) {
                Some(id) => self.calls.push((id, pending, call.max_answer)),
                None => self.timer.on_dispatch_failed(shared, pending),
            }
        }
    }
}

impl Context for Root {
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
        if let Some(at) = self.calls.iter().position(|(id, _, _)| *id == token_id) {
            let (_, call, max) = self.calls.swap_remove(at);
            let answer = response(num_headers, body_size, max);
            let now = shared.tick_clock();
            let next = self
                .timer
                .on_response(&shared.engine, &*shared, call, answer, now);
            self.dispatch(&shared, next);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(e) => {
                log::error!("refusing the configuration: {e}");
                return false;
            }
        };
        let shared = Shared::new(Engine::new(config));
        let mut seed = [0u8; 2];
        shared.random(&mut seed);
        self.timer = Timer::new(u16::from_le_bytes(seed));
        self.shared = Some(Rc::new(shared));
        // The first tick (TICK_MS from now) fetches the signing keys. A call dispatched from
        // here, during Envoy's bootstrap, is never answered: do not try.
        hostcalls::set_tick_period(Duration::from_millis(TICK_MS)).is_ok()
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = shared.tick_clock();
        let calls = self.timer.tick(&shared.engine, &*shared, now);
        self.dispatch(&shared, calls);
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        // Never None: the SDK panics on it. An unconfigured context fails closed instead.
        Some(Box::new(Http::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
