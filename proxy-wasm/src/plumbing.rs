//! The benchmark build's request (feature `bench-plumbing`, never shipped): every callback the
//! plugin's [`Exchange`](crate::exchange::Exchange) gets, each reading from Envoy what the real
//! one reads (the request's header map, its whole body, the answer's status), and nothing else:
//! no check, no memory, no log line, no counter. Envoy with this build against Envoy with the
//! plugin splits what the plugin costs into Envoy's wasm plumbing (contexts, the callbacks
//! crossing into V8, the copies) and the plugin's own work (tests/bench/envoy_account.sh).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};

/// One request's callbacks, reading and dropping.
pub struct Plumbing;

impl Context for Plumbing {}

impl HttpContext for Plumbing {
    fn on_http_request_headers(&mut self, _count: usize, _end_of_stream: bool) -> Action {
        let _ = hostcalls::get_map_bytes(MapType::HttpRequestHeaders);
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let _ = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _count: usize, _end_of_stream: bool) -> Action {
        let _ = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status");
        Action::Continue
    }

    fn on_http_response_body(&mut self, _size: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }

    fn on_log(&mut self) {}
}
