// The edge signs for workers without cloud credentials (`sign_as`), with the vendors' real Node SDKs.
//
// A worker signs with a key the gateway issued it (`[[access_keys]] id = "WORKER0001"`,
// `sign_as = "cloud"`); the edge verifies that signature as it verifies every callback and
// forwards the callback signed with its `[[credentials]]` entry "cloud" (SigV4; RPC v1 or ACS3
// as the caller used). Behind the edge stands a second `taskgate serve`, the "service": no
// upstream (its sink records what it accepts and answers with the service's own success body),
// and only the cloud credential in its `[[access_keys]]`, so it verifies every re-signed request
// byte for byte as the service would.
//
// - AWS SDK v3 with the worker's key (SFN SendTaskFailure / SendTaskSuccess, SWF
//   RespondActivityTaskFailed, CodePipeline PutJobFailureResult) and the Alibaba SDKs (pop-core
//   @alicloud/fnf-2019-03-15, the tea openapi-client with RPC v1 and ACS3; ReportTaskFailed and
//   ReportTaskSucceeded): the SDK gets the service gateway's answer, the service's sink records the
//   call under the cloud key id, the edge's log line names the worker's key and the credential,
//   `taskgate_resigned_total{dialect,credential}` counts it, and no secret is in either log;
// - a wrong worker secret: the vendor's signature error at the edge, nothing re-signed, the
//   service's sink empty.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/resign.test.mjs

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as c from './common.mjs';

const require = createRequire(import.meta.url);
const TEST_TIMEOUT_MS = 120_000;

// The worker's key: what the gateway issued it, never a cloud credential.
const WORKER_ID = 'WORKER0001';
const WORKER_SECRET = 'the-workers-own-secret';
const WRONG_WORKER_SECRET = 'not-the-workers-secret';
// The gateway's cloud credential, which the worker never holds.
const CREDENTIAL = 'cloud';
const CLOUD_ID = 'AKIDCLOUDCREDENTIAL';
const CLOUD_SECRET = 'the-clouds-secret';
const RESIGNED = 'taskgate_resigned_total';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-resign-node-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// configurations

const str = (s) => JSON.stringify(String(s)).replace(/\u007f/g, '\\u007f');

function accessKey(id, secret, signAs) {
  return `[[access_keys]]\nid = ${str(id)}\nsecret = ${str(secret)}\naccount = ${str(c.ACCOUNT)}\n${signAs ? `sign_as = ${str(signAs)}\n` : ''}\n`;
}

// The service knows the cloud credential as one of its own keys, and nothing of the worker's.
const SERVICE_KEYS = accessKey(CLOUD_ID, CLOUD_SECRET);
// The edge: the worker's key, re-signed with the credential.
const EDGE_KEYS = `${accessKey(WORKER_ID, WORKER_SECRET, CREDENTIAL)}[[credentials]]
name = ${str(CREDENTIAL)}
access_key_id = ${str(CLOUD_ID)}
secret = ${str(CLOUD_SECRET)}

`;

/**
 * Writes a `taskgate serve` configuration on 127.0.0.1 port 0 (admin too) into `dir`: `keys` (raw
 * TOML), the test token key, no memory; forwarding to `upstream`, or recording in `sink`.
 */
function gatewayConfig(dir, name, keys, { upstream, sink } = {}) {
  const serve = ['[serve]', 'listen = "127.0.0.1:0"', 'admin_listen = "127.0.0.1:0"', 'upstream_timeout_ms = 10000'];
  if (upstream) serve.push(`upstream = ${str(upstream)}`);
  if (sink) serve.push(`sink_path = ${str(sink)}`);
  const file = path.join(dir, `${name}.toml`);
  fs.writeFileSync(file, `[limits]
max_body_bytes = 65536
max_clock_skew_seconds = 900

${keys}[[token_keys]]
account = ${str(c.ACCOUNT)}
secret = ${str(c.TOKEN_KEY)}

[store]
kind = "none"

${serve.join('\n')}
`);
  return file;
}

/** The service (sink) and the edge in front of it: { edge, service, sink }. */
async function startPair(name) {
  const dir = fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
  const sink = path.join(dir, 'service-sink.jsonl');
  const service = await c.startServe(gatewayConfig(dir, 'service', SERVICE_KEYS, { sink }));
  try {
    const edge = await c.startServe(gatewayConfig(dir, 'edge', EDGE_KEYS, { upstream: `http://${service.endpoint}` }));
    return { edge, service, sink };
  } catch (e) {
    await service.stop();
    throw e;
  }
}

/** SIGTERM to the edge, then the service; each must exit 0. */
async function stopPair(pair) {
  if (!pair) return;
  for (const serve of [pair.edge, pair.service]) {
    const { code, signal } = await serve.stop();
    assert.equal(code, 0, `taskgate serve exited with ${code ?? signal} after SIGTERM, not 0\n${serve.diagnostics()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// logs, sink, metrics

const requestLines = (serve) => serve.logLines().filter((line) => 'total_us' in line);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function counts(pair) {
  return [c.readSink(pair.sink).length, requestLines(pair.edge).length, requestLines(pair.service).length];
}

/** After one call: the service's new sink line, the edge's and the service's new log lines. */
async function oneMore(pair, before, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sink = c.readSink(pair.sink);
    const edge = requestLines(pair.edge);
    const service = requestLines(pair.service);
    const now = [sink.length, edge.length, service.length];
    if (now.every((n, i) => n === before[i] + 1)) return { sinkLine: sink.at(-1), edgeLine: edge.at(-1), serviceLine: service.at(-1) };
    if (Date.now() > deadline) {
      throw new Error(`(sink lines, edge log lines, service log lines) went from ${before} to ${now}, not one more each\n` +
        `edge:\n${pair.edge.stderr().slice(-3000)}\nservice:\n${pair.service.stderr().slice(-3000)}`);
    }
    await sleep(50);
  }
}

/** `taskgate_resigned_total` by `dialect/credential`. */
async function resigned(serve) {
  const response = await fetch(`${serve.adminUrl}/metrics`);
  assert.equal(response.status, 200);
  const out = {};
  const row = new RegExp(`^${RESIGNED}\\{dialect="([a-z]+)",credential="([^"]*)"\\} (\\d+)$`);
  for (const line of (await response.text()).split('\n')) {
    const m = row.exec(line);
    if (m) out[`${m[1]}/${m[2]}`] = Number(m[3]);
  }
  return out;
}

/** Waits until `taskgate_resigned_total{dialect,credential}` is `n`. */
async function waitResigned(serve, dialect, n, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = (await resigned(serve))[`${dialect}/${CREDENTIAL}`] ?? 0;
    if (got === n) return;
    if (Date.now() > deadline) throw new Error(`${RESIGNED}{dialect="${dialect}",credential="${CREDENTIAL}"} is ${got}, not ${n}`);
    await sleep(50);
  }
}

function assertNoSecretsLogged(...serves) {
  for (const serve of serves) {
    const text = serve.stderr();
    for (const secret of [CLOUD_SECRET, WORKER_SECRET, WRONG_WORKER_SECRET]) {
      assert.ok(!text.includes(secret), `a secret is in the log of the gateway at ${serve.endpoint}`);
    }
  }
}

/** The edge verified the worker and re-signed; the service verified the credential and recorded it. */
function assertResigned(pair, { sinkLine, edgeLine, serviceLine }, dialect, action) {
  const show = (line) => JSON.stringify(line);
  assert.equal(sinkLine.access_key_id, CLOUD_ID, `the service recorded another key: ${show(sinkLine)}`);
  assert.deepEqual([sinkLine.dialect, sinkLine.action], [dialect, action], show(sinkLine));
  assert.deepEqual([edgeLine.code, edgeLine.status, edgeLine.dialect, edgeLine.action], ['forwarded', 200, dialect, action], show(edgeLine));
  assert.deepEqual([edgeLine.access_key_id, edgeLine.sign_as, edgeLine.signature], [WORKER_ID, CREDENTIAL, 'edge'], show(edgeLine));
  assert.equal(edgeLine.upstream, `http://${pair.service.endpoint}`, show(edgeLine));
  assert.deepEqual([serviceLine.status, serviceLine.dialect, serviceLine.action], [200, dialect, action], show(serviceLine));
  assert.deepEqual([serviceLine.access_key_id, serviceLine.signature, serviceLine.upstream], [CLOUD_ID, 'edge', 'sink'], show(serviceLine));
  assert.equal(serviceLine.sign_as ?? null, null, show(serviceLine));
}

// ---------------------------------------------------------------------------------------------
// the calls

/** A call of `base`'s service (common.mjs AWS_CALLS), with its own operation. */
function awsCall(base, operation, callback, input) {
  const b = c.AWS_CALL_BY_NAME[base];
  const prefix = b.target.slice(0, b.target.indexOf('.'));
  return { ...b, command: `${operation}Command`, operation, target: `${prefix}.${operation}`, callback, input };
}

const AWS = [
  awsCall('sfn', 'SendTaskFailure', 'failed', { taskToken: c.SFN_TOKEN, error: 'Worker.Crashed', cause: c.CAUSE }),
  awsCall('sfn', 'SendTaskSuccess', 'succeeded', { taskToken: c.SFN_TOKEN, output: JSON.stringify({ order: 42, note: c.CAUSE }) }),
  awsCall('swf', 'RespondActivityTaskFailed', 'failed', { taskToken: c.SWF_TOKEN, reason: 'Worker.Crashed', details: c.CAUSE }),
  awsCall('codepipeline', 'PutJobFailureResult', 'failed', { jobId: c.JOB_ID, failureDetails: { type: 'JobFailed', message: c.CAUSE } }),
];

const FNF_LAYOUTS = ['node-popcore-rpc', 'node-tea-rpc', 'node-tea-acs3'];
const FNF_ACTIONS = ['ReportTaskFailed', 'ReportTaskSucceeded'];
const OUTPUT = JSON.stringify({ done: true, note: c.CAUSE });

/**
 * ReportTaskFailed (Error, Cause) or ReportTaskSucceeded (Output) from `layout`'s SDK, signed with
 * the worker's key (or `secret`); resolves to the answer's body.
 */
async function fnfReport(layout, action, endpoint, taskToken, { secret = WORKER_SECRET } = {}) {
  const fields = action === 'ReportTaskFailed' ? { Error: c.ERROR, Cause: c.CAUSE } : { Output: OUTPUT };
  if (layout === 'node-popcore-rpc') {
    const FnF = require('@alicloud/fnf-2019-03-15');
    const client = new FnF({ endpoint: `http://${endpoint}`, accessKeyId: WORKER_ID, accessKeySecret: secret });
    const params = { TaskToken: taskToken, ...fields };
    return action === 'ReportTaskFailed' ? client.reportTaskFailed(params) : client.reportTaskSucceeded(params);
  }
  const OpenApi = require('@alicloud/openapi-client');
  const Util = require('@alicloud/tea-util');
  const client = new OpenApi.default(new OpenApi.Config({
    accessKeyId: WORKER_ID,
    accessKeySecret: secret,
    endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    signatureAlgorithm: layout === 'node-tea-rpc' ? 'v2' : 'ACS3-HMAC-SHA256',
  }));
  // As the generated clients send it (see common.mjs, sendTeaAs).
  const params = new OpenApi.Params({
    action, version: '2019-03-15', protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const request = new OpenApi.OpenApiRequest({ query: { TaskToken: taskToken }, body: fields });
  const resp = await client.callApi(params, request, new Util.RuntimeOptions({}));
  assert.equal(resp.statusCode, 200);
  return resp.body;
}

function newTask() {
  const executionId = crypto.randomUUID();
  const eventId = 1000 + crypto.randomInt(100000);
  return { executionId, eventId, token: c.makeTaskToken(executionId, eventId) };
}

// ---------------------------------------------------------------------------------------------
// 1. signed with the worker's key, through the edge, to the service

describe('signed with a worker key, re-signed by the edge with its credential', () => {
  let pair;
  before(async () => {
    pair = await startPair('pair');
  });
  after(() => stopPair(pair));

  for (const call of AWS) {
    it(`AWS SDK v3 ${call.operation}: the service accepts it under the cloud key id`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const before = counts(pair);
      const counted = (await resigned(pair.edge))[`${call.dialect}/${CREDENTIAL}`] ?? 0;
      const { send, sent } = c.awsClient(call, pair.edge.endpoint, { accessKeyId: WORKER_ID, secretAccessKey: WORKER_SECRET });
      const result = await send(call.input);
      assert.equal(result.$metadata.httpStatusCode, 200);
      assert.deepEqual(c.resultKeys(result), [], "the service's own output");
      assert.equal(c.credentialScope(sent[0].header('authorization'))[0], WORKER_ID, 'the SDK signed with the worker key');

      const lines = await oneMore(pair, before);
      assertResigned(pair, lines, call.dialect, call.operation);
      assert.equal(lines.sinkLine.request_id, result.$metadata.requestId, "the SDK got the service's answer");
      assert.equal(lines.sinkLine.callback, call.callback, JSON.stringify(lines.sinkLine));
      assert.equal(lines.sinkLine.task_token, call.input.taskToken ?? call.input.jobId);
      await waitResigned(pair.edge, call.dialect, counted + 1);
      assertNoSecretsLogged(pair.edge, pair.service);
    });
  }

  for (const layout of FNF_LAYOUTS) {
    for (const action of FNF_ACTIONS) {
      it(`${layout} ${action}: the service accepts it under the cloud key id`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const before = counts(pair);
        const counted = (await resigned(pair.edge))[`fnf/${CREDENTIAL}`] ?? 0;
        const { executionId, eventId, token } = newTask();
        const body = await fnfReport(layout, action, pair.edge.endpoint, token);

        const lines = await oneMore(pair, before);
        const { sinkLine } = lines;
        assertResigned(pair, lines, 'fnf', action);
        assert.deepEqual([body.EventId, body.RequestId], [sinkLine.event_id_assigned, sinkLine.request_id],
          "the SDK got the service gateway's answer");
        assert.equal(typeof body.EventId, 'number');
        assert.deepEqual([sinkLine.task_token, sinkLine.execution_id, sinkLine.event_id, sinkLine.verified], [token, executionId, eventId, true]);
        if (action === 'ReportTaskFailed') {
          assert.deepEqual([sinkLine.callback, sinkLine.error, sinkLine.cause], ['failed', c.ERROR, c.CAUSE], JSON.stringify(sinkLine));
        } else {
          assert.deepEqual([sinkLine.callback, sinkLine.output], ['succeeded', OUTPUT], JSON.stringify(sinkLine));
        }
        await waitResigned(pair.edge, 'fnf', counted + 1);
        assertNoSecretsLogged(pair.edge, pair.service);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 2. a wrong worker secret is refused at the edge: nothing is signed for it

describe('a wrong worker secret', () => {
  let pair;
  before(async () => {
    pair = await startPair('wrong');
  });
  after(() => stopPair(pair));

  it('is refused at the edge with the vendor error, nothing reaches the service', { timeout: TEST_TIMEOUT_MS }, async () => {
    const expected = [];
    for (const call of AWS) {
      const { send, answers } = c.awsClient(call, pair.edge.endpoint, { accessKeyId: WORKER_ID, secretAccessKey: WRONG_WORKER_SECRET });
      const err = await c.expectAwsError(() => send(call.input));
      const message = c.assertAwsError(err, 'InvalidSignatureException', 400, call, answers);
      assert.equal(message, c.AWS_SIGNATURE_MISMATCH);
      expected.push('InvalidSignatureException');
    }
    for (const layout of FNF_LAYOUTS) {
      for (const action of FNF_ACTIONS) {
        const err = await c.expectSdkError(() => fnfReport(layout, action, pair.edge.endpoint, newTask().token, { secret: WRONG_WORKER_SECRET }));
        assert.equal(String(err.code), 'SignatureNotMatch', `${layout} ${action}: ${err.message}`);
        expected.push('SignatureNotMatch');
      }
    }
    const deadline = Date.now() + 10_000;
    while (requestLines(pair.edge).length < expected.length && Date.now() < deadline) await sleep(50);
    const lines = requestLines(pair.edge);
    assert.deepEqual(lines.map((line) => line.code), expected, pair.edge.stderr().slice(-3000));
    for (const line of lines) assert.equal(line.sign_as ?? null, null, `a refused call was signed for: ${JSON.stringify(line)}`);
    assert.deepEqual(c.readSink(pair.sink), [], 'a refused call reached the service');
    assert.deepEqual(requestLines(pair.service), [], 'a refused call reached the service');
    assert.deepEqual(Object.values(await resigned(pair.edge)).filter((n) => n > 0), [], `${RESIGNED} counted a refused call`);
    assertNoSecretsLogged(pair.edge, pair.service);
  });
});
