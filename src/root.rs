//! The root context: configuration, and the timer that runs the core's [`Timer`].

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use session_core::config::Config;
use session_core::engine::driver::TimerDriver;
use session_core::engine::timer::{Timer, TICK_MS};
use session_core::engine::Engine;
use session_core::ports::Host;

use crate::host::{CallAnswer, Proxy, Shared};
use crate::http::Http;

#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
    timer: TimerDriver<u32>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, id: u32, headers: usize, body: usize, _: usize) {
        let answer = CallAnswer::new(headers, body);
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = shared.tick_clock();
        self.timer
            .on_response(&shared.engine, &*shared, id, answer, now, &mut Proxy);
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
        self.timer = TimerDriver::new(Timer::new(u16::from_le_bytes(seed)));
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
        self.timer.tick(&shared.engine, &*shared, now, &mut Proxy);
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        // Never None: the SDK panics on it. An unconfigured context fails closed instead.
        Some(Box::new(Http::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
