//! The Rust keyring (`taskgate_filter::keyring::Keyring`, which every Rust build uses) against
//! the shared table of keyring vectors, `tests/fixtures/keyring-vectors.toml`. The Python and
//! Node bindings keep their own keyrings (so that no secret enters the component's memory) and
//! their tests run the same table, so all three give the vendors' published answers rather than
//! merely agreeing with each other. The table's header says where each row comes from.
//!
//! Every row runs and every failure is reported, each by its section, index and name, with where
//! the row comes from and what it is there to catch.

use crate::root;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use taskgate_filter::keyring::{AccessKey, Keyring, TokenKey};
use taskgate_filter::sign::Scope;
use taskgate_filter::{Signing, TokenMac};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    access_keys: Vec<AccessKeyRow>,
    signatures: Vec<SignatureRow>,
    accounts: Vec<AccountRow>,
    token_macs: Vec<TokenMacRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyRow {
    id: String,
    secret: String,
    account: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureRow {
    name: String,
    key_id: String,
    signing: String,
    date: Option<String>,
    region: Option<String>,
    service: Option<String>,
    message: String,
    mac_hex: String,
    expect: bool,
    source: String,
    catches: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRow {
    id: String,
    account: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenMacRow {
    name: String,
    keys: Vec<TokenKeyRow>,
    message: String,
    mac_hex: String,
    expect: String,
    account: Option<String>,
    source: String,
    catches: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenKeyRow {
    secret_hex: String,
    account: String,
}

fn table() -> Table {
    let path = root().join("tests/fixtures/keyring-vectors.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lower-case hex only, decoded here rather than by the filter's own `unhex`: the table's
/// spelling is fixed, and the code under test should not read its own answers.
fn unhex(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("{text:?} is not lower-case hex"),
    };
    assert!(
        text.len().is_multiple_of(2),
        "{text:?} has an odd number of hex digits"
    );
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect()
}

/// A row as a failure names it.
fn label(section: &str, index: usize, name: &str, source: &str, catches: Option<&str>) -> String {
    let mut out = format!("{section}[{index}] {name:?} ({source}");
    if let Some(catches) = catches {
        let _ = write!(out, "; catches {catches}");
    }
    out.push(')');
    out
}

fn assert_none_failed(section: &str, rows: usize, failures: &[String]) {
    assert!(rows > 0, "keyring-vectors.toml has no {section} rows");
    assert!(
        failures.is_empty(),
        "{} of {rows} {section} rows failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

fn keyring(table: &Table) -> Keyring {
    let mut keys = HashMap::new();
    for key in &table.access_keys {
        let previous = keys.insert(
            key.id.clone(),
            AccessKey {
                secret: key.secret.clone(),
                account: key.account.clone(),
            },
        );
        assert!(previous.is_none(), "access key {:?} twice", key.id);
    }
    Keyring::new(keys, Vec::new())
}

fn signing(row: &SignatureRow) -> Signing<'_> {
    let scope = (
        row.date.as_deref(),
        row.region.as_deref(),
        row.service.as_deref(),
    );
    match (row.signing.as_str(), scope) {
        ("rpc-v1", (None, None, None)) => Signing::RpcV1,
        ("acs3", (None, None, None)) => Signing::Acs3,
        ("sigv4", (Some(date), Some(region), Some(service))) => Signing::SigV4(Scope {
            date,
            region,
            service,
        }),
        (other, scope) => panic!(
            "{:?}: signing {other:?} with date, region, service {scope:?} (sigv4 needs all three, the others none)",
            row.name
        ),
    }
}

#[test]
fn every_signature_row_verifies_as_the_table_says() {
    let table = table();
    // One keyring for every row, in file order: its SigV4 signing-key cache carries over from row
    // to row as it does from request to request, which is what the scope-changed rows test.
    let keys = keyring(&table);
    let mut failures = Vec::new();
    for (index, row) in table.signatures.iter().enumerate() {
        let got = keys.verify_signature(
            &row.key_id,
            signing(row),
            row.message.as_bytes(),
            &unhex(&row.mac_hex),
        );
        if got != row.expect {
            failures.push(format!(
                "{}: verify_signature gave {got}, the table says {}",
                label(
                    "signatures",
                    index,
                    &row.name,
                    &row.source,
                    row.catches.as_deref()
                ),
                row.expect
            ));
        }
    }
    assert_none_failed("signatures", table.signatures.len(), &failures);
}

#[test]
fn every_account_row_names_the_account_in_the_table() {
    let table = table();
    let keys = keyring(&table);
    let mut failures = Vec::new();
    for (index, row) in table.accounts.iter().enumerate() {
        let got = keys.account(&row.id);
        if got != row.account {
            failures.push(format!(
                "accounts[{index}] id {:?}: account gave {got:?}, the table says {:?}",
                row.id, row.account
            ));
        }
    }
    assert_none_failed("accounts", table.accounts.len(), &failures);
}

#[test]
fn every_token_mac_row_names_the_owner_in_the_table() {
    let table = table();
    let mut failures = Vec::new();
    for (index, row) in table.token_macs.iter().enumerate() {
        let expected = match (row.expect.as_str(), &row.account) {
            ("unchecked", None) => TokenMac::Unchecked,
            ("unmatched", None) => TokenMac::Unmatched,
            ("verified", Some(account)) => TokenMac::Verified(account.clone()),
            (other, account) => panic!(
                "token_macs[{index}] {:?}: expect {other:?} with account {account:?} (\"verified\" needs an account, the others none)",
                row.name
            ),
        };
        let tokens = row
            .keys
            .iter()
            .map(|key| TokenKey {
                secret: unhex(&key.secret_hex),
                account: key.account.clone(),
            })
            .collect();
        let keys = Keyring::new(HashMap::new(), tokens);
        let got = keys.verify_token_mac(row.message.as_bytes(), &unhex(&row.mac_hex));
        if got != expected {
            failures.push(format!(
                "{}: verify_token_mac gave {got:?}, the table says {expected:?}",
                label(
                    "token_macs",
                    index,
                    &row.name,
                    &row.source,
                    row.catches.as_deref()
                )
            ));
        }
    }
    assert_none_failed("token_macs", table.token_macs.len(), &failures);
}

#[test]
fn the_table_checks_every_scheme_against_a_vendors_own_mac() {
    // Rows computed for the table alone would test the three keyrings only against each other:
    // each scheme must keep at least one positive row whose MAC a vendor or its SDK produced.
    let table = table();
    for scheme in ["rpc-v1", "acs3", "sigv4"] {
        assert!(
            table.signatures.iter().any(|row| row.signing == scheme
                && row.expect
                && (row.source.starts_with("published:") || row.source.starts_with("sdk:"))),
            "keyring-vectors.toml has no published positive {scheme} row"
        );
    }
}
