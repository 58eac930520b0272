"""Runs every policy case file through the Python wrapper (format: tests/cases, TOML).

The case directory is $TASKGATE_CASES, else <repo>/tests/cases; its base configuration is the
`taskgate.toml` at its root. The component is $TASKGATE_COMPONENT, else the cargo build output.

With $TASKGATE_PYTHON_INSTALLED=1 (package.sh sets it) the tests run against the installed
package `taskgate-filter` instead of ../taskgate_filter.py, and its bundled component when
$TASKGATE_COMPONENT is unset; `test_the_module_under_test` checks which file was imported.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALLED = os.environ.get("TASKGATE_PYTHON_INSTALLED") == "1"
if not INSTALLED:
    sys.path.insert(0, str(HERE.parent))

import taskgate_filter  # noqa: E402
from taskgate_filter import (  # noqa: E402
    Callback,
    Filter,
    Forward,
    Limits,
    Malformed,
    Pass,
    Reject,
    Report,
    Request,
    TaskToken,
    Unverified,
)

REPO = HERE.parents[2]
CASES = Path(os.environ.get("TASKGATE_CASES") or REPO / "tests" / "cases").resolve()
BASE_NAME = "taskgate.toml"


def case_files() -> list[Path]:
    if not CASES.is_dir():
        return []
    return sorted(p for p in CASES.rglob("*.toml") if p != CASES / BASE_NAME)


CASE_FILES = case_files()


@pytest.fixture(scope="session")
def compiled() -> Filter:
    """One compiled component for the whole session; cases get `with_config` copies."""
    return Filter()


def test_the_module_under_test(compiled: Filter) -> None:
    """The file imported and the component loaded: the installed package and the component it
    carries, or the repository's file and build."""
    module = Path(taskgate_filter.__file__).resolve()
    env = os.environ.get("TASKGATE_COMPONENT")
    if INSTALLED:
        site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
        assert module == site_packages / "taskgate_filter" / "__init__.py", module
        default = taskgate_filter.bundled_component_path()
        assert default == site_packages / "taskgate_filter" / "taskgate_filter.wasm", default
    else:
        assert module == HERE.parent / "taskgate_filter.py", module
        assert taskgate_filter.bundled_component_path() is None
        default = REPO / "target/component-build/wasm32-wasip2/component/taskgate_filter.wasm"
    assert compiled.component_path == (Path(env) if env else default)


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def access_key_secret(key: dict[str, Any]) -> str:
    if "secret" in key:
        return key["secret"]
    var = key["secret_env"]
    if var not in os.environ:
        raise KeyError(f"access key {key['id']}: environment variable {var} is not set")
    return os.environ[var]


def filter_for(base: Filter, config: dict[str, Any]) -> Filter:
    defaults = Limits()
    limits = config.get("limits", {})
    return base.with_config(
        access_keys={k["id"]: (access_key_secret(k), k["account"]) for k in config.get("access_keys", [])},
        token_keys=[(k["secret"].encode("utf-8"), k["account"]) for k in config.get("token_keys", [])],
        limits=Limits(
            max_body_bytes=limits.get("max_body_bytes", defaults.max_body_bytes),
            max_aws_body_bytes=limits.get("max_aws_body_bytes", defaults.max_aws_body_bytes),
            max_clock_skew_seconds=limits.get("max_clock_skew_seconds", defaults.max_clock_skew_seconds),
        ),
        other_calls=config.get("serve", {}).get("other_calls", "authenticate"),
        temporary_credentials=config.get("serve", {}).get("temporary_credentials", "refuse"),
    )


# The [serve] settings a case may set, as host/src/cases.rs allows them: the two the filter reads
# and the mode (shadow mode forwards what it would answer: `expect.forwarded`).
CASE_SERVE_SETTINGS = {"other_calls", "temporary_credentials", "mode"}


def merged_config(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Base + [config]: limits key by key, access_keys and token_keys replaced whole, and
    serve.other_calls, serve.temporary_credentials (the serve settings the filter reads) and
    serve.mode."""
    unknown = set(overrides) - {"limits", "sandbox", "access_keys", "token_keys", "serve"}
    assert not unknown, f"[config] may not override {sorted(unknown)}"
    unknown_serve = set(overrides.get("serve", {})) - CASE_SERVE_SETTINGS
    assert not unknown_serve, (
        f"[config.serve] may set {', '.join(sorted(CASE_SERVE_SETTINGS))} only, not {sorted(unknown_serve)}"
    )
    config = dict(base)
    config["limits"] = {**base.get("limits", {}), **overrides.get("limits", {})}
    config["serve"] = {**base.get("serve", {}), **overrides.get("serve", {})}
    for key in ("access_keys", "token_keys"):
        if key in overrides:
            config[key] = overrides[key]
    return config


def request_of(case: dict[str, Any]) -> Request:
    r = case["request"]
    if "body" in r and "body_base64" in r:
        raise ValueError("[request] has both body and body_base64")
    if "body_base64" in r:
        body = base64.b64decode(r["body_base64"], validate=True)
    else:
        body = r.get("body", "").encode("utf-8")
    return Request(
        method=r["method"],
        path_with_query=r["path"],
        headers=[(name, value) for name, value in r.get("headers", [])],
        body=body,
        received_at=case["received_at"],
        request_id=case.get("request_id"),
    )


def test_case_directory_is_not_empty() -> None:
    assert CASES.is_dir(), f"case directory {CASES} does not exist (set TASKGATE_CASES)"
    assert (CASES / BASE_NAME).is_file(), f"base configuration {CASES / BASE_NAME} is missing"
    assert CASE_FILES, f"no *.toml case files under {CASES}"


@pytest.mark.parametrize(
    "path",
    # Without cases, one placeholder that fails (never a vacuous pass).
    CASE_FILES or [pytest.param(None, id="no-cases")],
    ids=lambda p: str(p.relative_to(CASES)) if isinstance(p, Path) else None,
)
def test_case(path: Path | None, compiled: Filter) -> None:
    if path is None:
        pytest.fail(f"no case files under {CASES} (set TASKGATE_CASES)")
    case = load_toml(path)
    base = load_toml(CASES / BASE_NAME)
    config = merged_config(base, case.get("config", {}))
    taskgate = filter_for(compiled, config)
    request = request_of(case)
    verdict = taskgate.check(request)
    answer = memory_answer(case.get("memory"), verdict)
    if answer is not None:
        verdict = taskgate.respond(request, *answer)
    expect = case["expect"]

    want = expect["verdict"]
    assert want in ("forward", "pass", "reject"), f"[expect] verdict = {want!r}"
    if isinstance(verdict, Reject):
        detail = f"reject {verdict.status} {verdict.code} {verdict.body!r}"
    elif isinstance(verdict, Pass):
        detail = f"pass {verdict.call}"
    else:
        detail = f"forward {verdict.report.dialect} {verdict.report.action}"
    assert verdict.kind == want, f"expected {want}, got {detail}"

    if isinstance(verdict, Reject):
        assert verdict.status == expect["status"], detail
        assert verdict.code == expect["code"], detail
        if "body" in expect:
            assert verdict.body == expect["body"].encode("utf-8")
    elif isinstance(verdict, Pass):
        call = verdict.call
        fields = {
            "dialect": call.dialect,
            "action": call.action,
            "request_id": call.request_id,
            "access_key_id": call.access_key_id if call.access_key_id is not None else "(absent)",
            "signature": call.signature if call.signature is not None else "(absent)",
        }
        for key, value in expect.get("call", {}).items():
            assert fields.get(key, "(absent)") == str(value), f"call.{key}"
    else:
        report = verdict.report
        for key, value in expect.get("report", {}).items():
            # An absent field is "(absent)", as host/src/cases.rs compares it.
            actual = report_field(report, key)
            assert ("(absent)" if actual is None else as_text(actual)) == str(value), f"report.{key}"

    # What the gateway does with it: forwards what passes, and in shadow mode what it would
    # answer too (as host/src/cases.rs decides `forwarded`).
    mode = config["serve"].get("mode", "enforce")
    assert mode in ("enforce", "shadow"), f"serve.mode = {mode!r}"
    if "forwarded" in expect:
        forwarded = mode == "shadow" or not isinstance(verdict, Reject)
        assert forwarded == expect["forwarded"], f"forwarded: expected {expect['forwarded']}, got {forwarded}"


def memory_answer(memory: dict[str, Any] | None, verdict: Any) -> tuple[str, Any] | None:
    """The edge's answer under a case's [memory] (the store's state before the request), as
    `Memory::answer` of host/src/cases.rs gives it: rate, then nonce, then ledger, for an
    accepted and authenticated request only; None when the request goes on. A heartbeat
    (`recall.settles` false) consults the ledger, so a settled task answers it, but it never
    waits on a busy one."""
    if not memory or isinstance(verdict, Reject):
        return None
    if isinstance(verdict, Pass):
        accepted, authenticated = verdict.call, verdict.call.access_key_id is not None
    else:
        accepted, authenticated = verdict.report, True
    if not authenticated:
        return None
    recall = accepted.recall
    if "rate_limited" in memory:
        return ("rate-limited", int(memory["rate_limited"]))
    if memory.get("nonce_claimed") and recall.nonce is not None:
        return ("nonce-used", None)
    if isinstance(verdict, Forward) and recall.task is not None:
        if memory.get("settled"):
            return ("task-settled", verdict.report.task_token)
        if memory.get("busy") and recall.settles:
            return ("task-busy", None)
    return None


TOKEN_FIELDS = ("version", "kind", "execution_id", "event_id", "account", "verified")


def report_field(report: Report, key: str) -> Any:
    """A report field, or for execution_id, event_id, verified, account the decoded token's."""
    if key in TOKEN_FIELDS:
        return None if report.token is None else getattr(report.token, key)
    if key == "token" or not hasattr(report, key):
        raise AssertionError(f"[expect.report] {key}: not a report field")
    return getattr(report, key)


def as_text(value: Any) -> str:
    """Numbers in decimal, booleans as true/false, strings (and `Callback`, a `StrEnum`: its WIT
    name) as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- inputs no case file carries: `check` must answer, never raise ----------------------------

ODD_REQUESTS = {
    "empty": Request("", "", [], b"", received_at=0),
    "no-headers": Request("POST", "/", [], b"Error=x", received_at=1795334400),
    "binary-body": Request(
        "POST",
        "/?Action=ReportTaskFailed",
        [("Content-Type", "application/x-www-form-urlencoded")],
        bytes(range(256)) * 64,
        received_at=1795334400,
    ),
    "binary-aws-body": Request(
        "POST",
        "/",
        [("X-Amz-Target", "AWSStepFunctions.SendTaskFailure"),
         ("Content-Type", "application/x-amz-json-1.0"),
         ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/states/aws4_request")],
        b"\xff\xfe{\x00\"",
        received_at=1795334400,
    ),
    "huge-header-count": Request(
        "POST", "/", [(f"X-Header-{i}", "v" * 20) for i in range(20000)], b"", received_at=1795334400
    ),
    "repeated-headers": Request(
        "POST", "/", [("Content-Type", "text/plain")] * 5000, b"a=b", received_at=1795334400
    ),
    "non-ascii": Request(
        "PÖST", "/?Action=%ZZ&\u00e9=\u2603", [("X-\u00fc", "\u0000\ud7ff\U0010ffff")], b"\x00", received_at=2**64 - 1
    ),
    "large-body": Request(
        "POST", "/?Action=ReportTaskFailed", [("Host", "x")], b"A" * (4 << 20), received_at=1795334400
    ),
}


@pytest.mark.parametrize("name", sorted(ODD_REQUESTS))
def test_odd_input_never_raises(name: str, compiled: Filter) -> None:
    taskgate = compiled.with_config(
        access_keys={"AKIDEXAMPLE": ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "123456789012")},
        token_keys=[("demo-token-key", "1234567890123456")],
    )
    verdict = taskgate.check(ODD_REQUESTS[name])
    assert isinstance(verdict, (Forward, Pass, Reject))


# --- limits -----------------------------------------------------------------------------------


def test_limits_left_unset_are_the_components_defaults(compiled: Filter) -> None:
    assert compiled.limits == Limits(max_body_bytes=65536, max_aws_body_bytes=1048576, max_clock_skew_seconds=900)
    assert compiled.with_config(limits=Limits(max_body_bytes=100)).limits == Limits(
        max_body_bytes=100, max_aws_body_bytes=1048576, max_clock_skew_seconds=900
    )


# --- respond ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, failure, value, status, code",
    [
        ([("Host", "cn-hangzhou.fnf.aliyuncs.com")], "throttled", 64, 429, "ResourceThrottled"),
        ([("X-Amz-Target", "AWSStepFunctions.SendTaskFailure")], "throttled", 64, 400, "ThrottlingException"),
        ([("Host", "cn-hangzhou.fnf.aliyuncs.com")], "entity-too-large", 65536, 400, "EntityTooLarge"),
        ([("X-Amz-Target", "SimpleWorkflowService.RespondActivityTaskFailed")], "entity-too-large", 1048576, 413, "RequestEntityTooLarge"),
        ([("Host", "x")], "malformed", "more than one Host header", 400, "InvalidArgument"),
        ([("Host", "x")], "no-route", "evil.example", 400, "InvalidArgument"),
        ([("Host", "x")], "internal", None, 500, "InternalServerError"),
        ([("X-Amz-Target", "AWSStepFunctions.SendTaskFailure")], "slow-client", None, 408, "RequestTimeout"),
        ([("Host", "x")], "nonce-used", None, 400, "SignatureNonceUsed"),
        ([("Host", "x")], "task-settled", "tok-9", 400, "TaskAlreadyCompleted"),
        ([("X-Amz-Target", "SimpleWorkflowService.RespondActivityTaskFailed")], "task-settled", "t", 400, "UnknownResourceFault"),
        ([("Host", "x")], "task-busy", None, 409, "TaskInvalidState"),
        ([("Host", "x")], "rate-limited", 3, 429, "ResourceThrottled"),
        ([("X-Amz-Target", "AWSStepFunctions.SendTaskFailure")], "rate-limited", 3, 400, "ThrottlingException"),
        ([("Host", "x")], "unverifiable", "STS.NTemporaryKeyId", 403, "InvalidAccessKeyID"),
        ([("X-Amz-Target", "AWSStepFunctions.SendTaskFailure")], "unverifiable", "ASIAIOSFODNN7EXAMPLE", 400,
         "UnrecognizedClientException"),
    ],
)
def test_respond_renders_host_failures_in_the_dialect(
    headers: list[tuple[str, str]], failure: str, value: Any, status: int, code: str, compiled: Filter
) -> None:
    request = Request(method="POST", path_with_query="/", headers=headers, body=b"ignored", received_at=0)
    answer = compiled.with_config().respond(request, failure, value)
    assert (answer.status, answer.code) == (status, code)
    # The value shows in the message (AWS's fixed wordings aside).
    if value is not None and code not in ("UnknownResourceFault", "ThrottlingException", "UnrecognizedClientException"):
        assert str(value) in answer.body.decode()


def test_respond_refuses_an_unknown_failure_or_a_wrong_value(compiled: Filter) -> None:
    request = Request(method="POST", path_with_query="/", headers=[], body=b"", received_at=0)
    with pytest.raises(ValueError):
        compiled.respond(request, "exploded")
    with pytest.raises(ValueError):
        compiled.respond(request, "throttled", "many")
    with pytest.raises(ValueError):
        compiled.respond(request, "tunnel", 1)


# --- temporary credentials --------------------------------------------------------------------

# An access key id the corpus's keyring does not hold, in the form of AWS's temporary ones.
TEMPORARY_KEY_ID = "ASIAIOSFODNN7EXAMPLE"


def with_temporary_credentials(
    request: Request, key_id: str = TEMPORARY_KEY_ID, token: str | None = "FwoGZXIvYXdzEXAMPLE"
) -> Request:
    """A SigV4 request as a worker under an IAM role sends it: its Authorization's Credential
    names `key_id` and it carries the session token `token` (None: none). Its signature keeps
    its form (what is checked when the MAC is left to the service)."""
    headers = []
    for name, value in request.headers:
        if name.lower() == "authorization":
            credential = value.split("Credential=", 1)[1].split("/", 1)[0]
            value = value.replace(f"Credential={credential}/", f"Credential={key_id}/")
        headers.append((name, value))
    if token is not None:
        headers.append(("X-Amz-Security-Token", token))
    return Request(
        request.method, request.path_with_query, headers, request.body, request.received_at, request.request_id
    )


def test_temporary_credentials_are_refused_by_default_and_left_to_the_service_under_forward(compiled: Filter) -> None:
    base = load_toml(CASES / BASE_NAME)
    corpus = request_of(load_toml(CASES / "states" / "send_task_failure_as_boto3_sends_it_is_forwarded.toml"))
    temporary = with_temporary_credentials(corpus)
    assert all(k["id"] != TEMPORARY_KEY_ID for k in base["access_keys"])

    # The default: an unknown key, session token or not.
    refused = filter_for(compiled, base).check(temporary)
    assert isinstance(refused, Reject), refused
    assert (refused.status, refused.code) == (400, "UnrecognizedClientException")
    explicit = filter_for(compiled, merged_config(base, {"serve": {"temporary_credentials": "refuse"}}))
    assert explicit.check(temporary) == refused

    forwarding = filter_for(compiled, merged_config(base, {"serve": {"temporary_credentials": "forward"}}))
    assert forwarding.temporary_credentials == "forward"
    verdict = forwarding.check(temporary)
    assert isinstance(verdict, Forward), verdict
    report = verdict.report
    assert report.signature == "service"
    assert (report.access_key_id, report.action, report.task_token) == (TEMPORARY_KEY_ID, "SendTaskFailure", "tok-123")
    # It may be a forgery: it never holds its task, only consults it.
    assert report.recall.task is not None and report.recall.settles is False

    # Under forward too: no session token is an unknown key; a key the keyring holds is verified.
    no_token = forwarding.check(with_temporary_credentials(corpus, token=None))
    assert isinstance(no_token, Reject) and no_token.code == "UnrecognizedClientException"
    held = forwarding.check(corpus)
    assert isinstance(held, Forward) and held.report.signature == "edge" and held.report.recall.settles is True
    # A host that cannot forward it answers as the service would for the unknown key.
    answer = forwarding.respond(temporary, "unverifiable", report.access_key_id)
    assert (answer.status, answer.code) == (refused.status, refused.code)


def test_temporary_credentials_setting_is_checked(compiled: Filter) -> None:
    with pytest.raises(ValueError, match="temporary_credentials"):
        compiled.with_config(temporary_credentials="allow")  # type: ignore[arg-type]
    assert compiled.temporary_credentials == "refuse"


def test_a_call_passed_unchecked_has_no_signature(compiled: Filter) -> None:
    """`PassedCall.signature`: "edge" once authenticated, None when passed unchecked."""
    case = load_toml(CASES / "states" / "describe_execution_is_passed_once_authenticated.toml")
    base = load_toml(CASES / BASE_NAME)
    request = request_of(case)
    authenticated = filter_for(compiled, base).check(request)
    assert isinstance(authenticated, Pass) and authenticated.call.signature == "edge"
    unchecked = compiled.with_config(other_calls="forward").check(request)
    assert isinstance(unchecked, Pass)
    assert (unchecked.call.access_key_id, unchecked.call.signature) == (None, None)


# --- memory: recall keys and settles ----------------------------------------------------------


def test_a_report_carries_the_keys_a_host_with_memory_claims(compiled: Filter) -> None:
    case = load_toml(CASES / "fnf" / "forward_acs3.toml")
    base = load_toml(CASES / "taskgate.toml")
    verdict = filter_for(compiled, base).check(request_of(case))
    assert isinstance(verdict, Forward)
    recall = verdict.report.recall
    assert recall.nonce is not None and recall.nonce.startswith("nonce:") and len(recall.nonce) == 70
    assert recall.task is not None and recall.task.startswith("task:")
    assert recall.nonce_seconds == 1800
    # A failure report closes its task: the host holds and settles it.
    assert verdict.report.callback is Callback.FAILED
    assert recall.settles is True


@pytest.mark.parametrize(
    "dialect, status, body, settles",
    [
        ("fnf", 200, b"{}", True),
        ("fnf", 400, b'{"Code":"TaskAlreadyCompleted"}', True),
        ("fnf", 400, b'{"Code":"InvalidArgument"}', False),
        ("codepipeline", 400, b'{"__type":"InvalidJobStateException"}', True),
        ("states", 500, b'{"__type":"TaskTimedOut"}', False),
    ],
)
def test_settles_judges_the_upstreams_answer(dialect: str, status: int, body: bytes, settles: bool, compiled: Filter) -> None:
    assert compiled.settles(dialect, status, body) is settles


# --- decode_token -----------------------------------------------------------------------------

DEMO_TOKEN = (
    "djEjYSMyYjBjNmE0ZS04ZjVlLTRkMWEtOWMzYi03ZTZmNWE0ZDNjMmIjNDIjN3RRdUFyUlJsYVBXSjh1QWNmWWpkODdWNXdvPQ=="
)


def test_decode_token(compiled: Filter) -> None:
    verified = compiled.with_config(token_keys=[("demo-token-key", "1234567890123456")])
    assert verified.decode_token(DEMO_TOKEN) == TaskToken(
        version="v1",
        kind="a",
        execution_id="2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b",
        event_id=42,
        account="1234567890123456",
        verified=True,
    )
    unchecked = compiled.with_config().decode_token(DEMO_TOKEN)
    assert isinstance(unchecked, TaskToken) and not unchecked.verified and unchecked.account is None
    wrong_key = compiled.with_config(token_keys=[("another-key", "1234567890123456")])
    assert wrong_key.decode_token(DEMO_TOKEN) == Unverified()
    assert isinstance(verified.decode_token("not a token"), Malformed)


def test_the_readme_example_runs_as_written() -> None:
    here = Path(__file__).resolve().parents[1]
    # Installed: -P keeps the example's directory (and ../taskgate_filter.py) off sys.path.
    safe_path = ["-P"] if INSTALLED else []
    out = subprocess.run(
        [sys.executable, *safe_path, str(here / "example.py")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "forward ReportTaskFailed failed LTAI5tDemoAccessKeyId\n"
