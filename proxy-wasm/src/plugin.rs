//! The plugin's root context: reads the configuration when Envoy configures the plugin (a bad
//! one fails the start, with the reason in Envoy's log), makes the shared-data tables, and
//! gives every request its [`Exchange`].

use crate::exchange::Exchange;
use crate::metrics::Metrics;
use crate::remember::{self, SharedData};
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::rc::Rc;

// Envoy calls the module's `_initialize` export; the SDK's macro writes it (an `extern "C"`
// function without mangling, calling the module's constructors).
#[allow(
    unsafe_code,
    reason = "the SDK's entry point is an unmangled extern function"
)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(super::Plugin::default())
        });
    }}
}

/// One per VM (one per Envoy worker thread): the settings and counters its requests share.
#[derive(Default)]
pub struct Plugin {
    settings: Option<Rc<Settings>>,
    metrics: Rc<Metrics>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _size: usize) -> bool {
        let text = match hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        ) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let Ok(text) = String::from_utf8(text) else {
            log(
                LogLevel::Critical,
                "taskgate: the plugin configuration is not UTF-8 text; the plugin is not started",
            );
            return false;
        };
        match Settings::parse(&text) {
            Ok(settings) => {
                if settings.remember {
                    remember::prepare(&Shared);
                }
                self.settings = Some(Rc::new(settings));
                true
            }
            Err(error) => {
                // The message names the field, never a secret's value.
                log(
                    LogLevel::Critical,
                    &format!(
                        "taskgate: the plugin configuration is not valid: {error}; the plugin is not started"
                    ),
                );
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let settings = Rc::clone(self.settings.as_ref()?);
        if cfg!(feature = "bench-plumbing") {
            return Some(Box::new(crate::plumbing::Plumbing));
        }
        Some(Box::new(Exchange::new(settings, Rc::clone(&self.metrics))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Writes a line to Envoy's log; a refusal (no log) is not the request's problem.
pub fn log(level: LogLevel, line: &str) {
    let _ = hostcalls::log(level, line);
}

/// Envoy's shared data, as the tables use it.
pub struct Shared;

impl SharedData for Shared {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        matches!(hostcalls::set_shared_data(key, Some(value), cas), Ok(()))
    }
}
