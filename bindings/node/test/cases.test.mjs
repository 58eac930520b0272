// The policy case files through the Node wrapper: node --test test/cases.test.mjs
//
//   TASKGATE_CASES             the case directory (default ../../tests/cases from bindings/node):
//                              every *.toml under it is a case, except its base configuration
//                              taskgate.toml (looked for in the directory, then its parent)
//   TASKGATE_FAULTS_COMPONENT  the test-faults build of the component (tests/run.sh builds it);
//                              without it the trap test is skipped, saying so
//   TASKGATE_FAULTS_DIST       instead, that build already transpiled (a directory holding
//                              taskgate_filter.js), for a copy of this test that has no build.mjs
//   TASKGATE_FILTER_MODULE     what to test (default ../index.mjs, this checkout's wrapper); a
//                              package name such as taskgate-filter is the package installed in
//                              node_modules beside this file's directory (package.sh copies
//                              this file into a clean project that installed the packed tarball)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'smol-toml';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// The wrapper under test, and where it was loaded from (checked by the first test below).
const filterModule = process.env.TASKGATE_FILTER_MODULE || '../index.mjs';
const filterUrl = import.meta.resolve(filterModule);
const { loadFilter } = await import(filterUrl);
const casesDir = process.env.TASKGATE_CASES
    ? resolve(process.env.TASKGATE_CASES)
    : resolve(packageDir, '../../tests/cases');

// --- the wrapper under test -------------------------------------------------------------------

test(`the wrapper under test is the one TASKGATE_FILTER_MODULE names (${filterModule})`, (t) => {
    const file = fileURLToPath(filterUrl);
    t.diagnostic(`${filterModule} -> ${file}`);
    if (!process.env.TASKGATE_FILTER_MODULE) {
        assert.equal(file, join(packageDir, 'index.mjs'), 'by default the checkout\'s own index.mjs');
    } else if (!/^(\.|\/|file:)/.test(filterModule)) {
        // A package name: the copy npm installed beside this test, never this checkout's files
        // (a package importing itself by name would resolve to its own index.mjs).
        const installed = join(packageDir, 'node_modules', filterModule);
        assert.equal(file, join(installed, 'index.mjs'), `${filterModule} is not the package installed in ${installed}`);
        assert.ok(!lstatSync(installed).isSymbolicLink(), `${installed} is a link, not an installed copy`);
        const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
        assert.equal(manifest.name, filterModule);
        t.diagnostic(`${manifest.name}@${manifest.version}`);
    }
});

// --- the case corpus --------------------------------------------------------------------------

function caseFiles(dir) {
    const found = [];
    const walk = (d) => {
        for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            const path = join(d, entry.name);
            if (entry.isDirectory()) walk(path);
            else if (entry.name.endsWith('.toml') && !(d === dir && entry.name === 'taskgate.toml')) found.push(path);
        }
    };
    walk(dir);
    return found;
}

function baseConfigPath(dir) {
    return [join(dir, 'taskgate.toml'), join(dirname(dir), 'taskgate.toml')].find((p) => existsSync(p));
}

// The [serve] settings a case may set, as host/src/cases.rs allows them: the two the filter
// reads and the mode (shadow mode forwards what it would answer: `expect.forwarded`).
const CASE_SERVE_SETTINGS = ['other_calls', 'temporary_credentials', 'mode'];

/**
 * Base configuration + a case's [config]: limits key by key, key lists replaced whole,
 * serve.other_calls and serve.temporary_credentials (the serve settings the filter reads) and
 * serve.mode.
 */
function mergedConfig(base, overrides = {}) {
    for (const key of Object.keys(overrides)) {
        // `sandbox` (memory, deadline) is the Rust host's; it has no counterpart here
        assert.ok(['limits', 'sandbox', 'access_keys', 'token_keys', 'serve'].includes(key),
            `config.${key}: a case may override limits, sandbox, access_keys, token_keys and serve.${CASE_SERVE_SETTINGS.join(', serve.')}`);
    }
    for (const key of Object.keys(overrides.serve ?? {})) {
        assert.ok(CASE_SERVE_SETTINGS.includes(key),
            `config.serve.${key}: a case may override serve.${CASE_SERVE_SETTINGS.join(', serve.')} only`);
    }
    const serve = { ...base.serve, ...overrides.serve };
    return {
        limits: { ...base.limits, ...overrides.limits },
        access_keys: overrides.access_keys ?? base.access_keys ?? [],
        token_keys: overrides.token_keys ?? base.token_keys ?? [],
        other_calls: serve.other_calls ?? 'authenticate',
        temporary_credentials: serve.temporary_credentials ?? 'refuse',
        mode: serve.mode ?? 'enforce',
    };
}

function filterConfig(config) {
    const limits = {};
    for (const [toml, js] of [['max_body_bytes', 'maxBodyBytes'], ['max_aws_body_bytes', 'maxAwsBodyBytes'],
        ['max_clock_skew_seconds', 'maxClockSkewSeconds']]) {
        if (config.limits[toml] !== undefined) limits[js] = config.limits[toml];
    }
    return {
        accessKeys: new Map(config.access_keys.map((k) => [k.id, { secret: k.secret, account: k.account }])),
        tokenKeys: config.token_keys.map((k) => ({ secret: k.secret, account: k.account })),
        limits,
        otherCalls: config.other_calls,
        temporaryCredentials: config.temporary_credentials,
    };
}

function requestOf(c) {
    const r = c.request;
    assert.ok(r && typeof r === 'object', 'the case has no [request] table');
    assert.ok(!(r.body !== undefined && r.body_base64 !== undefined), '[request] has both body and body_base64');
    assert.ok(Number.isInteger(c.received_at) && c.received_at >= 0, 'received_at must be a non-negative integer');
    return {
        method: r.method,
        pathWithQuery: r.path,
        headers: r.headers ?? [],
        body: r.body_base64 !== undefined ? new Uint8Array(Buffer.from(r.body_base64, 'base64')) : (r.body ?? ''),
        receivedAt: c.received_at,
        requestId: c.request_id,
    };
}

/**
 * A report's fields as text, by the names case files use (the token's fields flattened);
 * absent values left out. The same as `report_fields` of host/src/cases.rs.
 */
function reportFields(report) {
    const fields = {
        dialect: report.dialect,
        action: report.action,
        callback: report.callback,
        request_id: report.requestId,
        access_key_id: report.accessKeyId,
        signature: report.signature,
        task_token: report.taskToken,
        error: report.error,
        cause: report.cause,
        output: report.output,
        execution_id: report.token?.executionId,
        event_id: report.token?.eventId,
        verified: report.token?.verified,
        account: report.token?.account,
    };
    return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}

/** A passed call's fields as text, as `call_fields` of host/src/cases.rs names them. */
function callFields(call) {
    return {
        dialect: call.dialect,
        action: call.action,
        request_id: call.requestId,
        access_key_id: call.accessKeyId ?? '(absent)',
        signature: call.signature ?? '(absent)',
    };
}

function describeVerdict(verdict) {
    if (verdict.tag === 'reject') {
        const { status, code, body } = verdict.val;
        return `reject ${status} ${code} ${new TextDecoder().decode(body)}`;
    }
    return `${verdict.tag} ${JSON.stringify(verdict.val, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`;
}

/**
 * The edge's answer under a case's [memory] (the store's state before the request), as
 * `Memory::answer` of host/src/cases.rs gives it: rate, then nonce, then ledger, for an accepted
 * and authenticated request only; undefined when the request goes on. A heartbeat
 * (`recall.settles` false) consults the ledger, so a settled task answers it, but it never waits
 * on a busy one.
 */
function memoryAnswer(memory, verdict) {
    if (!memory || verdict.tag === 'reject') return undefined;
    const authenticated = verdict.tag === 'forward' || verdict.val.accessKeyId !== undefined;
    if (!authenticated) return undefined;
    const { recall } = verdict.val;
    if (memory.rate_limited !== undefined) return { tag: 'rate-limited', val: memory.rate_limited };
    if (memory.nonce_claimed && recall.nonce !== undefined) return { tag: 'nonce-used' };
    if (verdict.tag === 'forward' && recall.task !== undefined) {
        if (memory.settled) return { tag: 'task-settled', val: verdict.val.taskToken };
        if (memory.busy && recall.settles) return { tag: 'task-busy' };
    }
    return undefined;
}

/**
 * Whether the gateway forwards the request in `mode`: what passes, and in shadow mode what it
 * would answer too (as host/src/cases.rs decides `forwarded`).
 */
function assertForwarded(verdict, expect, mode) {
    assert.ok(['enforce', 'shadow'].includes(mode), `serve.mode = ${JSON.stringify(mode)}`);
    if (expect?.forwarded === undefined) return;
    const forwarded = mode === 'shadow' || verdict.tag !== 'reject';
    assert.equal(forwarded, expect.forwarded, `forwarded; got ${describeVerdict(verdict)}`);
}

function assertVerdict(verdict, expect) {
    assert.ok(expect && ['forward', 'pass', 'reject'].includes(expect.verdict),
        '[expect] verdict must be "forward", "pass" or "reject"');
    const seen = describeVerdict(verdict);
    assert.equal(verdict.tag, expect.verdict, `expected ${expect.verdict}, got ${seen}`);
    if (expect.verdict === 'reject') {
        assert.ok(Number.isInteger(expect.status) && typeof expect.code === 'string',
            'a reject case needs [expect] status and code');
        assert.equal(verdict.val.status, expect.status, `status; got ${seen}`);
        assert.equal(verdict.val.code, expect.code, `code; got ${seen}`);
        assert.ok(verdict.val.body instanceof Uint8Array, 'response body is a Uint8Array');
        if (expect.body !== undefined) {
            assert.equal(new TextDecoder().decode(verdict.val.body), expect.body, 'response body');
        }
    } else if (expect.verdict === 'pass') {
        const fields = callFields(verdict.val);
        for (const [name, want] of Object.entries(expect.call ?? {})) {
            assert.equal(fields[name] ?? '(absent)', String(want), `call.${name}`);
        }
    } else if (expect.report !== undefined) {
        const fields = reportFields(verdict.val);
        for (const [name, want] of Object.entries(expect.report)) {
            assert.equal(fields[name] ?? '(absent)', String(want), `report.${name}`);
        }
    }
}

const dirFound = existsSync(casesDir) && statSync(casesDir).isDirectory();
const files = dirFound ? caseFiles(casesDir) : [];
const basePath = dirFound ? baseConfigPath(casesDir) : undefined;

if (!dirFound || files.length === 0 || !basePath) {
    // Never pass vacuously: a missing or empty corpus is a failure, named.
    test('case corpus', () => {
        assert.fail(!dirFound ? `no case directory at ${casesDir} (set TASKGATE_CASES)`
            : files.length === 0 ? `no *.toml case files under ${casesDir}`
                : `no base configuration taskgate.toml in ${casesDir} or its parent`);
    });
} else {
    const base = parse(readFileSync(basePath, 'utf8'));
    test(`case corpus ${casesDir}: ${files.length} cases`, async (t) => {
        for (const file of files) {
            const name = relative(casesDir, file);
            await t.test(name, async () => {
                const c = parse(readFileSync(file, 'utf8'));
                const config = mergedConfig(base, c.config ?? {});
                const filter = await loadFilter(filterConfig(config));
                const request = requestOf(c);
                let verdict = filter.check(request);
                const failure = memoryAnswer(c.memory, verdict);
                if (failure) verdict = { tag: 'reject', val: filter.respond(request, failure) };
                assertVerdict(verdict, c.expect);
                assertForwarded(verdict, c.expect, config.mode);
            });
        }
    });
}

// --- robustness -------------------------------------------------------------------------------

const demo = {
    accessKeys: {
        LTAI5tDemoAccessKeyId: { secret: 'demo-access-key-secret', account: '1234567890123456' },
        AKIDEXAMPLE: { secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', account: '123456789012' },
    },
    tokenKeys: [{ secret: 'demo-token-key', account: '1234567890123456' }],
};

function assertWellFormedVerdict(verdict) {
    assert.ok(['forward', 'pass', 'reject'].includes(verdict.tag), `a verdict: ${verdict?.tag}`);
    if (verdict.tag === 'reject') {
        assert.ok(Number.isInteger(verdict.val.status) && verdict.val.status >= 400, 'an error status');
        assert.equal(typeof verdict.val.code, 'string');
        assert.ok(verdict.val.body instanceof Uint8Array);
    }
}

test('odd requests get a verdict, never an exception', async () => {
    const filter = await loadFilter(demo);
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const odd = [
        { method: '', pathWithQuery: '', headers: [], body: new Uint8Array(0), receivedAt: 0 },
        { method: 'POST', pathWithQuery: '/', headers: [], body: allBytes, receivedAt: 1795334400 },
        { method: 'POST', pathWithQuery: '/?%zz&&=&Action', headers: [['Content-Type', 'application/x-www-form-urlencoded']],
            body: allBytes, receivedAt: 2n ** 64n - 1n },
        { method: 'POST', pathWithQuery: '/', headers: [['X-Amz-Target', 'AWSStepFunctions.SendTaskFailure'],
            ['Content-Type', 'application/x-amz-json-1.0'], ['Authorization', '\u0000\ud800\u00ff']],
        body: allBytes, receivedAt: 1795334400, requestId: '' },
        { method: 'GET\r\n', pathWithQuery: '\ud800', headers: Array.from({ length: 500 }, (_, i) => [`x-${i}`, 'v'.repeat(i)]),
            body: 'é'.repeat(100000), receivedAt: 1795334400 },
        { method: 'POST', pathWithQuery: '/', headers: [['X-Amz-Target', 'AWSStepFunctions.SendTaskFailure']],
            body: new Uint8Array(2 * 1024 * 1024).fill(0x7b), receivedAt: 1795334400 },
    ];
    for (const request of odd) {
        assertWellFormedVerdict(filter.check(request));
    }
});

test('decodeToken gives ok or err, never an exception for a string', async () => {
    const filter = await loadFilter(demo);
    const token = 'djEjYSMyYjBjNmE0ZS04ZjVlLTRkMWEtOWMzYi03ZTZmNWE0ZDNjMmIjNDIjN3RRdUFyUlJsYVBXSjh1QWNmWWpkODdWNXdvPQ==';
    const ok = filter.decodeToken(token);
    assert.equal(ok.tag, 'ok');
    assert.equal(ok.val.eventId, 42n);
    assert.equal(ok.val.verified, true);
    assert.equal(ok.val.account, '1234567890123456');
    for (const bad of ['', 'zz', '\ud800', Buffer.from('v1#a#x#1#mac').toString('base64')]) {
        assert.equal(filter.decodeToken(bad).tag, 'err', bad);
    }
    const otherKey = await loadFilter({ ...demo, tokenKeys: [{ secret: new Uint8Array([1, 2, 3]), account: '1' }] });
    assert.deepEqual(otherKey.decodeToken(token), { tag: 'err', val: { tag: 'unverified' } });
});

test('a request object of the wrong shape is a TypeError (a programming error)', async () => {
    const filter = await loadFilter(demo);
    const good = { method: 'POST', pathWithQuery: '/', headers: [], body: '', receivedAt: 0 };
    for (const change of [{ receivedAt: -1 }, { receivedAt: 1.5 }, { receivedAt: undefined }, { headers: [['a']] },
        { body: 42 }, { method: undefined }]) {
        assert.throws(() => filter.check({ ...good, ...change }), TypeError, JSON.stringify(change));
    }
});

test('limits left unset are the component\'s own defaults', async () => {
    const filter = await loadFilter(demo);
    const request = { method: 'POST', pathWithQuery: '/', headers: [['Host', 'cn-hangzhou.fnf.aliyuncs.com']],
        body: 'x'.repeat(65537), receivedAt: 1795334400 };
    const verdict = filter.check(request);
    assert.equal(verdict.val.code, 'EntityTooLarge');
    assert.match(new TextDecoder().decode(verdict.val.body), /65536/);
    const smaller = await loadFilter({ ...demo, limits: { maxBodyBytes: 100 } });
    assert.match(new TextDecoder().decode(smaller.check(request).val.body), /\(100 bytes\)/);
});

test('respond renders the failures a host finds itself, in the request\'s dialect', async () => {
    const filter = await loadFilter(demo);
    const alibaba = { method: 'POST', pathWithQuery: '/', headers: [['Host', 'cn-hangzhou.fnf.aliyuncs.com']],
        body: 'ignored', receivedAt: 1795334400, requestId: 'R-2' };
    const aws = { ...alibaba, headers: [['X-Amz-Target', 'CodePipeline_20150709.PutJobFailureResult']] };
    const cases = [
        [alibaba, { tag: 'throttled', val: 64 }, 429, 'ResourceThrottled', /64/],
        [aws, { tag: 'throttled', val: 64 }, 400, 'ThrottlingException', /64/],
        [alibaba, { tag: 'entity-too-large', val: 65536 }, 400, 'EntityTooLarge', /65536/],
        [aws, { tag: 'entity-too-large', val: 1048576 }, 413, 'RequestEntityTooLarge', /./],
        [alibaba, { tag: 'malformed', val: 'more than one Host header' }, 400, 'InvalidArgument', /more than one Host/],
        [alibaba, { tag: 'no-route', val: 'evil.example' }, 400, 'InvalidArgument', /evil\.example/],
        [aws, { tag: 'slow-client' }, 408, 'RequestTimeout', /./],
        [aws, { tag: 'internal' }, 500, 'InternalFailure', /./],
        [alibaba, { tag: 'nonce-used' }, 400, 'SignatureNonceUsed', /nonce has been used/],
        [alibaba, { tag: 'task-settled', val: 'tok-9' }, 400, 'TaskAlreadyCompleted', /Task tok-9 has already completed/],
        [aws, { tag: 'task-settled', val: 'job-9' }, 400, 'InvalidJobStateException', /job-9/],
        [alibaba, { tag: 'task-busy' }, 409, 'TaskInvalidState', /please retry/],
        [alibaba, { tag: 'rate-limited', val: 3 }, 429, 'ResourceThrottled', /3 s/],
        [aws, { tag: 'rate-limited', val: 3 }, 400, 'ThrottlingException', /Rate exceeded/],
        [alibaba, { tag: 'unverifiable', val: 'STS.NTemporaryKeyId' }, 403, 'InvalidAccessKeyID', /STS\.NTemporaryKeyId/],
        [aws, { tag: 'unverifiable', val: 'ASIAIOSFODNN7EXAMPLE' }, 400, 'UnrecognizedClientException', /security token/],
    ];
    for (const [request, failure, status, code, says] of cases) {
        const response = filter.respond(request, failure);
        const what = `${failure.tag} (${request.headers[0][0]})`;
        assert.equal(response.status, status, what);
        assert.equal(response.code, code, what);
        assert.match(new TextDecoder().decode(response.body), says, what);
    }
    // AWS's own content type for CodePipeline, Alibaba's request id as given.
    assert.deepEqual(filter.respond(aws, { tag: 'internal' }).headers[0], ['content-type', 'application/x-amz-json-1.1']);
    const body = JSON.parse(new TextDecoder().decode(filter.respond(alibaba, { tag: 'internal' }).body));
    assert.equal(body.RequestId, 'R-2');
});

test('a report carries the keys a host with memory claims, and settles judges the upstream\'s answer', async () => {
    const filter = await loadFilter(demo);
    const accepted = parse(readFileSync(join(casesDir, 'fnf', 'forward_acs3.toml'), 'utf8'));
    const verdict = filter.check(requestOf(accepted));
    assert.equal(verdict.tag, 'forward');
    const report = verdict.val;
    assert.match(report.recall.nonce, /^nonce:[0-9a-f]{64}$/);
    assert.match(report.recall.task, /^task:[0-9a-f]{64}$/);
    assert.equal(report.recall.nonceSeconds, 1800);
    // a failure report closes its task: the host holds and settles it
    assert.equal(report.callback, 'failed');
    assert.equal(report.recall.settles, true);
    const encode = (text) => new TextEncoder().encode(text);
    assert.equal(filter.settles('fnf', 200, encode('{}')), true);
    assert.equal(filter.settles('fnf', 400, encode('{"Code":"TaskAlreadyCompleted"}')), true);
    assert.equal(filter.settles('fnf', 400, encode('{"Code":"InvalidArgument"}')), false);
    assert.equal(filter.settles('states', 400, encode('{"__type":"TaskTimedOut"}')), true);
    assert.equal(filter.settles('states', 503, encode('{"__type":"TaskTimedOut"}')), false);
});

// An access key id the corpus's keyring does not hold, in the form of AWS's temporary ones.
const TEMPORARY_KEY_ID = 'ASIAIOSFODNN7EXAMPLE';

/**
 * A SigV4 request as a worker under an IAM role sends it: its Authorization's Credential names
 * `keyId` and it carries the session token `token` (null: none). Its signature keeps its
 * form (what is checked when the MAC is left to the service).
 */
function withTemporaryCredentials(request, { keyId = TEMPORARY_KEY_ID, token = 'FwoGZXIvYXdzEXAMPLE' } = {}) {
    const headers = request.headers.map(([name, value]) => [name,
        name.toLowerCase() === 'authorization' ? value.replace(/Credential=[^/]*\//, `Credential=${keyId}/`) : value]);
    if (token !== null) headers.push(['X-Amz-Security-Token', token]);
    return { ...request, headers };
}

test('temporary credentials are refused by default, and left to the service under temporaryCredentials: \'forward\'', async () => {
    const base = parse(readFileSync(baseConfigPath(casesDir), 'utf8'));
    const corpus = requestOf(parse(readFileSync(
        join(casesDir, 'states', 'send_task_failure_as_boto3_sends_it_is_forwarded.toml'), 'utf8')));
    const temporary = withTemporaryCredentials(corpus);
    assert.ok(base.access_keys.every((k) => k.id !== TEMPORARY_KEY_ID));

    // the default: an unknown key, session token or not
    const refused = (await loadFilter(filterConfig(mergedConfig(base)))).check(temporary);
    assert.equal(refused.tag, 'reject', describeVerdict(refused));
    assert.equal(refused.val.status, 400);
    assert.equal(refused.val.code, 'UnrecognizedClientException');
    const explicit = await loadFilter(filterConfig(mergedConfig(base, { serve: { temporary_credentials: 'refuse' } })));
    assert.deepEqual(explicit.check(temporary), refused);

    const forwarding = await loadFilter(filterConfig(mergedConfig(base, { serve: { temporary_credentials: 'forward' } })));
    const verdict = forwarding.check(temporary);
    assert.equal(verdict.tag, 'forward', describeVerdict(verdict));
    const report = verdict.val;
    assert.equal(report.signature, 'service');
    assert.equal(report.accessKeyId, TEMPORARY_KEY_ID);
    assert.equal(report.action, 'SendTaskFailure');
    assert.equal(report.taskToken, 'tok-123');
    // it may be a forgery: it never holds its task, only consults it
    assert.match(report.recall.task, /^task:/);
    assert.equal(report.recall.settles, false);

    // under forward too: no session token is an unknown key; a key the keyring holds is verified
    const noToken = forwarding.check(withTemporaryCredentials(corpus, { token: null }));
    assert.equal(noToken.tag, 'reject');
    assert.equal(noToken.val.code, 'UnrecognizedClientException');
    const held = forwarding.check(corpus);
    assert.equal(held.tag, 'forward');
    assert.equal(held.val.signature, 'edge');
    assert.equal(held.val.recall.settles, true);
    // a host that cannot forward it answers as the service would for the unknown key
    const answer = forwarding.respond(temporary, { tag: 'unverifiable', val: report.accessKeyId });
    assert.equal(answer.status, refused.val.status);
    assert.equal(answer.code, refused.val.code);

    await assert.rejects(loadFilter({ ...demo, temporaryCredentials: 'allow' }), TypeError);
});

test('a passed call\'s signature: \'edge\' once authenticated, absent when passed unchecked', async () => {
    const request = requestOf(parse(readFileSync(
        join(casesDir, 'states', 'describe_execution_is_passed_once_authenticated.toml'), 'utf8')));
    const authenticated = (await loadFilter(demo)).check(request);
    assert.equal(authenticated.tag, 'pass', describeVerdict(authenticated));
    assert.equal(authenticated.val.signature, 'edge');
    const unchecked = (await loadFilter({ otherCalls: 'forward' })).check(request);
    assert.equal(unchecked.tag, 'pass', describeVerdict(unchecked));
    assert.equal(unchecked.val.accessKeyId, undefined);
    assert.equal(unchecked.val.signature, undefined);
});

test('a component trap is the vendor\'s 500, and the next check gets a fresh instance', async (t) => {
    const faults = process.env.TASKGATE_FAULTS_COMPONENT;
    let dist = process.env.TASKGATE_FAULTS_DIST;
    if (dist) {
        dist = resolve(dist);
        assert.ok(existsSync(join(dist, 'taskgate_filter.js')), `no transpiled component in TASKGATE_FAULTS_DIST=${dist}`);
    } else if (!faults) {
        t.skip('TASKGATE_FAULTS_COMPONENT is not set (tests/run.sh builds and sets it)');
        return;
    } else {
        assert.ok(existsSync(faults), `no component at TASKGATE_FAULTS_COMPONENT=${faults}`);
        dist = mkdtempSync(join(tmpdir(), 'taskgate-faults-'));
        t.after(() => rmSync(dist, { recursive: true, force: true }));
        const build = spawnSync(process.execPath, [join(packageDir, 'build.mjs'), dist],
            { env: { ...process.env, TASKGATE_COMPONENT: faults }, encoding: 'utf8' });
        assert.equal(build.status, 0, `transpiling the fault build failed: ${build.stderr}`);
    }

    const filter = await loadFilter({ ...demo, dist: pathToFileURL(`${dist}/`) });
    const request = (body, headers = [['Host', '1234567890123456.cn-hangzhou.fnf.aliyuncs.com']]) =>
        ({ method: 'POST', pathWithQuery: '/', headers, body, receivedAt: 1795334400, requestId: 'R-1' });

    const alibaba = filter.check(request('taskgate-test-trap'));
    assert.equal(alibaba.tag, 'reject');
    assert.equal(alibaba.val.status, 500);
    assert.equal(alibaba.val.code, 'InternalServerError');
    assert.equal(JSON.parse(new TextDecoder().decode(alibaba.val.body)).RequestId, 'R-1');
    assert.ok(alibaba.val.failure instanceof WebAssembly.RuntimeError, 'the trap is kept for logs');

    const aws = filter.check(request('taskgate-test-trap', [['X-Amz-Target', 'AWSStepFunctions.SendTaskFailure']]));
    assert.equal(aws.val.status, 500);
    assert.equal(aws.val.code, 'InternalFailure');
    assert.deepEqual(aws.val.headers[0], ['content-type', 'application/x-amz-json-1.0']);

    // the instance that trapped is gone: an ordinary request gets the filter's own verdict
    const after = filter.check(request('Error=x'));
    assert.equal(after.tag, 'reject');
    assert.notEqual(after.val.status, 500);
});
