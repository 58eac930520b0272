// Shared pieces of the Node SDK end-to-end tests and of the fixture capture script:
// the SDK layouts, task tokens, the recorder (tests/sdk/recorder.py run as a child process),
// a minimal raw-HTTP parser, config files and the `taskgate check` runner; `taskgate serve` as a
// child process; the AWS SDK v3 clients with their test values and checks; byte-keeping taps.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SDK_DIR = path.resolve(HERE, '..');
export const REPO_ROOT = path.resolve(SDK_DIR, '..', '..');

export const ACCESS_KEY_ID = 'LTAItestkey';
export const ACCESS_KEY_SECRET = 'test-secret';
export const WRONG_SECRET = 'not-the-test-secret';
export const ACCOUNT = '1234567890123456';
export const TOKEN_KEY = 'token-key-one';
export const RECORDER_EVENT_ID = 7;

// Values that exercise the encoders: space, `+`, `*`, `~`, `%`, `&`, `=`, `/`, non-ASCII, emoji.
export const ERROR = 'Worker.Crashed (exit 1+1)';
export const CAUSE = 'Disk full: 50% used + 2*3 ~ retry café 🚀 a/b=c&d';

export const FIXTURE_EXECUTION_ID = '2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b';
export const FIXTURE_EVENT_ID = 42;

// Every request of these tests goes to 127.0.0.1 only.
for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) {
  delete process.env[name];
}
process.env.NO_PROXY = process.env.no_proxy = '127.0.0.1,localhost';

// ---------------------------------------------------------------------------------------------
// task tokens

/** Base64 of `v1#a#<uuid>#<event id>#<Base64 HMAC-SHA1(key, "v1#a#<uuid>#<event id>")>`. */
export function makeTaskToken(executionId, eventId, key = TOKEN_KEY) {
  const body = `v1#a#${executionId}#${eventId}`;
  const mac = crypto.createHmac('sha1', Buffer.from(key, 'utf8')).update(body, 'utf8').digest('base64');
  return Buffer.from(`${body}#${mac}`, 'ascii').toString('base64');
}

// ---------------------------------------------------------------------------------------------
// recorder

/**
 * Starts tests/sdk/recorder.py; resolves to { port, endpoint, takeCaptures(), stop() }.
 * `answer: 'aws'` makes it answer as an AWS JSON service (200, `{}`, x-amzn-RequestId).
 */
export async function startRecorder({ answer = 'fnf', tls } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-recorder-'));
  const python = process.env.PYTHON || 'python3';
  const args = [path.join(SDK_DIR, 'recorder.py'), '--out-dir', dir, '--answer', answer];
  // tls: { cert, key } (PEM paths): serve HTTPS (HTTP/1.1) instead of plain HTTP.
  if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  const child = spawn(python, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`recorder exited early (${code})`)));
  });
  rl.close();
  const { port } = JSON.parse(line);
  const seen = new Set();
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    /** Captures written since the last call: [{ raw: Buffer, requestId }]. */
    takeCaptures() {
      const names = fs.readdirSync(dir).filter((n) => n.endsWith('.http') && !seen.has(n)).sort();
      return names.map((n) => {
        seen.add(n);
        const meta = JSON.parse(fs.readFileSync(path.join(dir, n.replace(/\.http$/, '.json')), 'utf8'));
        return { raw: fs.readFileSync(path.join(dir, n)), requestId: meta.request_id };
      });
    },
    async stop() {
      child.stdin.end();
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// raw HTTP

function formDecode(buf) {
  const pairs = [];
  const text = Buffer.isBuffer(buf) ? buf.toString('latin1') : buf;
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const [k, v] = i < 0 ? [part, ''] : [part.slice(0, i), part.slice(i + 1)];
    const dec = (x) => {
      const bytes = [];
      const s = x.replace(/\+/g, ' ');
      for (let j = 0; j < s.length; j++) {
        if (s[j] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(j + 1, j + 3))) {
          bytes.push(parseInt(s.slice(j + 1, j + 3), 16));
          j += 2;
        } else {
          bytes.push(s.charCodeAt(j));
        }
      }
      return Buffer.from(bytes).toString('utf8');
    };
    pairs.push([dec(k), dec(v)]);
  }
  return pairs;
}

/** Parses one raw request: { method, path, rawQuery, headers: [[lower-name, value]], header(n), query, form, body, chunked }. */
export function parseRaw(raw) {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no end of headers');
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const [method, target, version] = lines[0].split(' ');
  if (version !== 'HTTP/1.1') throw new Error(`unexpected ${version}`);
  const headers = lines.slice(1).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  const header = (n) => (headers.find(([k]) => k === n) || [])[1];
  let rest = raw.subarray(end + 4);
  const chunked = /chunked/i.test(header('transfer-encoding') || '');
  let body;
  if (chunked) {
    const parts = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, nl).toString('latin1').split(';')[0], 16);
      if (size === 0) break;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(header('content-length') || '0');
    if (rest.length !== length) throw new Error('body length differs from Content-Length');
    body = rest;
  }
  const q = target.indexOf('?');
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  const isForm = /x-www-form-urlencoded/.test(header('content-type') || '');
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    rawQuery,
    headers,
    header,
    body,
    chunked,
    query: Object.fromEntries(formDecode(rawQuery)),
    form: isForm ? Object.fromEntries(formDecode(body)) : {},
  };
}

// ---------------------------------------------------------------------------------------------
// the SDK layouts

function packageVersion(name) {
  return require(`${name}/package.json`).version;
}

function sendPopCore(endpoint, token, error, cause) {
  return sendPopCoreAs(ACCESS_KEY_SECRET, endpoint, token, error, cause);
}

// There is no tea-generated fnf client for Node; @alicloud/openapi-client's generic `callApi` with
// the parameters the generated clients use (the Python fnf client's, verbatim) is the Node tea path.
function sendTea(endpoint, token, error, cause, signatureAlgorithm) {
  return sendTeaAs(ACCESS_KEY_SECRET, endpoint, token, error, cause, signatureAlgorithm);
}

export const LAYOUTS = [
  {
    name: 'node-popcore-rpc',
    package: '@alicloud/fnf-2019-03-15',
    description:
      "@alicloud/pop-core RPCClient, RPC v1: POST / with no query; every parameter, Signature included, in the form body (space as %20)",
    send: sendPopCore,
  },
  {
    name: 'node-tea-rpc',
    package: '@alicloud/openapi-client',
    description:
      'tea openapi-client generic callApi, signatureAlgorithm v2 (RPC v1): common params + TaskToken in query, Error/Cause form body, Transfer-Encoding: chunked',
    send: (e, t, er, ca) => sendTea(e, t, er, ca, 'v2'),
  },
  {
    name: 'node-tea-acs3',
    package: '@alicloud/openapi-client',
    description:
      'tea openapi-client generic callApi, ACS3-HMAC-SHA256: TaskToken in query, Error/Cause form body, x-acs-* headers, Transfer-Encoding: chunked',
    send: (e, t, er, ca) => sendTea(e, t, er, ca, 'ACS3-HMAC-SHA256'),
  },
].map((l) => ({ ...l, sdk: `${l.package}@${packageVersion(l.package)}` }));

export function packageVersions() {
  const names = ['@alicloud/fnf-2019-03-15', '@alicloud/pop-core', '@alicloud/openapi-client', '@alicloud/tea-typescript'];
  return Object.fromEntries(names.map((n) => [n, packageVersion(n)]));
}

// ---------------------------------------------------------------------------------------------
// taskgate

/**
 * The test configuration: the Alibaba test key and token key, and `extraAccessKeys`
 * (`[id, secret, account]` each, e.g. AWS_ACCESS_KEYS) after it.
 */
export function configToml(secret = ACCESS_KEY_SECRET, { extraAccessKeys = [], maxBodyBytes = 65536 } = {}) {
  const str = (s) => JSON.stringify(String(s)).replace(/\u007f/g, '\\u007f');
  const extra = extraAccessKeys
    .map(([id, keySecret, account]) => `\n[[access_keys]]\nid = ${str(id)}\nsecret = ${str(keySecret)}\naccount = ${str(account)}\n`)
    .join('');
  return `[limits]
max_body_bytes = ${Math.trunc(maxBodyBytes)}
max_clock_skew_seconds = 900

[[access_keys]]
id = "${ACCESS_KEY_ID}"
secret = "${secret}"
account = "${ACCOUNT}"
${extra}
[[token_keys]]
account = "${ACCOUNT}"
secret = "${TOKEN_KEY}"
`;
}

export function taskgateBin() {
  return process.env.TASKGATE_BIN || path.join(REPO_ROOT, 'target', 'release', 'taskgate');
}

/** Runs `taskgate check --config CONFIG FILE`: { exitCode, output, stdout, stderr }. */
export function taskgateCheck(configPath, requestPath) {
  const bin = taskgateBin();
  if (!fs.existsSync(bin)) throw new Error(`taskgate binary not found at ${bin}: build it or set TASKGATE_BIN`);
  const proc = spawnSync(bin, ['check', '--config', configPath, requestPath], {
    encoding: 'utf8',
    timeout: 300_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.error) throw proc.error;
  let output;
  try {
    output = JSON.parse(proc.stdout);
  } catch {
    throw new Error(`taskgate printed no JSON (exit ${proc.status}): stdout=${proc.stdout} stderr=${proc.stderr}`);
  }
  return { exitCode: proc.status, output, stdout: proc.stdout, stderr: proc.stderr };
}

// ---------------------------------------------------------------------------------------------
// `taskgate serve` (used by serve.test.mjs; everything above is unchanged)

import net from 'node:net';

export const SERVE_STARTUP_MS = 20_000;
export const SERVE_STOP_MS = 20_000;
export const SERVE_UPSTREAM_TIMEOUT_MS = 2000;

/** The marker the test-faults build of the component traps on when it sees it in a body. */
export const TRAP_MARKER = 'taskgate-test-trap';

export const FAULTS_COMPONENT_ENV = 'TASKGATE_FAULTS_COMPONENT';
const FAULTS_TARGET_DIR = 'target/component-build-faults';
// `--profile component` already implies an optimised build (cargo refuses it together with --release).
export const FAULTS_COMPONENT_BUILD = [
  'build', '-p', 'taskgate-filter', '--features', 'test-faults',
  '--target', 'wasm32-wasip2', '--profile', 'component', '--target-dir', FAULTS_TARGET_DIR,
];
const FAULTS_COMPONENT_OUTPUT = `${FAULTS_TARGET_DIR}/wasm32-wasip2/component/taskgate_filter.wasm`;
let faultsComponentPath;

/**
 * `configToml(secret, ...)` plus a `[serve]` table on 127.0.0.1 port 0 (admin too). `upstream`
 * (`http://127.0.0.1:PORT`) selects forward mode; without it serve runs its sink. `upstreams`
 * ({ dialect: url }, dialects `fnf`, `states`, `swf`, `codepipeline`) is the `[serve.upstreams]`
 * table, which overrides `upstream` per dialect.
 */
export function serveConfigToml({
  secret = ACCESS_KEY_SECRET,
  upstream,
  sinkPath,
  upstreamTimeoutMs = SERVE_UPSTREAM_TIMEOUT_MS,
  upstreams,
  extraAccessKeys = [],
  maxBodyBytes = 65536,
  extra = '',
  // The body of the [store] table: these suites send one task token many times to see each call
  // forwarded, so by default the gateway remembers nothing.
  store = 'kind = "none"',
} = {}) {
  // A JSON string is a valid TOML basic string once DEL is escaped too.
  const str = (s) => JSON.stringify(String(s)).replace(/\u007f/g, '\\u007f');
  const lines = ['[serve]', 'listen = "127.0.0.1:0"', 'admin_listen = "127.0.0.1:0"'];
  if (upstream !== undefined) lines.push(`upstream = ${str(upstream)}`);
  lines.push(`upstream_timeout_ms = ${Math.trunc(upstreamTimeoutMs)}`);
  if (sinkPath !== undefined) lines.push(`sink_path = ${str(sinkPath)}`);
  // Raw TOML inside [serve]: keys first, then tables such as [[serve.routes]].
  if (extra) lines.push(extra.replace(/\n$/, ''));
  if (upstreams && Object.keys(upstreams).length > 0) {
    lines.push('', '[serve.upstreams]');
    for (const [dialect, url] of Object.entries(upstreams)) lines.push(`${dialect} = ${str(url)}`);
  }
  const memory = `[store]\n${store.replace(/\n$/, '')}\n`;
  return `${configToml(secret, { extraAccessKeys, maxBodyBytes })}\n${memory}\n${lines.join('\n')}\n`;
}

const LISTENING = /^listening on (https?):\/\/(127\.0\.0\.1:(\d+))$/;
const ADMIN = /^admin on http:\/\/(127\.0\.0\.1:(\d+))$/;

/**
 * Starts `taskgate serve --config CONFIG [--component PATH]` and waits (at most
 * `startupTimeoutMs`) for its stdout lines `listening on http(s)://127.0.0.1:PORT` and
 * `admin on http://127.0.0.1:PORT`; kills it if they do not come. Resolves to
 * { endpoint ('127.0.0.1:PORT'), port, scheme, url, adminEndpoint, adminUrl, stdoutLines, stderr(), logLines(), stop() }.
 */
export async function startServe(configPath, { component, startupTimeoutMs = SERVE_STARTUP_MS } = {}) {
  const bin = taskgateBin();
  if (!fs.existsSync(bin)) throw new Error(`taskgate binary not found at ${bin}: build it or set TASKGATE_BIN`);
  const args = ['serve', '--config', configPath];
  if (component) args.push('--component', component);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const stdoutLines = [];
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const rl = readline.createInterface({ input: child.stdout });
  const diagnostics = () => `stdout so far: ${JSON.stringify(stdoutLines)}\nstderr (tail):\n${stderr.slice(-4000)}`;

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`taskgate serve printed no listening/admin lines within ${startupTimeoutMs} ms`)),
      startupTimeoutMs,
    );
    rl.on('line', (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length === 2) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`taskgate serve exited (${code ?? signal}) before printing its listening/admin lines`));
    });
  });

  let listen;
  let admin;
  try {
    await ready;
    listen = LISTENING.exec(stdoutLines[0]);
    if (!listen) throw new Error(`first stdout line is not 'listening on http(s)://127.0.0.1:PORT': ${JSON.stringify(stdoutLines[0])}`);
    admin = ADMIN.exec(stdoutLines[1]);
    if (!admin) throw new Error(`second stdout line is not 'admin on http://127.0.0.1:PORT': ${JSON.stringify(stdoutLines[1])}`);
    if (Number(listen[3]) === 0 || Number(admin[2]) === 0) throw new Error('serve printed port 0');
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw new Error(`${e.message}\n${diagnostics()}`);
  }

  return {
    endpoint: listen[2],
    port: Number(listen[3]),
    /** 'https' with TLS on the listener ([[serve.tls.certificates]]), else 'http'. */
    scheme: listen[1],
    url: `${listen[1]}://${listen[2]}`,
    adminEndpoint: admin[1],
    adminUrl: `http://${admin[1]}`,
    stdoutLines,
    stderr: () => stderr,
    diagnostics,
    /** The stderr lines that are JSON objects. */
    logLines() {
      return stderr
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return undefined;
          }
        })
        .filter((o) => o && typeof o === 'object' && !Array.isArray(o));
    },
    /** SIGTERM, then wait: resolves to { code, signal }; kills it and throws after `timeoutMs`. */
    async stop(timeoutMs = SERVE_STOP_MS) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      });
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (result === null) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`taskgate serve did not exit within ${timeoutMs} ms of SIGTERM (killed)\n${diagnostics()}`);
      }
      return result;
    },
  };
}

/**
 * Runs `fn(serve)` against a fresh `taskgate serve`, then stops it with SIGTERM and (when `fn`
 * did not throw) asserts exit code 0. When `fn` throws, the process is only made to go away.
 */
export async function withServe(configPath, opts, fn) {
  const serve = await startServe(configPath, opts);
  let result;
  try {
    result = await fn(serve);
  } catch (e) {
    try {
      await serve.stop();
    } catch {
      // the original failure matters more
    }
    throw e;
  }
  const { code, signal } = await serve.stop();
  if (code !== 0) {
    throw new Error(`taskgate serve exited with ${code ?? signal} after SIGTERM, not 0\n${serve.diagnostics()}`);
  }
  return result;
}

/**
 * The end of a suite that shares one `taskgate serve` (from `startServe`) and its recorders:
 * SIGTERM, asserting exit code 0, then the recorders stopped even when that fails. Either may be
 * unset (a `before` that failed half-way).
 */
export async function stopServeAndRecorders(serve, ...recorders) {
  try {
    if (serve) {
      const { code, signal } = await serve.stop();
      assert.equal(code, 0, `taskgate serve exited with ${code ?? signal} after SIGTERM, not 0\n${serve.diagnostics()}`);
    }
  } finally {
    for (const rec of recorders) if (rec) await rec.stop();
  }
}

/**
 * Writes `serveConfigToml(opts)` to taskgate.toml in a fresh directory `root/name-XXXXXX`;
 * `sink: true` points `sink_path` at sink.jsonl in that directory. Returns { dir, config, sinkPath }.
 */
export function writeServeConfig(root, name, { sink = false, ...opts } = {}) {
  const dir = fs.mkdtempSync(path.join(root, `${name}-`));
  const config = path.join(dir, 'taskgate.toml');
  const sinkPath = sink ? path.join(dir, 'sink.jsonl') : opts.sinkPath;
  fs.writeFileSync(config, serveConfigToml({ ...opts, sinkPath }));
  return { dir, config, sinkPath };
}

/** A 127.0.0.1 port with nothing listening (a port just listened on and closed again). */
export async function refusedPort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The test-faults build of the component: `$TASKGATE_FAULTS_COMPONENT`, else built here. */
export function faultsComponent() {
  const env = process.env[FAULTS_COMPONENT_ENV];
  if (env) {
    if (!fs.statSync(env, { throwIfNoEntry: false })?.isFile()) throw new Error(`${FAULTS_COMPONENT_ENV}=${env} is not a file`);
    return env;
  }
  if (!faultsComponentPath) {
    const proc = spawnSync('cargo', FAULTS_COMPONENT_BUILD, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 1_800_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (proc.error) throw proc.error;
    if (proc.status !== 0) {
      throw new Error(`building the test-faults component failed (exit ${proc.status}): cargo ${FAULTS_COMPONENT_BUILD.join(' ')}\n${proc.stderr.slice(-4000)}`);
    }
    const out = path.join(REPO_ROOT, FAULTS_COMPONENT_OUTPUT);
    if (!fs.existsSync(out)) throw new Error(`the test-faults build did not produce ${FAULTS_COMPONENT_OUTPUT}`);
    faultsComponentPath = out;
  }
  return faultsComponentPath;
}

async function sendPopCoreAs(secret, endpoint, token, error, cause) {
  const FnF = require('@alicloud/fnf-2019-03-15');
  const client = new FnF({ endpoint: `http://${endpoint}`, accessKeyId: ACCESS_KEY_ID, accessKeySecret: secret });
  const body = await client.reportTaskFailed({ TaskToken: token, Error: error, Cause: cause });
  return { eventId: body.EventId, requestId: body.RequestId };
}

// The Node tea path (see sendTea), with the client's secret given.
async function sendTeaAs(secret, endpoint, token, error, cause, signatureAlgorithm) {
  const OpenApi = require('@alicloud/openapi-client');
  const Util = require('@alicloud/tea-util');
  const client = new OpenApi.default(
    new OpenApi.Config({
      accessKeyId: ACCESS_KEY_ID,
      accessKeySecret: secret,
      endpoint,
      protocol: 'http',
      regionId: 'cn-hangzhou',
      signatureAlgorithm,
    }),
  );
  const params = new OpenApi.Params({
    action: 'ReportTaskFailed',
    version: '2019-03-15',
    protocol: 'HTTPS',
    pathname: '/',
    method: 'POST',
    authType: 'AK',
    style: 'RPC',
    reqBodyType: 'formData',
    bodyType: 'json',
  });
  const request = new OpenApi.OpenApiRequest({ query: { TaskToken: token }, body: { Cause: cause, Error: error } });
  const resp = await client.callApi(params, request, new Util.RuntimeOptions({}));
  if (resp.statusCode !== 200) throw new Error(`status ${resp.statusCode}`);
  return { eventId: resp.body.EventId, requestId: resp.body.RequestId };
}

/** `layout.send`, with the SDK client signing with `secret` instead of ACCESS_KEY_SECRET. */
export function sendWithSecret(layout, secret, endpoint, token, error, cause) {
  switch (layout.name) {
    case 'node-popcore-rpc':
      return sendPopCoreAs(secret, endpoint, token, error, cause);
    case 'node-tea-rpc':
      return sendTeaAs(secret, endpoint, token, error, cause, 'v2');
    case 'node-tea-acs3':
      return sendTeaAs(secret, endpoint, token, error, cause, 'ACS3-HMAC-SHA256');
    default:
      throw new Error(`no secret-taking sender for layout ${layout.name}`);
  }
}

/**
 * Awaits `fn()`, which must reject with an error object `isAnswer(err)` accepts (the SDK's form of
 * an error answer); resolves to that error and rethrows any other.
 */
async function expectRejection(fn, isAnswer) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    if (err && typeof err === 'object' && isAnswer(err)) return err;
    throw err;
  }
  throw new Error(`the SDK call succeeded (${JSON.stringify(result)}) where an error answer was expected`);
}

/** Awaits `fn()`, which must reject with an SDK error carrying a `code`; resolves to that error. */
export function expectSdkError(fn) {
  return expectRejection(fn, (err) => 'code' in err);
}

/** The sink file's lines, each parsed as one JSON object (missing file: no lines). */
export function readSink(sinkPath) {
  if (!fs.existsSync(sinkPath)) return [];
  return fs
    .readFileSync(sinkPath, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`sink line ${i + 1} is not JSON: ${l}`);
      }
    });
}

// ---------------------------------------------------------------------------------------------
// the AWS dialects (aws_serve.test.mjs, callbacks.test.mjs): AWS SDK for JavaScript v3 clients at 127.0.0.1

// AWS's documentation key: taskgate's demo configuration carries it too.
export const AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
export const AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
export const AWS_ACCOUNT = '123456789012';
export const AWS_REGION = 'us-east-1';
export const AWS_ACCESS_KEYS = [[AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ACCOUNT]];
// Large boundary bodies (a `cause` of 32769 emoji; boto3 writes it as ~393 KB of JSON escapes):
// the AWS tests raise the 64 KiB default limit, as the Python ones do.
export const AWS_MAX_BODY_BYTES = 512 * 1024;

/** The three AWS "task failed" calls: package, client and command classes, and the contract's names. */
export const AWS_CALLS = [
  {
    name: 'sfn', pkg: '@aws-sdk/client-sfn', client: 'SFNClient', command: 'SendTaskFailureCommand',
    dialect: 'states', operation: 'SendTaskFailure', target: 'AWSStepFunctions.SendTaskFailure',
    contentType: 'application/x-amz-json-1.0', signingName: 'states',
  },
  {
    name: 'swf', pkg: '@aws-sdk/client-swf', client: 'SWFClient', command: 'RespondActivityTaskFailedCommand',
    dialect: 'swf', operation: 'RespondActivityTaskFailed', target: 'SimpleWorkflowService.RespondActivityTaskFailed',
    contentType: 'application/x-amz-json-1.0', signingName: 'swf',
  },
  {
    name: 'codepipeline', pkg: '@aws-sdk/client-codepipeline', client: 'CodePipelineClient', command: 'PutJobFailureResultCommand',
    dialect: 'codepipeline', operation: 'PutJobFailureResult', target: 'CodePipeline_20150709.PutJobFailureResult',
    contentType: 'application/x-amz-json-1.1', signingName: 'codepipeline',
  },
];
export const AWS_CALL_BY_NAME = Object.fromEntries(AWS_CALLS.map((call) => [call.name, call]));

/** The exports of an AWS call's package (client, command and modeled exception classes). */
export function awsModule(call) {
  return require(call.pkg);
}

/**
 * A v3 client for `call` at `http://<endpoint>`, one attempt (no retry) unless told. Every request
 * it sends, after signing, is pushed to `sent` as { method, path, query, headers: [[lower-name,
 * value]], header(n), body: Buffer }, and every raw answer (before deserialisation) to `answers`
 * as { statusCode, headers }. Returns { client, send(input) (a promise of the output), sent, answers }.
 */
export function awsClient(call, endpoint, {
  accessKeyId = AWS_ACCESS_KEY_ID,
  secretAccessKey = AWS_SECRET_ACCESS_KEY,
  // Temporary credentials: the SDK then sends and signs X-Amz-Security-Token.
  sessionToken,
  maxAttempts = 1,
  systemClockOffset,
} = {}) {
  const mod = awsModule(call);
  const credentials = { accessKeyId, secretAccessKey };
  if (sessionToken !== undefined) credentials.sessionToken = sessionToken;
  const options = {
    endpoint: `http://${endpoint}`,
    region: AWS_REGION,
    credentials,
    maxAttempts,
  };
  if (systemClockOffset !== undefined) options.systemClockOffset = systemClockOffset;
  const client = new mod[call.client](options);
  const sent = [];
  const answers = [];
  // Innermost (deserialize step, low priority): sees the signed request as it goes to the HTTP
  // handler, and the raw answer before the deserializer reads it.
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request;
      const headers = Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), String(v)]);
      let body = req.body ?? '';
      if (typeof body === 'string') body = Buffer.from(body, 'utf8');
      else if (body instanceof Uint8Array) body = Buffer.from(body);
      else throw new Error(`the SDK sent a streaming body (${typeof body}): not expected here`);
      const query = new URLSearchParams(req.query ?? {}).toString();
      sent.push({
        method: req.method,
        path: req.path,
        query,
        headers,
        header: (n) => (headers.find(([k]) => k === n) || [])[1],
        body,
      });
      const out = await next(args);
      const res = out.response;
      answers.push({ statusCode: res?.statusCode, headers: res?.headers ?? {} });
      return out;
    },
    { step: 'deserialize', name: 'taskgateTestCapture', priority: 'low' },
  );
  return { client, sent, answers, send: (input) => client.send(new mod[call.command](input)) };
}

/** The `SignedHeaders=` names of an AWS4-HMAC-SHA256 Authorization header. */
export function signedHeaders(authorization) {
  const m = /SignedHeaders=([^,\s]+)/.exec(authorization);
  if (!m) throw new Error(`no SignedHeaders in ${authorization}`);
  return m[1].split(';');
}

/** [key id, yyyymmdd, region, service, 'aws4_request'] of an Authorization header. */
export function credentialScope(authorization) {
  const m = /Credential=([^,\s]+)/.exec(authorization);
  if (!m) throw new Error(`no Credential in ${authorization}`);
  return m[1].split('/');
}

// ---------------------------------------------------------------------------------------------
// AWS test values and checks (aws_serve.test.mjs, callbacks.test.mjs, deploy.test.mjs)

/** A Step Functions task token of the shape AWS issues (`+`, `/` and `=` in it). */
export const SFN_TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789';
/** An SWF activity task token. */
export const SWF_TOKEN = 'AAAAKgAAAAEAAAAAAAAAAswf-activity-task-token+/=0123456789';
/** A CodePipeline job id: a lower-case UUID, as the model's pattern wants. */
export const JOB_ID = '0c6f2a9e-5b1d-4c3e-8f7a-9d2b1e0a4c6f';
/** CodePipeline's job id pattern, as its ValidationException quotes it. */
export const JOB_ID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** One character, 2 bytes in UTF-8. */
export const E_ACUTE = 'é';
/** Outside the BMP: one character, two UTF-16 units, 4 bytes in UTF-8. */
export const EMOJI = '😀';
/** The InvalidSignatureException message for a signature made with a wrong secret. */
export const AWS_SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS ' +
  'Secret Access Key and signing method. Consult the service documentation for details.';

/** The exact ValidationException message of one member over its length limit. */
export function awsTooLong(member, limit) {
  return `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to ${limit}`;
}

/** `writeServeConfig` with the AWS test key (AWS_ACCESS_KEYS) and AWS_MAX_BODY_BYTES; `opts` may override either. */
export function writeAwsConfig(root, name, opts = {}) {
  return writeServeConfig(root, name, { extraAccessKeys: AWS_ACCESS_KEYS, maxBodyBytes: AWS_MAX_BODY_BYTES, ...opts });
}

/**
 * A recorder (answering as `answer`) and a `taskgate serve` forwarding to it, its config from
 * `writeAwsConfig(root, name, opts)`; resolves to { rec, serve, dir, config }. The recorder is
 * stopped again when serve does not start. End them with `stopServeAndRecorders(serve, rec)`.
 */
export async function startRecorderAndServe(root, name, { answer = 'aws', ...opts } = {}) {
  const rec = await startRecorder({ answer });
  try {
    const { dir, config } = writeAwsConfig(root, name, { upstream: `http://${rec.endpoint}`, ...opts });
    return { rec, dir, config, serve: await startServe(config) };
  } catch (e) {
    await rec.stop();
    throw e;
  }
}

/** Awaits `fn()`, which must reject with an AWS service error (one with `$metadata`); resolves to that error. */
export function expectAwsError(fn) {
  return expectRejection(fn, (err) => err.$metadata);
}

/**
 * The error is `code` with HTTP `status` in the AWS JSON error form: the raw answer (the last of
 * `answers`, from awsClient) has `call`'s Content-Type and the x-amzn-RequestId the SDK reports,
 * and the error is the modeled class where `call`'s package has one. Returns its message.
 */
export function assertAwsError(err, code, status, call, answers) {
  assert.equal(err.name, code, `expected ${code}, got ${err.name}: ${err.message} (HTTP ${err.$metadata?.httpStatusCode})`);
  assert.equal(err.$metadata.httpStatusCode, status, `${code}: HTTP ${err.$metadata.httpStatusCode}, expected ${status}`);
  const answer = answers.at(-1);
  assert.ok(answer, 'no answer recorded');
  assert.equal(answer.headers['content-type'], call.contentType, `${code}: Content-Type ${answer.headers['content-type']}`);
  assert.match(answer.headers['x-amzn-requestid'] ?? '', /^[0-9a-fA-F-]{36}$/, `${code}: x-amzn-RequestId ${JSON.stringify(answer.headers)}`);
  assert.equal(err.$metadata.requestId, answer.headers['x-amzn-requestid']);
  const Modeled = awsModule(call)[code];
  if (Modeled) assert.ok(err instanceof Modeled, `not the modeled ${code} class: ${err.constructor.name}`);
  assert.equal(typeof err.message, 'string');
  return err.message;
}

/**
 * `input` sent as `call` to `serve` (an awsClient with `client` options) is answered at the edge
 * with `code` (HTTP `status`) and not forwarded to `rec` (`why` says so otherwise). Resolves to
 * { message, err, sent }.
 */
export async function expectAwsRefused({
  rec, serve, call, input, code, status = 400, client = {}, why = 'a rejected call reached the upstream',
}) {
  rec.takeCaptures();
  const { send, sent, answers } = awsClient(call, serve.endpoint, client);
  const err = await expectAwsError(() => send(input));
  const message = assertAwsError(err, code, status, call, answers);
  assert.equal(rec.takeCaptures().length, 0, why);
  return { message, err, sent };
}

/** Hop-by-hop headers (RFC 9110 7.6.1): what the SDK sends of them is not compared upstream. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Headers Node's http adds below the SDK's middleware view (pinned in aws_serve.test.mjs, "what the JS SDK sends"). */
export const ADDED_BELOW_SDK = new Set(['connection']);

/** The upstream received exactly what the SDK sent (`sent`, from awsClient): method, path, query, headers, body. */
export function assertForwardedIdentical(sent, raw, serveEndpoint) {
  const up = parseRaw(raw);
  assert.equal(up.method, sent.method);
  assert.equal(up.path, sent.path);
  assert.equal(up.rawQuery ?? '', sent.query);
  assert.ok(up.body.equals(sent.body), 'the body reached the upstream changed');
  assert.equal(up.header('host'), serveEndpoint, 'the Host the SDK sent was not kept');
  const upHeaders = new Map();
  for (const [k, v] of up.headers) {
    assert.ok(!upHeaders.has(k), `header ${k} twice upstream`);
    upHeaders.set(k, v);
  }
  for (const [k, v] of sent.headers) {
    if (HOP_BY_HOP.has(k)) continue;
    assert.equal(upHeaders.get(k), v, `header ${k}: SDK sent ${JSON.stringify(v)}, upstream got ${JSON.stringify(upHeaders.get(k))}`);
  }
  const sentNames = new Set(sent.headers.map(([k]) => k));
  const extra = [...upHeaders.keys()].filter((k) => !sentNames.has(k) && !ADDED_BELOW_SDK.has(k) && !HOP_BY_HOP.has(k) && k !== 'x-forwarded-for');
  assert.deepEqual(extra, [], `headers the SDK did not send reached the upstream: ${extra}`);
  assert.equal(upHeaders.get('x-forwarded-for') ?? '127.0.0.1', '127.0.0.1');
}

/**
 * `captures` (what `who` got, taken after the call) are exactly one request, the SDK's `sent[0]`
 * forwarded byte-identical, and the SDK's `result` is that upstream's answer.
 */
export function assertForwardedOnce(result, sent, captures, serveEndpoint, who = 'the upstream') {
  assert.equal(captures.length, 1, `${who} got ${captures.length} requests, expected exactly one`);
  assertForwardedIdentical(sent[0], captures[0].raw, serveEndpoint);
  assert.equal(result.$metadata.requestId, captures[0].requestId);
}

/**
 * Sends `input` as `call` through a fresh `taskgate serve` (config from writeAwsConfig in `root`)
 * to a fresh AWS-answering recorder: it is forwarded once, byte-identical, and the SDK gets the
 * recorder's answer (200, `{}`), not the sink's. Resolves to { result, sent, captures }.
 */
export async function forwardedThroughServe(root, call, input) {
  const rec = await startRecorder({ answer: 'aws' });
  try {
    const { config } = writeAwsConfig(root, `${call.name}-forward`, { upstream: `http://${rec.endpoint}` });
    const out = await withServe(config, {}, async (serve) => {
      const { send, sent } = awsClient(call, serve.endpoint);
      const result = await send(input);
      return { result, sent, captures: rec.takeCaptures(), endpoint: serve.endpoint };
    });
    assert.equal(out.sent.length, 1);
    assertForwardedOnce(out.result, out.sent, out.captures, out.endpoint);
    assert.deepEqual(resultKeys(out.result), []);
    assert.equal(out.result.$metadata.httpStatusCode, 200);
    return out;
  } finally {
    await rec.stop();
  }
}

/** The output member names of an AWS SDK result, `$metadata` aside. */
export function resultKeys(result) {
  return Object.keys(result).filter((k) => k !== '$metadata');
}

// ---------------------------------------------------------------------------------------------
// taps: the bytes a client wrote, against the bytes the upstream got (deploy.test.mjs, callbacks.test.mjs)

/**
 * Headers that describe one hop (RFC 9110 7.6.1), the proxy's own credentials included: the
 * gateway drops them, and any header the Connection header names.
 */
export const PROXY_HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding',
]);

/**
 * A relay on 127.0.0.1 that keeps every byte each client writes and passes the stream on:
 * `listen(onClient)` makes the (net or tls) server, `dial(client)` the connection onwards.
 * Resolves to { port, endpoint, requests(), close() }.
 */
export async function startRelay(listen, dial) {
  const streams = [];
  const sockets = new Set();
  const server = listen((client) => {
    const kept = [];
    streams.push(kept);
    const upstream = dial(client);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (data) => {
      kept.push(Buffer.from(data));
      upstream.write(data);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    /** Every request written through the tap so far, each exactly as the client wrote it. */
    requests: () => streams.flatMap((kept) => splitRequests(Buffer.concat(kept))),
    close: () => new Promise((resolve) => {
      server.close(resolve);
      for (const socket of sockets) socket.destroy();
    }),
  };
}

/** A plain TCP tap (see startRelay) in front of 127.0.0.1:`port`. */
export function startTcpTap(port) {
  return startRelay((onClient) => net.createServer(onClient), () => net.connect(port, '127.0.0.1'));
}

/** The request line's parts and the header fields ([lower-case name, exact value]) of a raw request. */
export function headOf(raw) {
  const lines = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1').split('\r\n');
  const fields = lines.slice(1).map((line) => {
    const i = line.indexOf(':');
    assert.ok(i > 0, `malformed header line ${JSON.stringify(line)}`);
    return [line.slice(0, i).toLowerCase(), line.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, '')];
  });
  return { requestLine: lines[0].split(' '), fields, header: (n) => (fields.find(([k]) => k === n) || [])[1] };
}

/** One connection's bytes cut into requests (Content-Length or chunked bodies), each a Buffer. */
export function splitRequests(stream) {
  const out = [];
  while (stream.length > 0) {
    const headEnd = stream.indexOf('\r\n\r\n') + 4;
    assert.ok(headEnd >= 4, 'a request head cut short');
    const { header } = headOf(stream.subarray(0, headEnd));
    let end = headEnd;
    if (/chunked/i.test(header('transfer-encoding') ?? '')) {
      for (;;) {
        const lineEnd = stream.indexOf('\r\n', end);
        const size = parseInt(stream.subarray(end, lineEnd).toString('latin1').split(';')[0], 16);
        end = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    } else {
      end += Number(header('content-length') ?? '0');
    }
    assert.ok(end <= stream.length, 'a request cut short');
    out.push(stream.subarray(0, end));
    stream = stream.subarray(end);
  }
  return out;
}

/**
 * The upstream got the request the client wrote, byte for byte, but for what a proxy must change:
 * hop-by-hop headers (PROXY_HOP_BY_HOP, and any the Connection header names) go, `X-Forwarded-For`
 * is added, the body's framing is the gateway's own (a chunked body arrives with its
 * Content-Length). Every other header arrives in the order sent, its value byte for byte; names
 * are compared without case (the gateway writes them lower-case).
 */
export function assertForwardedExactly(sent, received) {
  const s = headOf(sent);
  const r = headOf(received);
  assert.deepEqual(r.requestLine, s.requestLine, 'the request line');
  const named = new Set(s.fields.filter(([n]) => n === 'connection').flatMap(([, v]) => v.split(',').map((t) => t.trim().toLowerCase())));
  // In the order sent: Content-Length (re-framed for a chunked body) and X-Forwarded-For aside.
  const expected = s.fields.filter(([n]) => !PROXY_HOP_BY_HOP.has(n) && !named.has(n) && n !== 'content-length');
  const got = r.fields.filter(([n]) => n !== 'x-forwarded-for' && n !== 'content-length');
  assert.deepEqual(got, expected, 'the headers that reached the upstream');
  assert.deepEqual(r.fields.filter(([n]) => n === 'x-forwarded-for').map(([, v]) => v), ['127.0.0.1']);
  const body = parseRaw(sent).body;
  assert.deepEqual(parseRaw(received).body, body, 'the body reached the upstream changed');
  assert.deepEqual(r.fields.filter(([n]) => n === 'content-length').map(([, v]) => v), [String(body.length)]);
}
