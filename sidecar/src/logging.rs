//! The sidecar's events go through the `log` facade, like the filter's; a native process has
//! no Envoy to forward them to, so they go to stderr, one line each, prefixed with the
//! program's name. Lines never carry a token, a cookie or a session secret.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

static LOGGER: Stderr = Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match record.level() {
            Level::Error | Level::Warn => eprintln!(
                "session-sidecar: {}: {}",
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            ),
            _ => eprintln!("session-sidecar: {}", record.args()),
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger at `info`; a second call (tests starting several servers in
/// one process) keeps the first.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
