//! Policy cases: one request, the configuration it is checked under and the verdict expected,
//! in a TOML file (format in docs/policy-cases.md). `taskgate test` runs them in the
//! sandbox; the Node and Python embeddings run the same files, so every runtime is held to the
//! same verdicts.
//!
//! A case's configuration is a base file (`taskgate.toml` next to the cases or above them, else
//! the built-in demo) with the case's `[config]` on top: keys of `[config.limits]` and
//! `[config.sandbox]` replace the base's one by one, `access_keys` and `token_keys` replace the
//! base's whole list, and `[config.serve]` may set `other_calls` and `temporary_credentials`
//! (the serve settings the filter reads) and `mode` (shadow mode forwards what it would
//! answer: `expect.forwarded`) and `repair` (a failure report cut to length, signed again and
//! checked again: `expect.repaired`); `credentials` replaces the base's list, so that a case can
//! show a worker key's `sign_as` (`expect.resigned`).

use crate::config::Config;
use crate::output;
use crate::repair::{self, Repairing};
use crate::resign::{self, Resigning};
use crate::sandbox::Sandbox;
use crate::store::{self, Claim};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use taskgate_filter::repair::RepairedField;
use taskgate_filter::{EdgeFailure, Mode, PassedCall, Report, Request, Verdict};

/// The name of a directory's base configuration file.
pub const BASE_CONFIG: &str = "taskgate.toml";

/// One case file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the host received the request, in seconds since the Unix epoch.
    pub received_at: u64,
    /// The request id the host passes in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The request.
    pub request: CaseRequest,
    /// Overrides of the base configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<toml::Table>,
    /// What the gateway's store already holds when the request arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<StoreState>,
    /// The verdict expected.
    pub expect: Expect,
}

/// A case's `[memory]`: the store's state before the request, so a case can show the edge's
/// answer to a replay, a duplicate or a caller over its rate. Applied after the check through
/// the gateway's own admission and order (`store::Claim`, `store::admit`, `store::refusal`):
/// rate, nonce, ledger; only to a request the filter accepted, and only for the keys its
/// `recall` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreState {
    /// The access key is over its rate, with this many seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<u32>,
    /// The request's signature nonce was claimed before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nonce_claimed: bool,
    /// The report's task is settled.
    #[serde(default, skip_serializing_if = "is_false")]
    pub settled: bool,
    /// Another report for the task is with the upstream, past the wait.
    #[serde(default, skip_serializing_if = "is_false")]
    pub busy: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl StoreState {
    /// The failure the gateway answers an accepted request with under this state, if any: the
    /// gateway's own admission of the request (`Claim`), run through the memory's order
    /// (`store::admit`) against this state, answered as the gateway answers (`store::refusal`;
    /// a busy task as after the wait).
    pub fn answer(&self, verdict: &Verdict) -> Option<EdgeFailure> {
        let claim = Claim::of(verdict)?;
        // The state says whether the key is over a rate; its numbers are the state's own.
        let rate = self.rate_limited.map(|_| (1.0, 1));
        let admission = claim.admission(rate, "case", Duration::from_secs(1));
        let Ok(admitted) = store::admit(&mut { *self }, &admission);
        store::refusal(admitted, claim.task_token)
    }
}

/// The stated memory, as the steps of the memory's order.
impl store::Steps for StoreState {
    /// A stated memory answers every step.
    type Error = std::convert::Infallible;

    fn rate(
        &mut self,
        _key: &str,
        _per_second: f64,
        _burst: u32,
    ) -> Result<Option<Duration>, Self::Error> {
        Ok(self
            .rate_limited
            .map(|seconds| Duration::from_secs(u64::from(seconds))))
    }

    fn claim(&mut self, _key: &str, _ttl: Duration) -> Result<bool, Self::Error> {
        Ok(!self.nonce_claimed)
    }

    fn begin(
        &mut self,
        _task: &str,
        _owner: &str,
        _ttl: Duration,
    ) -> Result<store::Begin, Self::Error> {
        Ok(match (self.settled, self.busy) {
            (true, _) => store::Begin::Settled,
            (false, true) => store::Begin::Busy,
            (false, false) => store::Begin::Acquired,
        })
    }

    fn settled(&mut self, _task: &str) -> Result<bool, Self::Error> {
        Ok(self.settled)
    }
}

/// The request of a case, field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// The method.
    pub method: String,
    /// Path and query, percent-encoded as sent.
    pub path: String,
    /// Header fields in order, `[name, value]`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body as Base64, for bytes that are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// The verdict a case expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `forward`, `pass` or `reject`.
    pub verdict: Kind,
    /// Reject: the HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Reject: the vendor's error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Reject: the exact response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Forward: report fields that must match (any of `dialect`, `action`, `callback`,
    /// `request_id`, `access_key_id`, `task_token`, `error`, `cause`, `output`, `execution_id`,
    /// `event_id`, `account`, `verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<BTreeMap<String, toml::Value>>,
    /// Pass: fields of the passed call that must match (any of `dialect`, `action`,
    /// `request_id`, `access_key_id`; an absent `access_key_id` is `"(absent)"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<BTreeMap<String, toml::Value>>,
    /// Whether the gateway forwards the request (to an upstream): what passes, and under
    /// `[config.serve] mode = "shadow"` what would be answered too (its answer then is the one
    /// logged and counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// The `[[credentials]]` entry the forwarded request is re-signed with (its key's
    /// `sign_as`), or `"(none)"` when it goes on as the caller signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resigned: Option<String>,
    /// Under `[config.serve] repair = "truncate"`: the fields cut to length, as the gateway
    /// logs them (an empty list: nothing was repaired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<Vec<RepairedCase>>,
}

/// One repaired field, as a case states it (the log line's names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairedCase {
    /// The field as the service names it (`cause`, `failureDetails.message`, `Cause`, ...).
    pub field: String,
    /// Its length as sent, in the service's characters.
    pub original_length: usize,
    /// Its length as forwarded.
    pub length: usize,
    /// The SHA-256 (hex) of the value as sent.
    pub sha256: String,
}

impl From<&RepairedField> for RepairedCase {
    fn from(field: &RepairedField) -> RepairedCase {
        RepairedCase {
            field: field.field.to_owned(),
            original_length: field.original_length,
            length: field.length,
            sha256: field.sha256.clone(),
        }
    }
}

/// The three verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Forward the request with its report.
    Forward,
    /// Forward a call the filter does not model (`other_calls`).
    Pass,
    /// Answer it at the edge.
    Reject,
}

impl Kind {
    fn of(verdict: &Verdict) -> Kind {
        match verdict {
            Verdict::Forward(_) => Kind::Forward,
            Verdict::Pass(_) => Kind::Pass,
            Verdict::Reject(_) => Kind::Reject,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Forward => "forward",
            Kind::Pass => "pass",
            Kind::Reject => "reject",
        }
    }
}

/// Text fields as a case file's table.
fn as_table<K: Into<String>>(fields: BTreeMap<K, String>) -> BTreeMap<String, toml::Value> {
    fields
        .into_iter()
        .map(|(name, value)| (name.into(), toml::Value::String(value)))
        .collect()
}

impl Case {
    /// Reads and parses a case file.
    pub fn load(path: &Path) -> anyhow::Result<Case> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The case as TOML text.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string(self)?)
    }

    /// The filter's request for this case.
    pub fn request(&self) -> anyhow::Result<Request> {
        let body = match (&self.request.body, &self.request.body_base64) {
            (Some(_), Some(_)) => bail!("request: give body or body_base64, not both"),
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(b64)) => STANDARD
                .decode(b64)
                .context("request.body_base64 is not Base64")?,
            (None, None) => Vec::new(),
        };
        Ok(Request {
            method: self.request.method.clone(),
            path_with_query: self.request.path.clone(),
            headers: self.request.headers.clone(),
            body,
            received_at: self.received_at,
            request_id: self.request_id.clone(),
        })
    }

    /// The fields of a request, for writing a case: the body as text when it is UTF-8.
    pub fn request_fields(request: &Request) -> CaseRequest {
        let (body, body_base64) = match std::str::from_utf8(&request.body) {
            _ if request.body.is_empty() => (None, None),
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(STANDARD.encode(&request.body))),
        };
        CaseRequest {
            method: request.method.clone(),
            path: request.path_with_query.clone(),
            headers: request.headers.clone(),
            body,
            body_base64,
        }
    }

    /// The full expectation a verdict meets: status, code and body of a reject; the report's
    /// fields (token fields included when there is a decoded token) of a forward.
    pub fn expect_of(verdict: &Verdict) -> Expect {
        let mut expect = Expect {
            verdict: Kind::of(verdict),
            status: None,
            code: None,
            body: None,
            report: None,
            call: None,
            forwarded: None,
            resigned: None,
            repaired: None,
        };
        match verdict {
            Verdict::Reject(response) => {
                expect.status = Some(response.status);
                expect.code = Some(response.code.clone());
                expect.body = Some(String::from_utf8_lossy(&response.body).into_owned());
            }
            Verdict::Forward(report) => expect.report = Some(as_table(report_fields(report))),
            Verdict::Pass(call) => expect.call = Some(as_table(call_fields(call))),
        }
        expect
    }
}

/// A passed call's fields as text, by the names case files use.
pub fn call_fields(call: &PassedCall) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("dialect", call.dialect.name().to_owned()),
        ("action", call.action.clone()),
        ("request_id", call.request_id.clone()),
        (
            "access_key_id",
            call.access_key_id
                .clone()
                .unwrap_or_else(|| "(absent)".to_owned()),
        ),
        (
            "signature",
            call.signature
                .map_or("(absent)", |check| check.name())
                .to_owned(),
        ),
    ])
}

/// The decoded token's fields a case may name (its format's `version` and `kind` are not
/// a rule's outcome).
const CASE_TOKEN_FIELDS: [&str; 4] = ["execution_id", "event_id", "verified", "account"];

/// A report's fields as text, by the names case files use: the report's view
/// (`output::ReportView`, as `taskgate check` prints it and the sink keeps it) and its token's
/// (`output::TokenView`). Absent values are left out.
pub fn report_fields(report: &Report) -> BTreeMap<String, String> {
    let view = serde_json::to_value(output::ReportView::of(report)).unwrap_or_default();
    let token = report.token.as_ref().map(output::TokenView::of);
    let token = serde_json::to_value(token).unwrap_or_default();
    let mut fields = BTreeMap::new();
    let mut add = |name: &str, value: &serde_json::Value| match value {
        serde_json::Value::Null | serde_json::Value::Object(_) => {}
        serde_json::Value::String(text) => {
            fields.insert(name.to_owned(), text.clone());
        }
        other => {
            fields.insert(name.to_owned(), other.to_string());
        }
    };
    for (name, value) in view.as_object().into_iter().flatten() {
        add(name, value);
    }
    if let Some(token) = token.as_object() {
        for name in CASE_TOKEN_FIELDS {
            if let Some(value) = token.get(name) {
                add(name, value);
            }
        }
    }
    fields
}

/// The `[serve]` settings a case may state: the ones that change a verdict (the two the filter
/// reads, shadow mode and repair mode).
const FILTER_SERVE_SETTINGS: [&str; 4] = ["other_calls", "temporary_credentials", "mode", "repair"];

/// The base configuration with a case's overrides on top.
pub fn config_with(base: &toml::Table, overrides: Option<&toml::Table>) -> anyhow::Result<Config> {
    let mut merged = base.clone();
    for (key, value) in overrides.into_iter().flatten() {
        match (key.as_str(), value, merged.get_mut(key)) {
            ("limits" | "sandbox", toml::Value::Table(table), Some(toml::Value::Table(into))) => {
                into.extend(table.clone());
            }
            ("limits" | "sandbox" | "access_keys" | "token_keys" | "credentials", _, _) => {
                merged.insert(key.clone(), value.clone());
            }
            ("serve", toml::Value::Table(table), _)
                if table
                    .keys()
                    .all(|name| FILTER_SERVE_SETTINGS.contains(&name.as_str())) =>
            {
                let serve = merged
                    .entry("serve")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(into) = serve {
                    into.extend(table.clone());
                }
            }
            _ => bail!(
                "config.{key}: a case may override limits, sandbox, access_keys, token_keys, credentials, serve.other_calls, serve.temporary_credentials, serve.mode and serve.repair"
            ),
        }
    }
    Config::parse(&toml::to_string(&merged)?)
}

/// What is wrong with a verdict, one line per difference; empty when it meets the expectation.
pub fn differences(expect: &Expect, verdict: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |what: &str, want: String, got: String| {
        if want != got {
            out.push(format!("{what}:\n    expected {want}\n    got      {got}"));
        }
    };
    let fields = |want: &Option<BTreeMap<String, toml::Value>>,
                  got: BTreeMap<String, String>,
                  prefix: &str,
                  compare: &mut dyn FnMut(&str, String, String)| {
        for (name, want) in want.iter().flatten() {
            let want = match want {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let got = got
                .get(name.as_str())
                .cloned()
                .unwrap_or_else(|| "(absent)".to_owned());
            compare(&format!("{prefix}.{name}"), want, got);
        }
    };
    match (expect.verdict, verdict) {
        (Kind::Reject, Verdict::Reject(response)) => {
            if let Some(status) = expect.status {
                compare("status", status.to_string(), response.status.to_string());
            }
            if let Some(code) = &expect.code {
                compare("code", code.clone(), response.code.clone());
            }
            if let Some(body) = &expect.body {
                compare(
                    "body",
                    body.clone(),
                    String::from_utf8_lossy(&response.body).into_owned(),
                );
            }
        }
        (Kind::Forward, Verdict::Forward(report)) => {
            fields(
                &expect.report,
                report_fields(report),
                "report",
                &mut compare,
            );
        }
        (Kind::Pass, Verdict::Pass(call)) => {
            let got = call_fields(call)
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            fields(&expect.call, got, "call", &mut compare);
        }
        (want, got) => {
            let got = match got {
                Verdict::Reject(response) => {
                    format!("reject {} {}", response.status, response.code)
                }
                other => Kind::of(other).name().to_owned(),
            };
            out.push(format!(
                "verdict:\n    expected {}\n    got      {got}",
                want.name()
            ));
        }
    }
    out
}

/// Every case file under `paths` (files as given, directories searched recursively), sorted,
/// base configuration files aside.
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml")
                && path.file_name().is_some_and(|n| n != BASE_CONFIG)
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    files.sort();
    Ok(files)
}

/// The base configuration of a case: `taskgate.toml` in its directory or the nearest one above,
/// else the built-in demo.
pub fn base_for(case: &Path) -> anyhow::Result<toml::Table> {
    let found = case
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(BASE_CONFIG))
        .find(|candidate| candidate.is_file());
    let text = match &found {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => crate::config::DEMO.to_owned(),
    };
    toml::from_str(&text).with_context(|| match &found {
        Some(path) => format!("parsing {}", path.display()),
        None => "parsing the built-in demo configuration".to_owned(),
    })
}

/// The signature nonce a case's request is signed again with (re-signing, repair): fixed, so
/// that the signature does not change from run to run.
const CASE_NONCE: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

/// What a case's request came to, as the gateway would take it.
struct Ran {
    verdict: Verdict,
    /// Whether it goes upstream.
    forwarded: bool,
    /// The credential it was re-signed with, or `(none)`.
    resigned: String,
    /// The fields repair mode cut.
    repaired: Vec<RepairedCase>,
    /// The rules it passed, and what the gateway did after the check.
    steps: Vec<String>,
}

/// The outcome of one case.
pub struct Outcome {
    /// The case, when its file could be read.
    pub case: Option<Case>,
    /// The verdict, when the sandbox gave one.
    pub verdict: Option<Verdict>,
    /// The rules the request passed on the way to the verdict (`explain`).
    pub steps: Vec<String>,
    /// Differences from the expectation, or why the case could not run; empty when it passed.
    pub problems: Vec<String>,
}

/// Runs one case in the sandbox. `base` overrides the case's own base configuration.
pub fn run(sandbox: &Sandbox, path: &Path, base: Option<&toml::Table>) -> Outcome {
    let case = match Case::load(path) {
        Ok(case) => case,
        Err(error) => return Outcome::failed(None, &error),
    };
    let checked = || -> anyhow::Result<Ran> {
        let base = match base {
            Some(base) => base.clone(),
            None => base_for(path)?,
        };
        let config = Arc::new(config_with(&base, case.config.as_ref()).context("config")?);
        let request = case.request()?;
        let (verdict, mut steps) = sandbox.explain(&config, request.clone())?;
        // Repair mode, as the gateway runs it after the check (never in shadow mode, which
        // forwards what the caller sent).
        let mut repaired = None;
        let verdict = match verdict {
            Verdict::Reject(refusal) if repair::applies(config.serve.repair, config.serve.mode) => {
                match repair::repair(
                    sandbox,
                    &config,
                    config.serve.temporary_credentials,
                    &request,
                    case.received_at,
                    CASE_NONCE,
                ) {
                    Repairing::Repaired(repair) => {
                        let fields: Vec<&str> = repair.fields.iter().map(|f| f.field).collect();
                        steps.push(format!(
                            "repair: {} cut to length, signed again and checked again",
                            fields.join(", ")
                        ));
                        let report = repair.report.clone();
                        repaired = Some(*repair);
                        Verdict::Forward(report)
                    }
                    Repairing::Refused(why) => {
                        steps.push(format!("repair: not repaired: {why}"));
                        Verdict::Reject(refusal)
                    }
                    Repairing::Nothing => Verdict::Reject(refusal),
                }
            }
            verdict => verdict,
        };
        let verdict = match case.memory.and_then(|memory| memory.answer(&verdict)) {
            Some(failure) => {
                steps.push(format!("memory: answered at the edge ({failure:?})"));
                Verdict::Reject(sandbox.respond(&config, &request, failure)?)
            }
            None => verdict,
        };
        // A worker key's `sign_as`: re-signed as the gateway would, at the time of receipt
        // (a nonce of the case's own: the signature must not change from run to run).
        // A repaired report was signed by the repair already.
        let key = resign::verified_key(&verdict).filter(|_| repaired.is_none());
        let (verdict, resigned) = match resign::resign(
            sandbox,
            &config,
            config.serve.temporary_credentials,
            &request,
            key,
            case.received_at,
            CASE_NONCE,
        ) {
            Resigning::AsSigned if repaired.is_some() => {
                let credential = repaired.as_ref().and_then(|r| r.sign_as.clone());
                (verdict, credential.unwrap_or_else(|| "(none)".to_owned()))
            }
            Resigning::AsSigned => (verdict, "(none)".to_owned()),
            Resigning::Signed { credential, .. } => {
                steps.push(format!(
                    "resign: signed with the credential '{credential}' and checked again"
                ));
                (verdict, credential)
            }
            Resigning::Failed {
                credential,
                stage,
                why,
            } => {
                steps.push(format!(
                    "resign: could not be signed with '{credential}' ({stage}: {why})"
                ));
                let failure = EdgeFailure::Internal;
                let answer = sandbox.respond(&config, &request, failure)?;
                (Verdict::Reject(answer), "(none)".to_owned())
            }
        };
        let shadow = config.serve.mode == Mode::Shadow;
        if shadow && let Verdict::Reject(response) = &verdict {
            steps.push(format!(
                "shadow mode: forwarded anyway, logged and counted as {} {}",
                response.status, response.code
            ));
        }
        let forwarded = shadow || !matches!(verdict, Verdict::Reject(_));
        let repaired: Vec<RepairedCase> = (repaired.iter())
            .flat_map(|repair| repair.fields.iter().map(RepairedCase::from))
            .collect();
        Ok(Ran {
            verdict,
            forwarded,
            resigned,
            repaired,
            steps,
        })
    };
    match checked() {
        Ok(Ran {
            verdict,
            forwarded,
            resigned,
            repaired,
            steps,
        }) => {
            let mut problems = differences(&case.expect, &verdict);
            // What the gateway does after the check, each where the case states it.
            let mut differs = |what: &str, want: String, got: String| {
                problems.push(format!("{what}:\n    expected {want}\n    got      {got}"));
            };
            if let Some(want) = case.expect.forwarded.filter(|want| *want != forwarded) {
                differs("forwarded", want.to_string(), forwarded.to_string());
            }
            if let Some(want) = (case.expect.resigned.as_ref()).filter(|want| **want != resigned) {
                differs("resigned", want.clone(), resigned);
            }
            if let Some(want) = (case.expect.repaired.as_ref()).filter(|want| **want != repaired) {
                differs("repaired", format!("{want:?}"), format!("{repaired:?}"));
            }
            Outcome {
                problems,
                verdict: Some(verdict),
                steps,
                case: Some(case),
            }
        }
        Err(error) => Outcome::failed(Some(case), &error),
    }
}

impl Outcome {
    fn failed(case: Option<Case>, error: &anyhow::Error) -> Outcome {
        Outcome {
            case,
            verdict: None,
            steps: Vec::new(),
            problems: vec![format!("the case could not run: {error:#}")],
        }
    }
}

/// The verdict as the CLI prints it, for `--verbose` and failure reports.
pub fn shown(verdict: &Verdict) -> String {
    output::verdict(verdict).to_string()
}
