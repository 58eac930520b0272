//! Writes the fuzz targets' seed inputs from what the repository already holds: the case
//! corpus (`tests/cases/**/*.toml`), the captured SDK requests (`tests/fixtures/**/*.http`)
//! and the example requests (`examples/*.http`). Each target gets the parts of those requests
//! it parses, in its own input format.
//!
//! `cargo run -p taskgate-fuzz --bin fuzz-seeds [DIR]` writes into `DIR/<target>/` (default
//! `fuzz/corpus`), one file per distinct seed; `fuzz/run.sh` then fuzzes and minimizes.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use taskgate::cases::{Case, collect};
use taskgate::request_file;
use taskgate_filter::fuzzing::{aws_call_of_target, parameters};
use taskgate_filter::sign::sigv4;
use taskgate_filter::{Dialect, OtherCalls, Request, dialect_of, parse_timestamp};
use taskgate_fuzz::request::{FuzzRequest, write};
use taskgate_fuzz::{TARGETS, check};

/// Seeds by target name.
type Seeds = BTreeMap<&'static str, Vec<Vec<u8>>>;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| root.join("fuzz/corpus"), PathBuf::from);
    let mut seeds = Seeds::new();

    // The repair cases, signed again after mutation: what repair mode mends and refuses.
    for path in collect(&[root.join("tests/repair")])? {
        let case = Case::load(&path)?;
        let fuzz = FuzzRequest {
            request: case.request()?,
            resign: true,
            other_calls: OtherCalls::Authenticate,
        };
        if let Some(bytes) = write(&fuzz) {
            add(&mut seeds, "repair", bytes);
        }
    }
    for path in collect(&[root.join("tests/cases")])? {
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        add(&mut seeds, "case_file", text);
        let case = Case::load(&path)?;
        let other_calls = other_calls(&case);
        from_request(&mut seeds, &case.request()?, other_calls);
    }
    let mut http_files = Vec::new();
    for dir in ["tests/fixtures", "examples"] {
        find_http(&root.join(dir), &mut http_files)?;
    }
    http_files.sort();
    for path in http_files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut request = request_file::parse(&bytes, 0)
            .with_context(|| format!("parsing {}", path.display()))?;
        request.received_at = signed_at(&request);
        add(&mut seeds, "http_file", bytes);
        from_request(&mut seeds, &request, OtherCalls::Authenticate);
    }
    token_round_trip_seeds(&mut seeds);

    for target in &TARGETS {
        let dir = out.join(target.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let list = seeds.get(target.name).map_or(&[][..], Vec::as_slice);
        for seed in list {
            // Every seed must pass its own target: a seed that fails is a finding already.
            (target.run)(seed);
            std::fs::write(dir.join(format!("seed-{:016x}", fnv1a(seed))), seed)?;
        }
        println!("{:>18}: {} seeds", target.name, list.len());
    }
    Ok(())
}

/// The largest seed a target gets. libFuzzer mutates inputs up to the size of the largest one,
/// and a large input is slow to run: targets whose rules count lengths (the AWS models, whole
/// requests) keep seeds up to 128 KiB, which holds the Alibaba body limit (64 KiB) but not
/// the AWS one (1 MiB); the other parsers get 8 KiB.
fn max_seed_bytes(target: &str) -> usize {
    match target {
        "aws_json" | "case_file" | "check" | "differential" | "repair" => 128 << 10,
        _ => 8 << 10,
    }
}

fn add(seeds: &mut Seeds, target: &'static str, seed: Vec<u8>) {
    if seed.len() > max_seed_bytes(target) {
        return;
    }
    let list = seeds.entry(target).or_default();
    if !list.contains(&seed) {
        list.push(seed);
    }
}

/// The `other_calls` a case sets, else the default.
fn other_calls(case: &Case) -> OtherCalls {
    let set = case
        .config
        .as_ref()
        .and_then(|config| config.get("serve"))
        .and_then(|serve| serve.get("other_calls"))
        .and_then(|mode| mode.as_str());
    OtherCalls::ALL
        .into_iter()
        .find(|mode| Some(mode.name()) == set)
        .unwrap_or_default()
}

/// The time a request says it was signed (`x-acs-date`, `X-Amz-Date` or the `Timestamp`
/// parameter), taken as its time of receipt so its clock window holds.
fn signed_at(request: &Request) -> u64 {
    let timestamp = || {
        parameters(request).ok().and_then(|params| {
            params
                .into_iter()
                .find(|(name, _, _)| name == "Timestamp")
                .and_then(|(_, value, _)| parse_timestamp(&value))
        })
    };
    request
        .header("x-acs-date")
        .and_then(|date| parse_timestamp(date.trim()))
        .or_else(|| {
            request
                .header("x-amz-date")
                .and_then(|date| sigv4::parse_amz_date(date.trim()))
        })
        .or_else(timestamp)
        .unwrap_or(0)
}

fn find_http(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            find_http(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "http") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether a request is a failure report, the only kind repair mode mends.
fn is_failure_report(request: &Request) -> bool {
    let target = request.header("x-amz-target").unwrap_or("");
    let action = request
        .header("x-acs-action")
        .map(str::to_owned)
        .or_else(|| {
            let params = parameters(request).ok()?;
            params
                .into_iter()
                .find(|(name, _, _)| name == "Action")
                .map(|(_, value, _)| value)
        });
    target.ends_with("Failure")
        || target.ends_with("Failed")
        || target.ends_with("FailureResult")
        || action.as_deref() == Some("ReportTaskFailed")
}

/// The seeds one request gives each target.
fn from_request(seeds: &mut Seeds, request: &Request, other_calls: OtherCalls) {
    for resign in [false, true] {
        let fuzz = FuzzRequest {
            request: Request {
                request_id: None,
                ..request.clone()
            },
            resign,
            other_calls,
        };
        if let Some(bytes) = write(&fuzz) {
            add(seeds, "check", bytes.clone());
            add(seeds, "differential", bytes.clone());
            // Signed again after mutation: repair mends only what the edge verified.
            if resign && is_failure_report(request) {
                add(seeds, "repair", bytes);
            }
        }
    }
    add(seeds, "http_file", to_http(request));

    let query = request.query().as_bytes().to_vec();
    let text_body = std::str::from_utf8(&request.body).ok();
    add(seeds, "percent_decode", query.clone());
    let dialect = dialect_of(request);
    let content_type = request
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if dialect == Dialect::Fnf {
        if content_type.starts_with("application/json") {
            add(seeds, "fnf_json", request.body.clone());
        } else if let Some(body) = text_body {
            add(seeds, "percent_decode", body.as_bytes().to_vec());
            let mut form = query.clone();
            form.push(b'\n');
            form.extend_from_slice(body.as_bytes());
            add(seeds, "form_params", form);
        }
        if let Ok(params) = parameters(request) {
            let mut lines = request.method.clone();
            for (name, value, _) in &params {
                lines.push_str(&format!("\n{name}={value}"));
                if name == "TaskToken" {
                    add(seeds, "token_decode", value.clone().into_bytes());
                }
            }
            add(seeds, "rpc_v1", lines.into_bytes());
        }
        if let Some(authorization) = request.header("authorization") {
            let signed_headers = authorization
                .split(',')
                .find_map(|part| part.trim().strip_prefix("SignedHeaders="))
                .unwrap_or("");
            let date = request.header("x-acs-date").unwrap_or("");
            let lines = format!(
                "{authorization}\n{date}\n{signed_headers}\n{}",
                request.path()
            );
            add(seeds, "acs3", lines.into_bytes());
        }
    } else {
        add(seeds, "fnf_json", request.body.clone());
        // The first byte picks the call, as `aws_json` reads it.
        let selector = request
            .header("x-amz-target")
            .and_then(|target| aws_call_of_target(target.trim()))
            .and_then(|call| u8::try_from(call).ok())
            .unwrap_or(0);
        let mut body = vec![selector];
        body.extend_from_slice(&request.body);
        add(seeds, "aws_json", body);
        if let Ok(serde_json::Value::Object(members)) =
            serde_json::from_slice::<serde_json::Value>(&request.body)
            && let Some(token) = members.get("taskToken").and_then(|t| t.as_str())
        {
            add(seeds, "token_decode", token.as_bytes().to_vec());
        }
        let lines = format!(
            "{}\n{}\n{}",
            request.header("authorization").unwrap_or(""),
            request.header("x-amz-date").unwrap_or(""),
            request.query()
        );
        add(seeds, "sigv4", lines.into_bytes());
    }
    // Keep the seeds honest: the request itself must check cleanly.
    check::check(
        &write(&FuzzRequest {
            request: Request {
                request_id: None,
                ..request.clone()
            },
            resign: false,
            other_calls,
        })
        .unwrap_or_default(),
    );
}

/// A request as an HTTP/1.1 file with a `Content-Length` (its own framing headers dropped).
fn to_http(request: &Request) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\n",
        request.method, request.path_with_query
    );
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// Tokens of each kind of field: the demo token's own fields, an upper-case id, a long key.
fn token_round_trip_seeds(seeds: &mut Seeds) {
    let uuid = [
        0x2b, 0x0c, 0x6a, 0x4e, 0x8f, 0x5e, 0x4d, 0x1a, 0x9c, 0x3b, 0x7e, 0x6f, 0x5a, 0x4d, 0x3c,
        0x2b,
    ];
    for (kind, case, event, key) in [
        (0u8, 0u8, 42u64, &b"demo-token-key"[..]),
        (200, 1, u64::MAX, &[0x5a; 100][..]),
        (25, 0, 0, &b""[..]),
    ] {
        let mut seed = vec![kind];
        seed.extend_from_slice(&uuid);
        seed.push(case);
        seed.extend_from_slice(&event.to_le_bytes());
        seed.extend_from_slice(key);
        add(seeds, "token_round_trip", seed);
    }
}

/// FNV-1a, 64 bits: a stable file name for a seed's content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
