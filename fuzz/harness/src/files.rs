//! The host's two request file formats: raw HTTP/1.1 (`taskgate check`) and policy cases
//! (`taskgate test`).

use crate::check::assert_well_formed;
use std::sync::OnceLock;
use taskgate::cases::{Case, config_with, differences};
use taskgate::request_file;

/// `http_file` target: a request that parses, written again with a `Content-Length` (its
/// framing headers replaced), parses to the same method, target, other headers and body.
pub fn http_file(data: &[u8]) {
    let Ok(request) = request_file::parse(data, 7) else {
        return;
    };
    assert_eq!(request.received_at, 7);
    let framing = |name: &str| {
        name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
    };
    let kept: Vec<&(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| !framing(n))
        .collect();
    // A file may have 128 header fields (request_file.rs): with its own Content-Length added, one
    // that had that many without one would rightly be refused.
    if kept.len() >= 128 {
        return;
    }
    let mut written = format!(
        "{} {} HTTP/1.1\r\n",
        request.method, request.path_with_query
    );
    for (name, value) in &kept {
        written.push_str(&format!("{name}: {value}\r\n"));
    }
    written.push_str(&format!("Content-Length: {}\r\n\r\n", request.body.len()));
    let mut written = written.into_bytes();
    written.extend_from_slice(&request.body);

    let again = match request_file::parse(&written, 7) {
        Ok(again) => again,
        Err(error) => panic!("a request that parsed, written again, does not: {error:#}"),
    };
    let again_kept: Vec<&(String, String)> =
        again.headers.iter().filter(|(n, _)| !framing(n)).collect();
    assert_eq!(
        (
            &again.method,
            &again.path_with_query,
            &again_kept,
            &again.body
        ),
        (
            &request.method,
            &request.path_with_query,
            &kept,
            &request.body
        ),
        "a request that parsed, written again, parses to another"
    );
}

/// The base configuration of the case corpus.
fn base() -> &'static toml::Table {
    static BASE: OnceLock<toml::Table> = OnceLock::new();
    BASE.get_or_init(
        || match toml::from_str(include_str!("../../../tests/cases/taskgate.toml")) {
            Ok(base) => base,
            Err(error) => panic!("tests/cases/taskgate.toml does not parse: {error}"),
        },
    )
}

/// `case_file` target, on the input as text: a case that parses, written out again, parses to
/// the same case; its request survives being written as case fields; and when its
/// configuration holds, the verdict of its request is well formed and meets the full
/// expectation made from it.
pub fn case_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(case) = toml::from_str::<Case>(text) else {
        return;
    };
    let written = match case.to_toml() {
        Ok(written) => written,
        Err(error) => panic!("a case that parsed does not write: {error:#}"),
    };
    match toml::from_str::<Case>(&written) {
        Ok(again) => assert!(same_case(&again, &case), "written as {written:?}"),
        Err(error) => panic!("a case written as {written:?} does not parse: {error}"),
    }

    let Ok(request) = case.request() else {
        return;
    };
    let fields = Case::request_fields(&request);
    let rewritten = Case {
        request: fields,
        ..case.clone()
    };
    match rewritten.request() {
        Ok(again) => assert!(crate::request::same(&again, &request), "{again:?}"),
        Err(error) => panic!("a request written as case fields does not read back: {error:#}"),
    }

    let Ok(config) = config_with(base(), case.config.as_ref()) else {
        return;
    };
    let verdict = taskgate_filter::check(&request, &config);
    assert_well_formed(&request, &config, &verdict);
    let _ = differences(&case.expect, &verdict);
    let full = Case::expect_of(&verdict);
    assert_eq!(
        differences(&full, &verdict),
        Vec::<String>::new(),
        "a verdict does not meet its own expectation"
    );
}

/// Two cases are the same, field by field, comparing floats in their configuration by how they
/// print: a NaN read back is the same NaN, though not equal to itself.
fn same_case(a: &Case, b: &Case) -> bool {
    format!("{a:?}") == format!("{b:?}")
}
