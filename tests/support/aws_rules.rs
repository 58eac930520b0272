//! The vocabulary of the AWS rule tables (tests/integration/aws.rs and callbacks.rs): a rule is
//! a request that differs from a valid call in exactly the way the rule forbids, and what it must
//! get; the helpers write AWS's own validation messages (`Value at 'x' failed to satisfy
//! constraint: ...`) and the JSON bodies the rows send.

use crate::AwsCall;

/// The content type of the awsJson 1.0 protocol (Step Functions, SWF).
pub const JSON_10: &str = "application/x-amz-json-1.0";
/// The content type of the awsJson 1.1 protocol (CodePipeline).
pub const JSON_11: &str = "application/x-amz-json-1.1";
/// AWS's message for a signature that does not verify.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// A CodePipeline job id that matches its pattern.
pub const JOB_ID: &str = "11111111-2222-4333-8444-555555555555";
/// The pattern CodePipeline's model gives `jobId`.
pub const JOB_ID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/// AWS's violation for a member longer than `max`.
pub fn too_long(path: &str, max: usize) -> String {
    format!(
        "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// AWS's violation for a member shorter than `min`.
pub fn too_short(path: &str, min: usize) -> String {
    format!(
        "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
    )
}

/// AWS's violation for a required member that is missing.
pub fn null(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// A JSON string member, the value written as given (escapes stay escapes).
pub fn member(name: &str, raw: &str) -> String {
    format!("\"{name}\": \"{raw}\"")
}

/// A JSON object of the given members.
pub fn object(members: &[String]) -> String {
    format!("{{{}}}", members.join(", "))
}

/// `n` ASCII letters.
pub fn x(n: usize) -> String {
    "x".repeat(n)
}

/// What a rule's request must get.
pub enum Expect {
    /// Forwarded.
    Forward,
    /// A `ValidationException` with exactly these violations, in this order.
    Violations(Vec<String>),
    /// Rejected with this status and code, its message as `Says`.
    Reject(u16, &'static str, Says),
}

/// What a rejection's message must say.
pub enum Says {
    /// Anything (not empty).
    Something,
    /// This phrase somewhere.
    Contains(String),
    /// Exactly this.
    Is(String),
    /// Starts with the first, and never shows the second (a value the caller sent).
    Hides(&'static str, &'static str),
}

/// One row of a rule table.
pub struct Rule {
    /// Unique; the corpus file's name.
    pub name: String,
    /// The request.
    pub call: AwsCall,
    /// Overrides of the corpus's base configuration (TOML; empty for none).
    pub overrides: &'static str,
    /// What it must get.
    pub expect: Expect,
}

/// A row under the corpus's base configuration.
pub fn rule(name: impl Into<String>, call: AwsCall, expect: Expect) -> Rule {
    Rule {
        name: name.into(),
        call,
        overrides: "",
        expect,
    }
}

/// A row under the base configuration with `overrides` (TOML).
pub fn configured(
    name: impl Into<String>,
    call: AwsCall,
    overrides: &'static str,
    expect: Expect,
) -> Rule {
    Rule {
        overrides,
        ..rule(name, call, expect)
    }
}

/// A `ValidationException` with exactly these violations.
pub fn violations(list: &[String]) -> Expect {
    Expect::Violations(list.to_vec())
}

/// Rejected with this status and code, any message.
pub fn rejected(status: u16, code: &'static str) -> Expect {
    Expect::Reject(status, code, Says::Something)
}

/// Rejected with this status and code, and a message as `says`.
pub fn rejected_saying(status: u16, code: &'static str, says: Says) -> Expect {
    Expect::Reject(status, code, says)
}

/// A message that contains `phrase`.
pub fn contains(phrase: impl Into<String>) -> Says {
    Says::Contains(phrase.into())
}

/// Exactly this message.
pub fn is(message: impl Into<String>) -> Says {
    Says::Is(message.into())
}

/// AWS's violation for a `jobId` that does not match its pattern.
pub fn pattern(value: &str) -> String {
    format!(
        "Value '{value}' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: {JOB_ID_PATTERN}"
    )
}
