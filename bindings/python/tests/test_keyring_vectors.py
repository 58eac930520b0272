"""The Python keyring (`taskgate_filter._Keyring`, the WIT `keyring` import) against the shared
table of keyring vectors, <repo>/tests/fixtures/keyring-vectors.toml ($TASKGATE_KEYRING_VECTORS
overrides it).

The binding computes every MAC here, with `hmac` and `hashlib`, so that no secret enters the
component's memory; the Rust keyring and the Node binding's run the same table, so all three give
the vendors' published answers rather than merely agreeing with each other. The keyring is called
directly, as wasmtime calls it (`verify_signature(store, id, signing, message, mac)`), so these
tests need no component.

With $TASKGATE_PYTHON_INSTALLED=1 (package.sh sets it) the installed package's keyring is the one
tested, as in test_cases.py; package.sh runs this directory of the checkout, so the table is found
there too.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from wasmtime.component import Variant

HERE = Path(__file__).resolve().parent
if os.environ.get("TASKGATE_PYTHON_INSTALLED") != "1" and str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import taskgate_filter  # noqa: E402

REPO = HERE.parents[2]
VECTORS = Path(
    os.environ.get("TASKGATE_KEYRING_VECTORS") or REPO / "tests" / "fixtures" / "keyring-vectors.toml"
).resolve()

SCOPE_FIELDS = ("date", "region", "service")


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    # A missing table fails, naming where it was looked for: it is never a vacuous pass.
    assert VECTORS.is_file(), f"no keyring vectors at {VECTORS} (set TASKGATE_KEYRING_VECTORS)"
    with VECTORS.open("rb") as f:
        return tomllib.load(f)


def label(section: str, index: int, row: dict[str, Any]) -> str:
    """A row as a failure names it: where it is, where it comes from, what it would catch."""
    text = f"{section}[{index}] {row['name']!r} ({row['source']}"
    if "catches" in row:
        text += f"; catches {row['catches']}"
    return text + ")"


def assert_none_failed(section: str, rows: list[dict[str, Any]], failures: list[str]) -> None:
    assert rows, f"{VECTORS.name} has no {section} rows"
    assert not failures, f"{len(failures)} of {len(rows)} {section} rows failed:\n  " + "\n  ".join(failures)


def keyring(table: dict[str, Any]) -> taskgate_filter._Keyring:
    keys = {key["id"]: (key["secret"], key["account"]) for key in table["access_keys"]}
    assert len(keys) == len(table["access_keys"]), "an access key id appears twice"
    return taskgate_filter._Keyring(keys, [])


def signing_of(row: dict[str, Any]) -> Variant:
    """The WIT `signing` variant as wasmtime hands it over: a tag, and for sigv4 a record."""
    present = [name for name in SCOPE_FIELDS if name in row]
    if row["signing"] == "sigv4":
        assert present == list(SCOPE_FIELDS), f"{row['name']!r}: sigv4 needs date, region and service"
        return Variant("sigv4", SimpleNamespace(**{name: row[name] for name in SCOPE_FIELDS}))
    assert row["signing"] in ("rpc-v1", "acs3"), f"{row['name']!r}: signing {row['signing']!r}"
    assert not present, f"{row['name']!r}: {row['signing']} takes no {present}"
    return Variant(row["signing"])


def test_every_signature_row_verifies_as_the_table_says(table: dict[str, Any]) -> None:
    # One keyring for every row, in file order: its SigV4 signing-key cache carries over from row
    # to row as it does from request to request, which is what the scope-changed rows test.
    keys = keyring(table)
    failures = []
    for index, row in enumerate(table["signatures"]):
        got = keys.verify_signature(
            None, row["key_id"], signing_of(row), row["message"].encode("utf-8"), bytes.fromhex(row["mac_hex"])
        )
        if got is not row["expect"]:
            failures.append(f"{label('signatures', index, row)}: verify_signature gave {got}, the table says {row['expect']}")
    assert_none_failed("signatures", table["signatures"], failures)


def test_every_account_row_names_the_account_in_the_table(table: dict[str, Any]) -> None:
    keys = keyring(table)
    failures = []
    for index, row in enumerate(table["accounts"]):
        got = keys.access_key_account(None, row["id"])
        if got != row.get("account"):
            failures.append(f"accounts[{index}] id {row['id']!r}: gave {got!r}, the table says {row.get('account')!r}")
    assert_none_failed("accounts", table["accounts"], failures)


def test_every_token_mac_row_names_the_owner_in_the_table(table: dict[str, Any]) -> None:
    failures = []
    for index, row in enumerate(table["token_macs"]):
        expect, account = row["expect"], row.get("account")
        assert expect in ("unchecked", "unmatched", "verified"), f"{row['name']!r}: expect {expect!r}"
        assert (account is not None) == (expect == "verified"), f"{row['name']!r}: an account goes with verified only"
        tokens = [(bytes.fromhex(key["secret_hex"]), key["account"]) for key in row["keys"]]
        got = taskgate_filter._Keyring({}, tokens).verify_token_mac(
            None, row["message"].encode("utf-8"), bytes.fromhex(row["mac_hex"])
        )
        if (got.tag, got.payload) != (expect, account):
            failures.append(
                f"{label('token_macs', index, row)}: verify_token_mac gave {got.tag} {got.payload!r}, "
                f"the table says {expect} {account!r}"
            )
    assert_none_failed("token_macs", table["token_macs"], failures)
