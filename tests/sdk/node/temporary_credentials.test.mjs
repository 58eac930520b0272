// Temporary credentials (`[serve] temporary_credentials`) seen by the real Node SDKs: callers that
// sign with a session's key id (`ASIA…`, `STS.…`) and carry its session token, a key the
// gateway's keyring cannot hold.
//
// - AWS SDK v3 with `credentials: { accessKeyId, secretAccessKey, sessionToken }`
//   (X-Amz-Security-Token): under "forward" each call reaches the upstream byte-identical (the
//   request the SDK signed, seen by a deserialize-step middleware), its log line says
//   `"signature": "service"` and the key id (a verified call says `"edge"`), it is counted in
//   `taskgate_signature_left_to_service_total{dialect}`, and the session token is never logged;
//   under "refuse" (the default) it is UnrecognizedClientException and nothing is forwarded.
// - The Alibaba SDKs with STS credentials: pop-core (@alicloud/fnf-2019-03-15, `securityToken`:
//   SecurityToken in the form body), the tea openapi-client (`securityToken` in its Config:
//   SecurityToken in the query for RPC v1, x-acs-security-token for ACS3): under "forward" the
//   bytes the SDK wrote (a TCP tap in front of the gateway) reach the upstream unchanged; under
//   "refuse", InvalidAccessKeyID.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/temporary_credentials.test.mjs

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

const FORWARD = 'temporary_credentials = "forward"';
const REFUSE = 'temporary_credentials = "refuse"';
const LEFT_TO_SERVICE = 'taskgate_signature_left_to_service_total';
const UNKNOWN_AWS_KEY = 'The security token included in the request is invalid.';

// An IAM role session's credentials: a key id no configuration holds, its secret, its token.
const AWS_TEMP = {
  accessKeyId: 'ASIAZ3TEMPKEYEXAMPLE',
  secretAccessKey: 'tEmPoRaRy/SeCrEt+AccessKeyOfTheSessionEXAMPLE',
  sessionToken:
    'IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsessionToken+for/a=role' +
    'SessionOfAnEcsTaskEXAMPLEsessionTokenValue0123456789abcdef==',
};
// An Alibaba Cloud STS session's credentials.
const STS = {
  keyId: 'STS.NUgYrLnoC37mZZCNnAbez2EXAMPLE',
  secret: 'sts-temporary-secret-EXAMPLE-4242',
  token: 'CAIS8gF1q6Ft5B2yfSjIr5bSEXAMPLEsecurityToken+with/slashes=andTheRestOfTheSTSToken==',
};
const FNF_LAYOUTS = ['node-popcore-rpc', 'node-tea-rpc', 'node-tea-acs3'];

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-temp-creds-node-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function failureInput(name) {
  if (name === 'sfn') return { taskToken: c.SFN_TOKEN, error: 'Worker.Crashed', cause: c.CAUSE };
  if (name === 'swf') return { taskToken: c.SWF_TOKEN, reason: 'Worker.Crashed', details: c.CAUSE };
  return { jobId: c.JOB_ID, failureDetails: { type: 'JobFailed', message: c.CAUSE } };
}

function newFnfToken() {
  return c.makeTaskToken(crypto.randomUUID(), 1000 + crypto.randomInt(100000));
}

/** ReportTaskFailed from `layout` with STS credentials; resolves to the answer's body. */
async function reportWithSts(layout, endpoint, taskToken, { keyId = STS.keyId, secret = STS.secret, securityToken = STS.token } = {}) {
  if (layout === 'node-popcore-rpc') {
    const FnF = require('@alicloud/fnf-2019-03-15');
    const client = new FnF({ endpoint: `http://${endpoint}`, accessKeyId: keyId, accessKeySecret: secret, securityToken });
    return client.reportTaskFailed({ TaskToken: taskToken, Error: c.ERROR, Cause: c.CAUSE });
  }
  const OpenApi = require('@alicloud/openapi-client');
  const Util = require('@alicloud/tea-util');
  const client = new OpenApi.default(new OpenApi.Config({
    accessKeyId: keyId,
    accessKeySecret: secret,
    securityToken,
    endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    signatureAlgorithm: layout === 'node-tea-rpc' ? 'v2' : 'ACS3-HMAC-SHA256',
  }));
  // As the generated clients send it (see common.mjs, sendTeaAs).
  const params = new OpenApi.Params({
    action: 'ReportTaskFailed', version: '2019-03-15', protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const request = new OpenApi.OpenApiRequest({ query: { TaskToken: taskToken }, body: { Cause: c.CAUSE, Error: c.ERROR } });
  const resp = await client.callApi(params, request, new Util.RuntimeOptions({}));
  assert.equal(resp.statusCode, 200);
  return resp.body;
}

/** The per-request log lines, once there are (at least) `count` of them. */
async function requestLines(serve, count, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = serve.logLines().filter((line) => 'total_us' in line);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`${lines.length} request log lines, expected ${count}\n${serve.diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `taskgate_signature_left_to_service_total` by dialect (absent rows: none). */
async function leftToService(serve) {
  const response = await fetch(`${serve.adminUrl}/metrics`);
  assert.equal(response.status, 200);
  const out = {};
  const row = new RegExp(`^${LEFT_TO_SERVICE}\\{dialect="([a-z]+)"\\} (\\d+)$`);
  for (const line of (await response.text()).split('\n')) {
    const m = row.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** The metric comes to hold exactly `counts` ({ dialect: n }) among its non-zero rows. */
async function assertLeftToService(serve, counts, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = Object.fromEntries(Object.entries(await leftToService(serve)).filter(([, n]) => n > 0));
    try {
      assert.deepEqual(got, counts, `${LEFT_TO_SERVICE}`);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function assertNoSecretsLogged(serve) {
  const text = serve.stderr();
  for (const secret of [AWS_TEMP.sessionToken, AWS_TEMP.secretAccessKey, STS.token, STS.secret]) {
    for (const form of [secret, encodeURIComponent(secret)]) {
      assert.ok(!text.includes(form), 'a session token or secret is in the log');
    }
  }
  assert.ok(!text.includes(c.CAUSE), 'the cause is in the log');
}

// ---------------------------------------------------------------------------------------------
// AWS SDK v3

describe('AWS SDK v3 with temporary credentials', () => {
  it('under "forward" each call reaches the upstream byte-identical, logged as left to the service', { timeout: TEST_TIMEOUT_MS }, async () => {
    const rec = await c.startRecorder({ answer: 'aws' });
    try {
      const { config } = c.writeAwsConfig(tmpRoot, 'aws-forward', { upstream: `http://${rec.endpoint}`, extra: FORWARD });
      await c.withServe(config, {}, async (serve) => {
        for (const call of c.AWS_CALLS) {
          const { send, sent } = c.awsClient(call, serve.endpoint, AWS_TEMP);
          const result = await send(failureInput(call.name));
          const captures = rec.takeCaptures();
          c.assertForwardedOnce(result, sent, captures, serve.endpoint);
          const up = c.parseRaw(captures[0].raw);
          assert.equal(up.header('x-amz-security-token'), AWS_TEMP.sessionToken);
          const auth = up.header('authorization');
          assert.equal(c.credentialScope(auth)[0], AWS_TEMP.accessKeyId);
          assert.ok(c.signedHeaders(auth).includes('x-amz-security-token'), `the SDK signs the session token: ${auth}`);
          assert.deepEqual(JSON.parse(up.body.toString('utf8')), failureInput(call.name));
        }
        // A verified call on the same gateway: the keyring's key, checked at the edge.
        const verified = c.awsClient(c.AWS_CALL_BY_NAME.sfn, serve.endpoint);
        const result = await verified.send(failureInput('sfn'));
        c.assertForwardedOnce(result, verified.sent, rec.takeCaptures(), serve.endpoint);

        const lines = await requestLines(serve, 4);
        c.AWS_CALLS.forEach((call, i) => {
          const line = lines[i];
          assert.deepEqual(
            [line.code, line.status, line.dialect, line.action, line.signature, line.access_key_id],
            ['forwarded', 200, call.dialect, call.operation, 'service', AWS_TEMP.accessKeyId],
            JSON.stringify(line),
          );
        });
        assert.deepEqual([lines[3].signature, lines[3].access_key_id], ['edge', c.AWS_ACCESS_KEY_ID], JSON.stringify(lines[3]));
        await assertLeftToService(serve, { states: 1, swf: 1, codepipeline: 1 });
        assertNoSecretsLogged(serve);
      });
    } finally {
      await rec.stop();
    }
  });

  for (const [label, extra] of [['the default', ''], ['"refuse"', REFUSE]]) {
    it(`under ${label} SendTaskFailure is UnrecognizedClientException, nothing forwarded`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const rec = await c.startRecorder({ answer: 'aws' });
      try {
        const { config } = c.writeAwsConfig(tmpRoot, 'aws-refuse', { upstream: `http://${rec.endpoint}`, extra });
        await c.withServe(config, {}, async (serve) => {
          const { message } = await c.expectAwsRefused({
            rec, serve, call: c.AWS_CALL_BY_NAME.sfn, input: failureInput('sfn'), code: 'UnrecognizedClientException', client: AWS_TEMP,
          });
          assert.equal(message, UNKNOWN_AWS_KEY);
          const [line] = await requestLines(serve, 1);
          assert.equal(line.code, 'UnrecognizedClientException');
          assert.notEqual(line.signature, 'service');
          await assertLeftToService(serve, {});
          assertNoSecretsLogged(serve);
        });
      } finally {
        await rec.stop();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Alibaba: pop-core and the tea openapi-client

describe('Alibaba SDKs with STS credentials', () => {
  let rec;
  before(async () => {
    rec = await c.startRecorder();
  });
  after(async () => {
    if (rec) await rec.stop();
  });

  for (const layout of FNF_LAYOUTS) {
    it(`${layout}: under "forward" the report reaches the upstream unchanged, logged as left to the service`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { config } = c.writeServeConfig(tmpRoot, `${layout}-forward`, { upstream: `http://${rec.endpoint}`, extra: FORWARD });
      rec.takeCaptures();
      await c.withServe(config, {}, async (serve) => {
        const tap = await c.startTcpTap(serve.port);
        try {
          const token = newFnfToken();
          const body = await reportWithSts(layout, tap.endpoint, token);
          const sent = tap.requests();
          const captures = rec.takeCaptures();
          assert.equal(sent.length, 1, `the SDK sent ${sent.length} requests through the tap`);
          assert.equal(captures.length, 1, `the upstream got ${captures.length} requests`);
          assert.deepEqual({ ...body }, { EventId: c.RECORDER_EVENT_ID, RequestId: captures[0].requestId }, "the upstream's answer");
          c.assertForwardedExactly(sent[0], captures[0].raw);
          const up = c.parseRaw(captures[0].raw);
          const params = { ...up.query, ...up.form };
          assert.deepEqual([params.TaskToken, params.Error, params.Cause], [token, c.ERROR, c.CAUSE]);
          if (layout === 'node-tea-acs3') {
            assert.equal(up.header('x-acs-security-token'), STS.token);
            const auth = up.header('authorization');
            assert.ok(auth.startsWith(`ACS3-HMAC-SHA256 Credential=${STS.keyId},`), auth);
            assert.ok(/SignedHeaders=([^,]+)/.exec(auth)[1].split(';').includes('x-acs-security-token'), auth);
          } else {
            assert.deepEqual([params.SecurityToken, params.AccessKeyId], [STS.token, STS.keyId]);
            assert.match(params.Signature, /^[A-Za-z0-9+/]{27}=$/);
          }
          // A verified report from the keyring's key on the same gateway.
          const verifiedLayout = c.LAYOUTS.find((l) => l.name === layout);
          await verifiedLayout.send(serve.endpoint, newFnfToken(), 'E', 'c');
          assert.equal(rec.takeCaptures().length, 1);

          const [temp, edge] = await requestLines(serve, 2);
          assert.deepEqual(
            [temp.code, temp.status, temp.dialect, temp.action, temp.signature, temp.access_key_id],
            ['forwarded', 200, 'fnf', 'ReportTaskFailed', 'service', STS.keyId],
            JSON.stringify(temp),
          );
          assert.deepEqual([edge.signature, edge.access_key_id], ['edge', c.ACCESS_KEY_ID], JSON.stringify(edge));
          await assertLeftToService(serve, { fnf: 1 });
          assertNoSecretsLogged(serve);
        } finally {
          await tap.close();
        }
      });
    });

    it(`${layout}: under the default "refuse" the report is InvalidAccessKeyID, nothing forwarded`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { config } = c.writeServeConfig(tmpRoot, `${layout}-refuse`, { upstream: `http://${rec.endpoint}` });
      rec.takeCaptures();
      await c.withServe(config, {}, async (serve) => {
        const err = await c.expectSdkError(() => reportWithSts(layout, serve.endpoint, newFnfToken()));
        assert.equal(String(err.code), 'InvalidAccessKeyID', err.message);
        if (err.statusCode !== undefined) assert.equal(Number(err.statusCode), 403);
        assert.equal(rec.takeCaptures().length, 0, 'a refused report reached the upstream');
        const [line] = await requestLines(serve, 1);
        assert.deepEqual([line.code, line.status], ['InvalidAccessKeyID', 403]);
        await assertLeftToService(serve, {});
        assertNoSecretsLogged(serve);
      });
    });
  }
});
