"""Run the taskgate filter component (WIT `taskgate:filter@0.8.0`) from Python.

Uses the component API of wasmtime-py (`wasmtime.component`): the component is compiled once per
`Filter`, and every `check` gets a fresh store and instance, as the Rust host does by default.
Python supplies the `keyring`, `digest` and `settings` imports: the keyring computes and compares every MAC
here (`hmac`, `hashlib`), so no secret ever enters the component's memory. The component's `wasi:cli` and
`wasi:io` imports (pulled in by Rust std, never called) are defined as functions that trap: the
filter gets no files, environment, clock or network.

    from taskgate_filter import Filter, Request, Forward

    f = Filter(access_keys={"LTAI5t...": ("secret", "1234567890123456")})
    verdict = f.check(Request("POST", "/?...", [("Host", "...")], b"...", received_at=1795334400))
    if isinstance(verdict, Forward): ...  # verdict.report.callback: Callback.FAILED, ...
                                          # verdict.report.signature: "edge" or "service"
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import importlib.resources
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeAlias

import wasmtime
from wasmtime import Engine, Store
from wasmtime.component import Component, Linker, ListType, Record, Variant

__all__ = [
    "EDGE_FAILURES",
    "Callback",
    "Filter",
    "FilterTrap",
    "Forward",
    "Limits",
    "OtherCalls",
    "Pass",
    "PassedCall",
    "Malformed",
    "Recall",
    "Reject",
    "Report",
    "Request",
    "SignatureCheck",
    "TaskToken",
    "TemporaryCredentials",
    "TokenError",
    "Unverified",
    "Verdict",
    "bundled_component_path",
    "default_component_path",
]

WIT_PACKAGE = "taskgate:filter"
WIT_VERSION = "0.8.0"
_KEYRING = f"{WIT_PACKAGE}/keyring@{WIT_VERSION}"
_DIGEST = f"{WIT_PACKAGE}/digest@{WIT_VERSION}"
_SETTINGS = f"{WIT_PACKAGE}/settings@{WIT_VERSION}"
_TYPES = f"{WIT_PACKAGE}/types@{WIT_VERSION}"
_VALIDATOR = f"{WIT_PACKAGE}/validator@{WIT_VERSION}"
# Imports that Rust std adds on wasm32-wasip2 and the filter never calls; defined as traps.
_TRAPPED_PREFIXES = ("wasi:cli/", "wasi:io/")

Dialect: TypeAlias = Literal["fnf", "states", "swf", "codepipeline"]


class Callback(StrEnum):
    """WIT `types.callback`: what a callback does to its task. A `StrEnum` whose values are the
    WIT case names, as wasmtime-py passes them, so `Callback("failed")` lifts one and it compares
    equal to its name."""

    FAILED = "failed"
    """The task failed, which settles it (`ReportTaskFailed`, `SendTaskFailure`, ...)."""
    SUCCEEDED = "succeeded"
    """The task succeeded, which settles it (`ReportTaskSucceeded`, `SendTaskSuccess`, ...)."""
    CANCELED = "canceled"
    """The task was canceled, which settles it (SWF `RespondActivityTaskCanceled`)."""
    HEARTBEAT = "heartbeat"
    """The worker is still at it, which settles nothing (`SendTaskHeartbeat`,
    `RecordActivityTaskHeartbeat`, CodePipeline `AcknowledgeJob`)."""


# WIT `settings.other-calls`: what the filter does with calls it does not model.
OtherCalls: TypeAlias = Literal["reject", "authenticate", "forward"]
_OTHER_CALLS = ("reject", "authenticate", "forward")

# WIT `settings.temporary-credentials`: what the filter does with a callback signed with
# temporary credentials (a session token) whose access key the keyring does not hold.
TemporaryCredentials: TypeAlias = Literal["refuse", "forward"]
_TEMPORARY_CREDENTIALS = ("refuse", "forward")

# WIT `types.signature-check`: who checks the MAC of a request's signature, the edge (the key
# is in the keyring and the MAC verified) or the service (temporary credentials passed under
# `temporary_credentials="forward"`).
SignatureCheck: TypeAlias = Literal["edge", "service"]


_COMPONENT_FILE = "taskgate_filter.wasm"


def default_component_path() -> Path:
    """`$TASKGATE_COMPONENT`, else the component the installed package carries (the wheel
    `taskgate-filter`), else the cargo build output relative to this file (this file used from
    the repository)."""
    env = os.environ.get("TASKGATE_COMPONENT")
    if env:
        return Path(env)
    bundled = bundled_component_path()
    if bundled is not None:
        return bundled
    return (
        Path(__file__).resolve().parent
        / "../../target/component-build/wasm32-wasip2/component"
        / _COMPONENT_FILE
    ).resolve()


def bundled_component_path() -> Path | None:
    """The component installed with the package as its data (`taskgate_filter/taskgate_filter.wasm`),
    or None when this module is not the installed package (the repository's single file)."""
    if __spec__ is None or __spec__.submodule_search_locations is None:
        return None
    resource = importlib.resources.files(__spec__.name).joinpath(_COMPONENT_FILE)
    # Installed from the wheel, the package lies on disk: compiled straight from its file.
    if isinstance(resource, Path) and resource.is_file():
        return resource.resolve()
    return None


# --- values crossing the boundary -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """WIT `settings.limits`. A field left `None` takes the component's own default (its
    `default-limits` export: the vendors' 65536, 1048576 and 900, as taskgate.toml's)."""

    max_body_bytes: int | None = None
    max_aws_body_bytes: int | None = None
    max_clock_skew_seconds: int | None = None

    def over(self, defaults: Limits) -> Limits:
        """These limits, with `defaults` where a field is `None`."""
        return Limits(
            max_body_bytes=defaults.max_body_bytes if self.max_body_bytes is None else self.max_body_bytes,
            max_aws_body_bytes=(
                defaults.max_aws_body_bytes if self.max_aws_body_bytes is None else self.max_aws_body_bytes
            ),
            max_clock_skew_seconds=(
                defaults.max_clock_skew_seconds
                if self.max_clock_skew_seconds is None
                else self.max_clock_skew_seconds
            ),
        )


@dataclass(frozen=True, slots=True)
class Request:
    """WIT `types.request`: one HTTP request exactly as received."""

    method: str
    path_with_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    received_at: int = 0
    """Seconds since the Unix epoch (UTC) when the request arrived."""
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskToken:
    """WIT `types.task-token`."""

    version: str
    kind: str
    execution_id: str
    event_id: int
    account: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class Recall:
    """WIT `types.recall`: what a host that remembers requests claims and consults (digests,
    never the nonce or token themselves). Claim `nonce` once for `nonce_seconds` (a second claim
    is a replay: `respond(request, "nonce-used")`); `task` is the ledger key of the report's
    task (settled: `respond(request, "task-settled", task_token)`). `settles` is true when the
    report closes its task (failure, success, cancel): forward at most one such report for the
    task at a time (another in flight: `respond(request, "task-busy")`) and settle it by
    `Filter.settles`; false for a heartbeat, or a report whose signature is left to the service
    (`Report.signature == "service"`), which only consult `task`."""

    nonce: str | None
    nonce_seconds: int
    task: str | None
    settles: bool


@dataclass(frozen=True, slots=True)
class Report:
    """WIT `types.report`. `error`, `cause` and `output` are sensitive: do not log them."""

    dialect: Dialect
    action: str
    callback: Callback
    request_id: str
    access_key_id: str
    signature: SignatureCheck
    """"edge" (the MAC verified here) or "service" (temporary credentials the keyring does not
    hold: the service verifies the MAC; forward the request unchanged, never answer it as the
    service would, and keep what you remember of it apart from verified callers' claims)."""
    task_token: str
    token: TaskToken | None
    error: str | None
    cause: str | None
    output: str | None
    """A success's output, or a cancel's or heartbeat's details."""
    recall: Recall


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the original request on to the workflow engine."""

    report: Report
    kind: Literal["forward"] = field(default="forward", init=False)


@dataclass(frozen=True, slots=True)
class PassedCall:
    """WIT `types.passed-call`: a call the filter does not model (no report)."""

    dialect: Dialect
    action: str
    request_id: str
    access_key_id: str | None
    signature: SignatureCheck | None
    """Who checks its signature; None when it was passed unchecked."""
    recall: Recall


@dataclass(frozen=True, slots=True)
class Pass:
    """Send the original request on: a call the filter does not model, passed per `other_calls`."""

    call: PassedCall
    kind: Literal["pass"] = field(default="pass", init=False)


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the caller with this response; do not forward."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    code: str
    kind: Literal["reject"] = field(default="reject", init=False)


Verdict: TypeAlias = Forward | Pass | Reject


@dataclass(frozen=True, slots=True)
class Unverified:
    """`decode_token`: the MAC matches none of the configured token keys."""

    kind: Literal["unverified"] = field(default="unverified", init=False)


@dataclass(frozen=True, slots=True)
class Malformed:
    """`decode_token`: the text is not a task token; `reason` is for humans."""

    reason: str
    kind: Literal["malformed"] = field(default="malformed", init=False)


TokenError: TypeAlias = Unverified | Malformed


# The failures a host finds itself, which `Filter.respond` renders (WIT `edge-failure`): each
# with the type of its value (None: it takes none).
EDGE_FAILURES: dict[str, type | None] = {
    "internal": None,
    "throttled": int,
    "entity-too-large": int,
    "no-route": str,
    "tunnel": None,
    "malformed": str,
    "slow-client": None,
    "nonce-used": None,
    "unverifiable": str,
    "task-settled": str,
    "task-busy": None,
    "rate-limited": int,
}


class FilterTrap(RuntimeError):
    """The component trapped or hit a limit: the request was neither accepted nor rejected.

    The filter never traps on bad input, so this means a bug or an exhausted memory cap; answer
    the caller with a 500 and do not forward.
    """


# --- the keyring ------------------------------------------------------------------------------

# SigV4 signing keys kept at most; past it the cache starts over.
_MAX_SIGNING_KEYS = 1024


class _Keyring:
    """The WIT `keyring` import: the component names a key and hands over the bytes a signature
    or a token MAC covers; the MAC is computed and compared here, in constant time."""

    def __init__(self, access_keys: Mapping[str, tuple[str, str]], token_keys: Sequence[tuple[bytes, str]]) -> None:
        self._access_keys = access_keys
        self._token_keys = token_keys
        # A SigV4 signing key depends only on the key and the scope: derived once per day.
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def access_key_account(self, _store: Any, key_id: str) -> str | None:
        found = self._access_keys.get(key_id)
        return None if found is None else found[1]

    def verify_signature(self, _store: Any, key_id: str, signing: Variant, message: bytes, mac: bytes) -> bool:
        found = self._access_keys.get(key_id)
        if found is None:
            return False
        secret = found[0]
        if signing.tag == "rpc-v1":
            expected = hmac.digest((secret + "&").encode(), bytes(message), hashlib.sha1)
        elif signing.tag == "acs3":
            expected = hmac.digest(secret.encode(), bytes(message), hashlib.sha256)
        elif signing.tag == "sigv4":
            scope = signing.payload
            key = self._signing_key(key_id, secret, scope.date, scope.region, scope.service)
            expected = hmac.digest(key, bytes(message), hashlib.sha256)
        else:
            return False
        return hmac.compare_digest(expected, bytes(mac))

    def verify_token_mac(self, _store: Any, message: bytes, mac: bytes) -> Variant:
        if not self._token_keys:
            return Variant("unchecked")
        owner = None
        # Every key is tried, so the time says nothing about which one matched.
        for secret, account in self._token_keys:
            if hmac.compare_digest(hmac.digest(secret, bytes(message), hashlib.sha1), bytes(mac)) and owner is None:
                owner = account
        return Variant("unmatched") if owner is None else Variant("verified", owner)

    def _signing_key(self, key_id: str, secret: str, date: str, region: str, service: str) -> bytes:
        name = (key_id, date, region, service)
        key = self._signing_keys.get(name)
        if key is None:
            key = hmac.digest(("AWS4" + secret).encode(), date.encode(), hashlib.sha256)
            for part in (region, service, "aws4_request"):
                key = hmac.digest(key, part.encode(), hashlib.sha256)
            if len(self._signing_keys) >= _MAX_SIGNING_KEYS:
                self._signing_keys.clear()
            self._signing_keys[name] = key
        return key


# --- the filter -------------------------------------------------------------------------------


class _Compiled:
    """Engine + compiled component + export indexes: the expensive part, shared by `with_config`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = Engine()
        self.component = Component.from_file(self.engine, str(path))
        imports = self.component.type.imports(self.engine)
        ours = {_KEYRING, _DIGEST, _SETTINGS, _TYPES}
        unexpected = sorted(
            name for name in imports if name not in ours and not name.startswith(_TRAPPED_PREFIXES)
        )
        missing = sorted({_KEYRING, _DIGEST, _SETTINGS} - set(imports))
        if unexpected or missing:
            raise ValueError(
                f"{path}: not a {WIT_PACKAGE}@{WIT_VERSION} filter component "
                f"(unexpected imports {unexpected}, missing {missing})"
            )
        validator = self.component.get_export_index(_VALIDATOR)
        if validator is None:
            raise ValueError(f"{path}: no export {_VALIDATOR}")
        check = self.component.get_export_index("check", validator)
        decode = self.component.get_export_index("decode-token", validator)
        respond = self.component.get_export_index("respond", validator)
        defaults = self.component.get_export_index("default-limits", validator)
        settles = self.component.get_export_index("settles", validator)
        if None in (check, decode, respond, defaults, settles):
            raise ValueError(
                f"{path}: {_VALIDATOR} lacks check, decode-token, respond, default-limits or settles"
            )
        self.check_index = check
        self.decode_index = decode
        self.respond_index = respond
        self.settles_index = settles
        self.default_limits = self._default_limits(defaults)

    def _default_limits(self, index: Any) -> Limits:
        """The component's own defaults, from an instance whose imports (all traps) it never calls."""
        linker = Linker(self.engine)
        linker.define_unknown_imports_as_traps(self.component)
        store = Store(self.engine)
        func = linker.instantiate(store, self.component).get_func(store, index)
        assert func is not None
        raw = func(store)
        func.post_return(store)
        return Limits(
            max_body_bytes=_field(raw, "max_body_bytes"),
            max_aws_body_bytes=_field(raw, "max_aws_body_bytes"),
            max_clock_skew_seconds=_field(raw, "max_clock_skew_seconds"),
        )


class Filter:
    """The taskgate filter with one configuration.

    `access_keys` maps an access key id to `(secret, account)`; `token_keys` lists
    `(secret, account)` pairs (secret as text or bytes) in lookup order; `limits` is the WIT
    `settings.limits`. `other_calls` is what to do with calls other than the task callbacks:
    "authenticate" (the default: signature, clock and key checked, then `Pass`), "reject" or
    "forward". `temporary_credentials` is what to do with a callback signed with temporary
    credentials (a session token) whose access key is not in `access_keys`: "refuse" (the
    default: the vendor's unknown-key error) or "forward" (every rule but the MAC checked, then
    `Forward` with `report.signature == "service"`: the service verifies it). `memory_bytes`
    caps the component's linear memory per check (the host's `[sandbox] memory_bytes`).

    Not thread-safe: use one `Filter` per thread (`with_config` makes more cheaply).
    """

    def __init__(
        self,
        component_path: str | os.PathLike[str] | None = None,
        access_keys: Mapping[str, tuple[str, str]] | None = None,
        token_keys: Sequence[tuple[str | bytes, str]] = (),
        limits: Limits = Limits(),
        *,
        other_calls: OtherCalls = "authenticate",
        temporary_credentials: TemporaryCredentials = "refuse",
        memory_bytes: int = 32 << 20,
        _compiled: _Compiled | None = None,
    ) -> None:
        if other_calls not in _OTHER_CALLS:
            raise ValueError(f"other_calls must be one of {', '.join(_OTHER_CALLS)}, not {other_calls!r}")
        if temporary_credentials not in _TEMPORARY_CREDENTIALS:
            raise ValueError(
                f"temporary_credentials must be one of {', '.join(_TEMPORARY_CREDENTIALS)}, "
                f"not {temporary_credentials!r}"
            )
        if _compiled is None:
            path = Path(component_path) if component_path is not None else default_component_path()
            _compiled = _Compiled(path)
        self._compiled = _compiled
        self.access_keys: dict[str, tuple[str, str]] = dict(access_keys or {})
        self.token_keys: list[tuple[bytes, str]] = [
            (secret.encode() if isinstance(secret, str) else bytes(secret), account)
            for secret, account in token_keys
        ]
        self.limits = limits.over(_compiled.default_limits)
        self.other_calls: OtherCalls = other_calls
        self.temporary_credentials: TemporaryCredentials = temporary_credentials
        self.memory_bytes = memory_bytes
        self._linker = self._link()

    @property
    def component_path(self) -> Path:
        return self._compiled.path

    def with_config(
        self,
        access_keys: Mapping[str, tuple[str, str]] | None = None,
        token_keys: Sequence[tuple[str | bytes, str]] = (),
        limits: Limits = Limits(),
        *,
        other_calls: OtherCalls = "authenticate",
        temporary_credentials: TemporaryCredentials = "refuse",
        memory_bytes: int | None = None,
    ) -> Filter:
        """A filter with another configuration that shares this one's compiled component."""
        return Filter(
            access_keys=access_keys,
            token_keys=token_keys,
            limits=limits,
            other_calls=other_calls,
            temporary_credentials=temporary_credentials,
            memory_bytes=self.memory_bytes if memory_bytes is None else memory_bytes,
            _compiled=self._compiled,
        )

    def _link(self) -> Linker:
        linker = Linker(self._compiled.engine)

        keyring = _Keyring(self.access_keys, self.token_keys)

        def get_limits(_store: Any) -> Record:
            return _record(
                max_body_bytes=self.limits.max_body_bytes,
                max_aws_body_bytes=self.limits.max_aws_body_bytes,
                max_clock_skew_seconds=self.limits.max_clock_skew_seconds,
            )

        with linker.root() as root:
            with root.add_instance(_KEYRING) as imported:
                imported.add_func("access-key-account", keyring.access_key_account)
                imported.add_func("verify-signature", keyring.verify_signature)
                imported.add_func("verify-token-mac", keyring.verify_token_mac)
            with root.add_instance(_DIGEST) as digest:
                # Hashing for the component, with the CPU's SHA instructions (the sandbox has none).
                digest.add_func("sha256", lambda _store, data: hashlib.sha256(bytes(data)).digest())
            with root.add_instance(_SETTINGS) as settings:
                settings.add_func("get-limits", get_limits)
                # wasmtime-py takes a WIT enum value as its case name.
                settings.add_func("get-other-calls", lambda _store: self.other_calls)
                settings.add_func("get-temporary-credentials", lambda _store: self.temporary_credentials)
        # Everything still undefined (checked in _Compiled: only wasi:cli/* and wasi:io/*) traps.
        linker.define_unknown_imports_as_traps(self._compiled.component)
        return linker

    def _call(self, index: Any, *args: Any) -> Any:
        store = Store(self._compiled.engine)
        store.set_limits(memory_size=self.memory_bytes)
        try:
            instance = self._linker.instantiate(store, self._compiled.component)
            func = instance.get_func(store, index)
            assert func is not None
            result = func(store, *args)
            func.post_return(store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise FilterTrap(str(e)) from e
        return result

    def check(self, request: Request) -> Verdict:
        """Forward, pass or reject one request. Raises `FilterTrap` only if the component fails."""
        raw = self._call(self._compiled.check_index, _lower_request(request))
        if raw.tag == "forward":
            return Forward(_lift_report(raw.payload))
        if raw.tag == "pass":
            c = raw.payload
            return Pass(
                PassedCall(
                    dialect=_field(c, "dialect"),
                    action=_field(c, "action"),
                    request_id=_field(c, "request_id"),
                    access_key_id=_field(c, "access_key_id"),
                    # An option<enum>: None, or the case name.
                    signature=_field(c, "signature"),
                    recall=_lift_recall(_field(c, "recall")),
                )
            )
        return _lift_response(raw.payload)

    def respond(self, request: Request, failure: str, value: int | str | None = None) -> Reject:
        """The vendor's answer to a failure the host found itself, in the request's dialect,
        rendered by the component from the request's head (as `taskgate serve` answers them):
        `failure` is one of `EDGE_FAILURES`, e.g. `respond(request, "throttled", 64)`.
        Raises `ValueError` for an unknown failure or a value of the wrong type, `FilterTrap`
        only if the component fails."""
        if failure not in EDGE_FAILURES:
            raise ValueError(f"unknown failure {failure!r}: one of {sorted(EDGE_FAILURES)}")
        kind = EDGE_FAILURES[failure]
        if (value is None) != (kind is None) or (kind is not None and not isinstance(value, kind)):
            expected = "no value" if kind is None else f"a value of type {kind.__name__}"
            raise ValueError(f"{failure!r} takes {expected}")
        head = _lower_request(request)
        head.body = b""
        raw = self._call(self._compiled.respond_index, head, Variant(failure, value))
        return _lift_response(raw)

    def settles(self, dialect: Dialect, status: int, body: bytes) -> bool:
        """Whether the upstream's answer to a forwarded report settles its task (a 2xx, or the
        service's own "already closed" refusal); asked only when `report.recall.settles`.
        Raises `FilterTrap` only if the component fails."""
        return bool(self._call(self._compiled.settles_index, dialect, int(status), bytes(body)))

    def decode_token(self, token: str) -> TaskToken | TokenError:
        """Decode a task token and, when token keys are configured, verify its MAC."""
        raw = self._call(self._compiled.decode_index, token)
        # wasmtime-py lifts result<task-token, token-error> untagged: a Record is ok; the error
        # variant is None for `unverified` (no payload) and the str payload for `malformed`.
        if isinstance(raw, Record):
            return _lift_token(raw)
        if raw is None:
            return Unverified()
        return Malformed(str(raw))


# --- conversions to and from wasmtime-py's component values -----------------------------------


def _install_fast_bytes_lowering() -> bool:
    """Make wasmtime-py lower `list<u8>` from `bytes` in C time instead of one Python call per byte.

    wasmtime-py 50 converts each byte of a `list<u8>` argument separately (about 1 us a byte: a
    1 MiB AWS body would take over a second). This fills the C array of `wasmtime_component_val_t`
    with two strided slice assignments instead. It relies on wasmtime-py's private `_ffi` layout,
    so it is installed only when that layout is the expected one; otherwise the slow path stays.
    Returns whether it was installed.
    """
    try:
        from wasmtime import _ffi as ffi

        val_t = ffi.wasmtime_component_val_t
        layout_ok = (
            ctypes.sizeof(ffi.wasmtime_component_valkind_t) == 1
            and val_t.kind.offset == 0
            and ffi.WASMTIME_COMPONENT_U8.value == 2
            and ffi.WASMTIME_COMPONENT_LIST.value == 13
            and callable(getattr(ListType, "_is_bytes", None))
        )
    except (ImportError, AttributeError):
        return False
    if not layout_ok or getattr(ListType.convert_to_c, "_taskgate_fast", False):
        return layout_ok
    size = ctypes.sizeof(val_t)
    payload = val_t.of.offset  # every union member starts here, the u8 included
    u8_kind = ffi.WASMTIME_COMPONENT_U8.value
    slow = ListType.convert_to_c

    def convert_to_c(self: ListType, store: Any, val: Any, ptr: Any) -> None:
        if not (isinstance(val, bytes) and self._is_bytes()):
            return slow(self, store, val, ptr)
        n = len(val)
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, n)
        if n:
            # Write the n values in place: kind byte and u8 payload of each; nothing else is read.
            array = (ctypes.c_ubyte * (n * size)).from_address(ctypes.addressof(raw.data.contents))
            view = memoryview(array).cast("B")
            view[0::size] = bytes([u8_kind]) * n
            view[payload::size] = val
            view.release()
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
        ptr.contents.of.list = raw

    convert_to_c._taskgate_fast = True  # type: ignore[attr-defined]
    ListType.convert_to_c = convert_to_c  # type: ignore[method-assign]
    return True


FAST_BYTES = _install_fast_bytes_lowering()


def _record(**fields: Any) -> Record:
    rec = Record()
    for name, value in fields.items():
        setattr(rec, name.replace("_", "-"), value)
    return rec


def _field(rec: Record, name: str) -> Any:
    return getattr(rec, name.replace("_", "-"))


def _lower_request(request: Request) -> Record:
    return _record(
        method=request.method,
        path_with_query=request.path_with_query,
        headers=[(str(name), str(value)) for name, value in request.headers],
        body=bytes(request.body),
        received_at=int(request.received_at),
        request_id=request.request_id,
    )


def _lift_response(rec: Record) -> Reject:
    return Reject(
        status=rec.status,
        headers=[(k, v) for k, v in rec.headers],
        body=bytes(rec.body),
        code=rec.code,
    )


def _lift_token(rec: Record) -> TaskToken:
    return TaskToken(
        version=_field(rec, "version"),
        kind=_field(rec, "kind"),
        execution_id=_field(rec, "execution_id"),
        event_id=_field(rec, "event_id"),
        account=_field(rec, "account"),
        verified=_field(rec, "verified"),
    )


def _lift_report(rec: Record) -> Report:
    token = _field(rec, "token")
    return Report(
        dialect=_field(rec, "dialect"),
        action=_field(rec, "action"),
        # wasmtime-py lifts a WIT enum as its case name.
        callback=Callback(_field(rec, "callback")),
        request_id=_field(rec, "request_id"),
        access_key_id=_field(rec, "access_key_id"),
        signature=_field(rec, "signature"),
        task_token=_field(rec, "task_token"),
        token=None if token is None else _lift_token(token),
        error=_field(rec, "error"),
        cause=_field(rec, "cause"),
        output=_field(rec, "output"),
        recall=_lift_recall(_field(rec, "recall")),
    )


def _lift_recall(rec: Record) -> Recall:
    return Recall(
        nonce=_field(rec, "nonce"),
        nonce_seconds=_field(rec, "nonce_seconds"),
        task=_field(rec, "task"),
        settles=_field(rec, "settles"),
    )
