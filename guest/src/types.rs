//! The filter's own types: the Rust side of the WIT `types`, `keyring` and `settings`
//! interfaces, so the logic does not depend on generated bindings.

use crate::sign::Signing;

/// The API family whose rules, and whose error format, apply to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Alibaba Cloud Serverless Workflow / CloudFlow (`fnf`, version 2019-03-15).
    Fnf,
    /// AWS Step Functions (awsJson 1.0, SigV4 service `states`).
    States,
    /// AWS Simple Workflow Service (awsJson 1.0, SigV4 service `swf`).
    Swf,
    /// AWS CodePipeline's job worker calls (awsJson 1.1, SigV4 service `codepipeline`).
    CodePipeline,
}

impl Dialect {
    /// The short name used in output and logs.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Fnf => "fnf",
            Dialect::States => "states",
            Dialect::Swf => "swf",
            Dialect::CodePipeline => "codepipeline",
        }
    }

    /// Every dialect, for configuration keys and metrics.
    pub const ALL: [Dialect; 4] = [
        Dialect::Fnf,
        Dialect::States,
        Dialect::Swf,
        Dialect::CodePipeline,
    ];
}

/// One HTTP request exactly as the host received it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The request method.
    pub method: String,
    /// Path and query, still percent-encoded as sent.
    pub path_with_query: String,
    /// Header fields in the order received.
    pub headers: Vec<(String, String)>,
    /// The body after transfer decoding.
    pub body: Vec<u8>,
    /// Time of receipt, seconds since the Unix epoch.
    pub received_at: u64,
    /// A request id the host generated, used when the caller gives none.
    pub request_id: Option<String>,
}

impl Request {
    /// A copy without the body: all an edge failure's response needs, cheap to hand to a
    /// sandbox whatever the body's size.
    pub fn head(&self) -> Request {
        Request {
            method: self.method.clone(),
            path_with_query: self.path_with_query.clone(),
            headers: self.headers.clone(),
            body: Vec::new(),
            received_at: self.received_at,
            request_id: self.request_id.clone(),
        }
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when a header appears more than once with different values: for a singleton field
    /// (`Content-Type`, `X-Amz-Target`) this filter and the service could then read different
    /// ones.
    pub fn has_conflicting(&self, name: &str) -> bool {
        let first = self.header(name).map(str::trim);
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && Some(v.trim()) != first)
    }

    /// Every value of a header, trimmed and joined by `,`, as a signer sees a repeated field.
    pub fn joined_header(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        values.join(",")
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_with_query
            .split_once('?')
            .map_or(self.path_with_query.as_str(), |(path, _)| path)
    }

    /// The raw query string (without `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.path_with_query
            .split_once('?')
            .map_or("", |(_, query)| query)
    }
}

/// What a well-formed task token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskToken {
    /// Format version tag (`v1`).
    pub version: String,
    /// The kind letter.
    pub kind: String,
    /// The execution's UUID, lower case.
    pub execution_id: String,
    /// The event id.
    pub event_id: u64,
    /// The account whose key verified the MAC, when it was checked.
    pub account: Option<String>,
    /// Whether the MAC was verified.
    pub verified: bool,
}

/// Why a token could not be decoded or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The MAC matches none of the configured token keys.
    Unverified,
    /// Not a task token; the text says why.
    Malformed(String),
}

/// What a callback does to its task (the WIT `callback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Callback {
    /// The task failed; settles it.
    Failed,
    /// The task succeeded; settles it.
    Succeeded,
    /// The task was canceled (SWF); settles it.
    Canceled,
    /// The worker is still at it (or, CodePipeline, has taken the job); settles nothing.
    Heartbeat,
}

impl Callback {
    /// The short name used in output, case files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Callback::Failed => "failed",
            Callback::Succeeded => "succeeded",
            Callback::Canceled => "canceled",
            Callback::Heartbeat => "heartbeat",
        }
    }

    /// Whether an accepted callback of this kind closes its task.
    pub fn settles(self) -> bool {
        !matches!(self, Callback::Heartbeat)
    }
}

/// A callback that passed every check. `error`, `cause` and `output` are sensitive: never log
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Which API.
    pub dialect: Dialect,
    /// The operation, e.g. `ReportTaskFailed`.
    pub action: String,
    /// What the call does to its task.
    pub callback: Callback,
    /// The request id used for this request.
    pub request_id: String,
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// Whether the edge verified the signature or left it to the service.
    pub signature: SignatureCheck,
    /// The task token as sent (URL- or JSON-decoded); for CodePipeline the job id.
    pub task_token: String,
    /// The decoded token (Alibaba tokens; AWS tokens are opaque).
    pub token: Option<TaskToken>,
    /// The caller's error code (sensitive).
    pub error: Option<String>,
    /// The caller's cause (sensitive).
    pub cause: Option<String>,
    /// The success output, or a cancel's or heartbeat's details (sensitive).
    pub output: Option<String>,
    /// What a host with memory claims and consults for it.
    pub recall: Recall,
}

/// What a host that remembers requests (replays, settled tasks) does with an accepted one, as
/// the filter decides it; the host only stores. Keys are SHA-256 digests (hex), so a store never
/// holds a nonce or a task token that could be used again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recall {
    /// Claimed once for `nonce_seconds`; a second claim is a replay (Alibaba requests only).
    pub nonce: Option<String>,
    /// How long a nonce stays claimed: twice the clock window.
    pub nonce_seconds: u32,
    /// The ledger key of the report's task (reports only).
    pub task: Option<String>,
    /// True when the report closes its task: hold `task` while it is with the upstream and let
    /// the answer settle it. False (heartbeats): only consult it.
    pub settles: bool,
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Header fields, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The vendor error code carried in the body.
    pub code: String,
}

/// A call the filter does not model, passed on under `other_calls`: no report, only what it
/// was and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedCall {
    /// Whose API (and error format) it belongs to.
    pub dialect: Dialect,
    /// The operation: Alibaba's `Action` / `x-acs-action`, AWS's name after the `.` of
    /// `X-Amz-Target`; printable ASCII, at most 128 characters.
    pub action: String,
    /// The request id used for this request.
    pub request_id: String,
    /// The access key whose signature verified (`authenticate`); `None` when passed unchecked
    /// (`forward`).
    pub access_key_id: Option<String>,
    /// Who checks its signature: `None` when passed unchecked.
    pub signature: Option<SignatureCheck>,
    /// What a host with memory claims for it (its nonce, when authenticated).
    pub recall: Recall,
}

/// The filter's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, returned once: a box would be one more allocation per report (an allow: the lint fires on 64-bit targets only)"
)]
pub enum Verdict {
    /// Forward the original request.
    Forward(Report),
    /// Forward the original request: a call the filter does not model, passed per
    /// `other_calls`.
    Pass(PassedCall),
    /// Answer with this response.
    Reject(Response),
}

/// What the token keys say about a task token's MAC (the WIT `keyring.token-mac`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenMac {
    /// No token keys are configured: MACs are not checked.
    Unchecked,
    /// Keys are configured and none made this MAC.
    Unmatched,
    /// The key of this account made it.
    Verified(String),
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted Alibaba body in bytes.
    pub max_body_bytes: u32,
    /// Largest accepted AWS body in bytes.
    pub max_aws_body_bytes: u32,
    /// Largest accepted distance between the request's timestamp and its receipt, in seconds.
    pub max_clock_skew_seconds: u32,
}

impl Limits {
    /// The body limit of a dialect's requests.
    pub fn body_limit(&self, dialect: Dialect) -> u32 {
        match dialect {
            Dialect::Fnf => self.max_body_bytes,
            Dialect::States | Dialect::Swf | Dialect::CodePipeline => self.max_aws_body_bytes,
        }
    }

    /// The largest body any dialect accepts.
    pub fn largest_body(&self) -> u32 {
        self.max_body_bytes.max(self.max_aws_body_bytes)
    }
}

impl Default for Limits {
    /// The vendor's own limits: 64 KiB bodies, a 15-minute window.
    fn default() -> Self {
        // The defaults of `crate::bounds`, which hold them with their bounds; all fit in a u32.
        use crate::bounds::{MAX_AWS_BODY_BYTES, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECONDS};
        Limits {
            max_body_bytes: MAX_BODY_BYTES.default as u32,
            max_aws_body_bytes: MAX_AWS_BODY_BYTES.default as u32,
            max_clock_skew_seconds: MAX_CLOCK_SKEW_SECONDS.default as u32,
        }
    }
}

/// What the filter does with a call it does not model (anything but the task callbacks),
/// set by `[serve] other_calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtherCalls {
    /// Answer it with the vendor's "unknown operation" error.
    Reject,
    /// Verify its signature, clock window and access key exactly as for a callback, and
    /// pass it on when they hold. The default: in front of a whole service endpoint every call
    /// is then authenticated at the edge, and workers can still make their other calls.
    #[default]
    Authenticate,
    /// Pass it on unchecked.
    Forward,
}

impl OtherCalls {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            OtherCalls::Reject => "reject",
            OtherCalls::Authenticate => "authenticate",
            OtherCalls::Forward => "forward",
        }
    }

    /// Every mode, for parsing the configuration.
    pub const ALL: [OtherCalls; 3] = [
        OtherCalls::Reject,
        OtherCalls::Authenticate,
        OtherCalls::Forward,
    ];
}

/// Who checks the MAC of an accepted request's signature (the WIT `signature-check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureCheck {
    /// The edge: the key is in the keyring and the MAC verified.
    Edge,
    /// The service: temporary credentials the keyring cannot know, let through under
    /// `temporary_credentials = "forward"` with every other rule checked. Never answered as the
    /// service would (only the service can tell a genuine one from a forgery), and whatever a
    /// host remembers of it is kept apart from what verified callers claim.
    Service,
}

impl SignatureCheck {
    /// The name used in the log (`signature`), output and metrics.
    pub fn name(self) -> &'static str {
        match self {
            SignatureCheck::Edge => "edge",
            SignatureCheck::Service => "service",
        }
    }
}

/// What the filter does with a request signed with temporary credentials (it carries a session
/// token) whose access key the keyring does not hold, set by `[serve] temporary_credentials`
/// (and a route's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TemporaryCredentials {
    /// Refuse it as any unknown access key.
    #[default]
    Refuse,
    /// Check everything but the MAC and let the service verify it ([`SignatureCheck::Service`]).
    Forward,
}

impl TemporaryCredentials {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            TemporaryCredentials::Refuse => "refuse",
            TemporaryCredentials::Forward => "forward",
        }
    }

    /// Every setting, for parsing the configuration.
    pub const ALL: [TemporaryCredentials; 2] =
        [TemporaryCredentials::Refuse, TemporaryCredentials::Forward];
}

/// What a build does with a request the filter (or the gateway's memory) would answer at the
/// edge, set by `[serve] mode` (and a route's `mode`): the same in every build that forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Answer it, as the vendor would.
    #[default]
    Enforce,
    /// Log and count the answer it would get, and forward it unchanged anyway: for watching
    /// what the filter would refuse before switching it on.
    Shadow,
}

impl Mode {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}

/// What a build that forwards does with a failure report whose only fault is free text over the
/// service's limit (`[serve] repair`, and a route's `repair`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repair {
    /// Refuse it, as the service would.
    #[default]
    Off,
    /// Cut each over-long field to the limit, with a marker, sign it again and forward it, so
    /// that its task fails instead of waiting for its timeout (`crate::repair`).
    Truncate,
}

impl Repair {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Repair::Off => "off",
            Repair::Truncate => "truncate",
        }
    }
}

/// A setting spelled as one of a few words (`[serve] other_calls`, `mode`, ...): every build
/// parses each through [`choice`], so it is spelled, defaulted and refused the same way
/// everywhere.
pub trait Choice: Copy + Default + 'static {
    /// Every value.
    const CHOICES: &'static [Self];

    /// The configuration spelling.
    fn spelling(self) -> &'static str;

    /// The value of this spelling.
    fn named(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .copied()
            .find(|choice| choice.spelling() == name)
    }
}

/// The setting `value` spells (its default when `None`), or why not, naming the setting `at`
/// and every spelling it may take: `serve.mode must be "enforce" or "shadow", not "x"`.
pub fn choice<T: Choice>(value: Option<&str>, at: &str) -> Result<T, String> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    T::named(value).ok_or_else(|| {
        let words: Vec<String> = (T::CHOICES.iter())
            .map(|choice| format!("\"{}\"", choice.spelling()))
            .collect();
        let list = match words.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => words.concat(),
        };
        format!("{at} must be {list}, not {value:?}")
    })
}

impl Choice for OtherCalls {
    const CHOICES: &'static [Self] = &OtherCalls::ALL;
    fn spelling(self) -> &'static str {
        self.name()
    }
}

impl Choice for TemporaryCredentials {
    const CHOICES: &'static [Self] = &TemporaryCredentials::ALL;
    fn spelling(self) -> &'static str {
        self.name()
    }
}

impl Choice for Mode {
    const CHOICES: &'static [Self] = &[Mode::Enforce, Mode::Shadow];
    fn spelling(self) -> &'static str {
        self.name()
    }
}

impl Choice for Repair {
    const CHOICES: &'static [Self] = &[Repair::Off, Repair::Truncate];
    fn spelling(self) -> &'static str {
        self.name()
    }
}

/// A header value as the filter reads it: its bytes as UTF-8, any sequence that is not UTF-8
/// replaced by U+FFFD. Every build (the gateway, the `wasi:http` build, the Envoy plugin) reads
/// values through this, so one request gets one verdict everywhere: a header the filter never
/// reads does not matter, and a signed header that is not UTF-8 fails its signature (the client
/// signed bytes the filter does not see). The request is forwarded with its original bytes.
pub fn header_text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

/// Header fields that describe one hop, not the message (RFC 9110 §7.6.1, with the proxy's
/// credentials), lower case: a host that forwards a request drops them, and any field its
/// `Connection` header names.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the filter asks of its host: the WIT imports, one call at a time. Keys are used by name
/// only: the host holds the secrets and computes every MAC (`keyring`).
pub trait Env {
    /// The account that owns this access key; `None` for an unknown id.
    fn access_key_account(&self, id: &str) -> Option<String>;
    /// Whether `mac` is the MAC of `message` under access key `id` as `signing` keys it
    /// (false for an unknown id), compared in constant time.
    fn verify_signature(&self, id: &str, signing: Signing<'_>, message: &[u8], mac: &[u8]) -> bool;
    /// Which token key, if any, made `mac` (the HMAC-SHA1 of a token's signed part).
    fn verify_token_mac(&self, message: &[u8], mac: &[u8]) -> TokenMac;
    /// The limits in force.
    fn limits(&self) -> Limits;
    /// What to do with calls the filter does not model.
    fn other_calls(&self) -> OtherCalls;
    /// What to do with requests signed with temporary credentials the keyring does not hold.
    fn temporary_credentials(&self) -> TemporaryCredentials;
}

/// The credentials a host re-signs forwarded requests with (`sign_as`), for [`crate::resign`]:
/// the filter learns a credential's access key id and session token and asks for MACs; the
/// secret stays with the host.
pub trait Credentials {
    /// The signing credential with this name, as the host holds it now (`None`: unknown, or
    /// not to be had at the moment).
    fn credential(&self, name: &str) -> Option<Credential>;
    /// The MAC of `message` under the named credential's secret as `signing` keys it.
    fn sign(&self, name: &str, signing: Signing<'_>, message: &[u8]) -> Option<Vec<u8>>;
}

/// What the filter may know of a credential the host signs forwarded requests with: its access
/// key id and session token, never its secret (the WIT `keyring.credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id it signs as.
    pub access_key_id: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}
