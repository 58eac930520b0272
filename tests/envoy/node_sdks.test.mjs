// The Envoy plugin in the real Envoy, called by the vendors' Node SDKs: the AWS SDK for
// JavaScript v3 (Step Functions, SWF, CodePipeline: failure, success and heartbeat calls) and the
// Alibaba SDKs (@alicloud/pop-core RPC v1, the tea openapi-client with RPC v1 and ACS3).
//
// - an accepted call reaches the recorder (tests/sdk/recorder.py, answering as the service) with
//   the body the SDK signed, and the SDK gets the recorder's answer;
// - a wrong secret is the modeled error with the exact code, and nothing reaches the recorder;
// - a settled task's late report is answered by the plugin in the service's words.
//
// Envoy is started by tests/envoy/envoyproxy.py (the Python suites' harness), which must run
// with the SDK venv's Python (PYTHON), where `envoy` is installed.
//
// Run: tests/envoy/run.sh (which runs this file too).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';

import * as c from '../sdk/node/common.mjs';

const HARNESS = path.join(c.REPO_ROOT, 'tests', 'envoy', 'envoyproxy.py');
const TEST_TIMEOUT_MS = 60_000;
// Headers of one hop, which a proxy may change (the HTTP client sets its own).
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection']);

/** Envoy with the plugin in front of `upstreamPort`: { endpoint, stop() }. */
async function startEnvoy(upstreamPort) {
  const python = process.env.PYTHON || path.join(c.SDK_DIR, '.venv', 'bin', 'python');
  const child = spawn(python, [HARNESS, String(upstreamPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the Envoy harness exited early (${code})`)));
  });
  rl.close();
  const { port } = JSON.parse(line);
  return {
    endpoint: `127.0.0.1:${port}`,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** A call of `base`'s service (common.mjs AWS_CALLS) with its own operation. */
function awsCall(base, operation) {
  const b = c.AWS_CALL_BY_NAME[base];
  const prefix = b.target.slice(0, b.target.indexOf('.'));
  return { ...b, command: `${operation}Command`, operation, target: `${prefix}.${operation}` };
}

const uniqueToken = () => `${c.SFN_TOKEN}${randomUUID().replaceAll('-', '')}`;

const AWS_CALLS = [
  [awsCall('sfn', 'SendTaskFailure'), () => ({ taskToken: uniqueToken(), error: 'Worker.Crashed', cause: c.CAUSE })],
  [awsCall('sfn', 'SendTaskSuccess'), () => ({ taskToken: uniqueToken(), output: '{"done":true}' })],
  [awsCall('sfn', 'SendTaskHeartbeat'), () => ({ taskToken: uniqueToken() })],
  [awsCall('swf', 'RespondActivityTaskFailed'), () => ({ taskToken: uniqueToken(), reason: 'R', details: c.CAUSE })],
  [awsCall('swf', 'RespondActivityTaskCompleted'), () => ({ taskToken: uniqueToken(), result: 'done' })],
  [awsCall('swf', 'RecordActivityTaskHeartbeat'), () => ({ taskToken: uniqueToken(), details: '50%' })],
  [awsCall('codepipeline', 'PutJobFailureResult'),
    () => ({ jobId: randomUUID(), failureDetails: { type: 'JobFailed', message: c.CAUSE } })],
  [awsCall('codepipeline', 'PutJobSuccessResult'), () => ({ jobId: randomUUID() })],
  [awsCall('codepipeline', 'AcknowledgeJob'), () => ({ jobId: randomUUID(), nonce: '1' })],
];

describe('the vendors\' Node SDKs through Envoy with the taskgate plugin', { timeout: TEST_TIMEOUT_MS }, () => {
  let rec;
  let envoy;
  before(async () => {
    rec = await c.startRecorder({ answer: 'auto' });
    envoy = await startEnvoy(rec.port);
  });
  after(async () => {
    await envoy?.stop();
    await rec?.stop();
  });

  for (const layout of c.LAYOUTS) {
    it(`${layout.name}: a report reaches the upstream and the SDK gets its answer`, async () => {
      rec.takeCaptures();
      const token = c.makeTaskToken(randomUUID(), 1000);
      const result = await layout.send(envoy.endpoint, token, c.ERROR, c.CAUSE);
      const captures = rec.takeCaptures();
      assert.equal(captures.length, 1);
      assert.equal(result.eventId, c.RECORDER_EVENT_ID);
      assert.equal(result.requestId, captures[0].requestId);
      assert.equal(c.parseRaw(captures[0].raw).header('x-forwarded-for'), undefined, 'Envoy added X-Forwarded-For');
    });

    it(`${layout.name}: a wrong secret is SignatureNotMatch, and nothing is forwarded`, async () => {
      rec.takeCaptures();
      const token = c.makeTaskToken(randomUUID(), 1000);
      const err = await c.expectSdkError(() => c.sendWithSecret(layout, c.WRONG_SECRET, envoy.endpoint, token, c.ERROR, c.CAUSE));
      assert.equal(err.code, 'SignatureNotMatch', err.message);
      assert.deepEqual(rec.takeCaptures(), []);
    });
  }

  for (const [call, input] of AWS_CALLS) {
    it(`${call.operation}: reaches the upstream with the body the SDK signed`, async () => {
      rec.takeCaptures();
      const { send, sent } = c.awsClient(call, envoy.endpoint);
      const output = await send(input());
      const captures = rec.takeCaptures();
      assert.equal(captures.length, 1);
      assert.equal(output.$metadata.requestId, captures[0].requestId);
      const got = c.parseRaw(captures[0].raw);
      assert.deepEqual(got.body, sent[0].body);
      assert.equal(got.header('x-amz-target'), call.target);
      // Every header the SDK signed and sent reaches the upstream with its value.
      for (const [name, value] of sent[0].headers) {
        if (HOP.has(name)) continue;
        assert.equal(got.header(name), value, `${name}: sent ${value}, upstream got ${got.header(name)}`);
      }
    });
  }

  it('a wrong AWS secret is the modeled InvalidSignatureException', async () => {
    rec.takeCaptures();
    const call = c.AWS_CALL_BY_NAME.sfn;
    const { send, answers } = c.awsClient(call, envoy.endpoint, { secretAccessKey: 'not-the-secret' });
    const err = await c.expectAwsError(() => send({ taskToken: uniqueToken(), error: 'E' }));
    c.assertAwsError(err, 'InvalidSignatureException', 400, call, answers);
    assert.deepEqual(rec.takeCaptures(), []);
  });

  it('a late failure for a Step Functions task that succeeded is TaskTimedOut from the plugin', async () => {
    rec.takeCaptures();
    const token = uniqueToken();
    const success = awsCall('sfn', 'SendTaskSuccess');
    await c.awsClient(success, envoy.endpoint).send({ taskToken: token, output: '{}' });
    const failure = c.AWS_CALL_BY_NAME.sfn;
    const { send, answers } = c.awsClient(failure, envoy.endpoint);
    const err = await c.expectAwsError(() => send({ taskToken: token, error: 'E' }));
    const message = c.assertAwsError(err, 'TaskTimedOut', 400, failure, answers);
    assert.equal(message, "Task Timed Out: 'Provided task does not exist anymore'");
    assert.equal(rec.takeCaptures().length, 1);
  });
});
