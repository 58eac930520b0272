// The Node keyring (keyring.mjs, the WIT `keyring` import) against the shared table of keyring
// vectors: node --test test/keyring.test.mjs
//
// The binding computes every MAC here, with node:crypto, so that no secret enters the component's
// memory; the Rust keyring and the Python binding's run the same table, so all three give the
// vendors' published answers rather than merely agreeing with each other. The keyring is called
// directly, with arguments as jco passes them, so this test needs no component.
//
//   TASKGATE_KEYRING_VECTORS  the table (default ../../tests/fixtures/keyring-vectors.toml from
//                             bindings/node)
//   TASKGATE_FILTER_MODULE    the wrapper whose keyring.mjs is tested (default ../index.mjs, this
//                             checkout's); a package name such as taskgate-filter is the package
//                             installed in node_modules beside this file's directory (package.sh
//                             copies this file into a clean project that installed the tarball)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// The keyring that ships beside the wrapper under test (the package exports only its index, so
// the installed copy is reached by its file).
const filterModule = process.env.TASKGATE_FILTER_MODULE || '../index.mjs';
const keyringUrl = new URL('keyring.mjs', import.meta.resolve(filterModule));
const { keyringImport } = await import(keyringUrl.href);
const vectorsPath = process.env.TASKGATE_KEYRING_VECTORS
    ? resolve(process.env.TASKGATE_KEYRING_VECTORS)
    : resolve(packageDir, '../../tests/fixtures/keyring-vectors.toml');

const SCOPE_FIELDS = ['date', 'region', 'service'];

/** Lower-case hex as the table spells it, into the Uint8Array jco passes for a list<u8>. */
function unhex(text) {
    assert.match(text, /^(?:[0-9a-f]{2})*$/, `${JSON.stringify(text)} is not lower-case hex`);
    return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

const utf8 = (text) => new TextEncoder().encode(text);

/** A row as a failure names it: where it is, where it comes from, what it would catch. */
function label(section, index, row) {
    return `${section}[${index}] ${JSON.stringify(row.name)} (${row.source}${row.catches ? `; catches ${row.catches}` : ''})`;
}

function assertNoneFailed(section, rows, failures) {
    assert.ok(rows?.length > 0, `the table has no ${section} rows`);
    assert.equal(failures.length, 0, `${failures.length} of ${rows.length} ${section} rows failed:\n  ${failures.join('\n  ')}`);
}

/** The WIT `signing` variant as jco passes it: { tag }, and for sigv4 { tag, val: scope }. */
function signingOf(row) {
    const present = SCOPE_FIELDS.filter((name) => row[name] !== undefined);
    if (row.signing === 'sigv4') {
        assert.deepEqual(present, SCOPE_FIELDS, `${row.name}: sigv4 needs date, region and service`);
        return { tag: 'sigv4', val: { date: row.date, region: row.region, service: row.service } };
    }
    assert.ok(['rpc-v1', 'acs3'].includes(row.signing), `${row.name}: signing ${row.signing}`);
    assert.deepEqual(present, [], `${row.name}: ${row.signing} takes no scope`);
    return { tag: row.signing };
}

// A missing table fails, naming where it was looked for: it is never a vacuous pass.
assert.ok(existsSync(vectorsPath), `no keyring vectors at ${vectorsPath} (set TASKGATE_KEYRING_VECTORS)`);
const table = parse(readFileSync(vectorsPath, 'utf8'));

function accessKeys() {
    const keys = new Map(table.access_keys.map(({ id, secret, account }) => [id, { secret, account }]));
    assert.equal(keys.size, table.access_keys.length, 'an access key id appears twice');
    return keys;
}

test(`the keyring under test is the one beside TASKGATE_FILTER_MODULE (${filterModule})`, (t) => {
    const file = fileURLToPath(keyringUrl);
    t.diagnostic(`keyring.mjs -> ${file}`);
    if (!process.env.TASKGATE_FILTER_MODULE) {
        assert.equal(file, join(packageDir, 'keyring.mjs'));
    } else if (!/^(\.|\/|file:)/.test(filterModule)) {
        assert.equal(file, join(packageDir, 'node_modules', filterModule, 'keyring.mjs'));
    }
});

test('every signature row verifies as the table says', () => {
    // One keyring for every row, in file order: its SigV4 signing-key cache carries over from row
    // to row as it does from request to request, which is what the scope-changed rows test.
    const keyring = keyringImport(accessKeys(), []);
    const failures = [];
    table.signatures.forEach((row, index) => {
        const got = keyring.verifySignature(row.key_id, signingOf(row), utf8(row.message), unhex(row.mac_hex));
        if (got !== row.expect) {
            failures.push(`${label('signatures', index, row)}: verifySignature gave ${got}, the table says ${row.expect}`);
        }
    });
    assertNoneFailed('signatures', table.signatures, failures);
});

test('every account row names the account in the table', () => {
    const keyring = keyringImport(accessKeys(), []);
    const failures = [];
    table.accounts.forEach((row, index) => {
        // jco passes an absent option<string> as undefined.
        const got = keyring.accessKeyAccount(row.id);
        if (got !== row.account) {
            failures.push(`accounts[${index}] id ${JSON.stringify(row.id)}: gave ${got}, the table says ${row.account}`);
        }
    });
    assertNoneFailed('accounts', table.accounts, failures);
});

test('every token MAC row names the owner in the table', () => {
    const failures = [];
    table.token_macs.forEach((row, index) => {
        assert.ok(['unchecked', 'unmatched', 'verified'].includes(row.expect), `${row.name}: expect ${row.expect}`);
        assert.equal(row.account !== undefined, row.expect === 'verified', `${row.name}: an account goes with verified only`);
        const tokens = row.keys.map((key) => ({ secret: unhex(key.secret_hex), account: key.account }));
        const got = keyringImport(new Map(), tokens).verifyTokenMac(utf8(row.message), unhex(row.mac_hex));
        if (got.tag !== row.expect || got.val !== row.account) {
            failures.push(`${label('token_macs', index, row)}: verifyTokenMac gave ${got.tag} ${got.val}, the table says ${row.expect} ${row.account}`);
        }
    });
    assertNoneFailed('token_macs', table.token_macs, failures);
});
