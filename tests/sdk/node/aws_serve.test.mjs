// End to end through `taskgate serve`, AWS dialects: the AWS SDK for JavaScript v3 clients of Step
// Functions (SendTaskFailure), SWF (RespondActivityTaskFailed) and CodePipeline
// (PutJobFailureResult) call a running taskgate, which forwards accepted calls byte-identical to a
// recording upstream (tests/sdk/recorder.py --answer aws: 200, `{}`), answers rejected ones itself
// with the modeled AWS error, and in sink mode (no upstream) answers and logs them itself.
//
// Every `taskgate serve` is started with a temporary config (port 0) and stopped with SIGTERM,
// expecting exit code 0. The config raises `[limits] max_body_bytes` to AWS_MAX_BODY_BYTES (512 KiB)
// for the largest boundary bodies.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/aws_serve.test.mjs
// "what the JS SDK sends" needs no taskgate: it pins down the SDK's requests against the recorder.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as c from './common.mjs';

const TEST_TIMEOUT_MS = 120_000;
const { E_ACUTE, EMOJI, JOB_ID, SFN_TOKEN, SWF_TOKEN } = c;

const UNKNOWN_KEY = 'The security token included in the request is invalid.';
const FAILURE_TYPE_LIST = ['JobFailed', 'ConfigurationError', 'PermissionError', 'RevisionOutOfSync', 'RevisionUnavailable', 'SystemUnavailable'];
const FAILURE_TYPES = `[${FAILURE_TYPE_LIST.join(', ')}]`;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-aws-node-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A valid call of `name`, with members replaced (`failure_*` go into failureDetails). */
function validInput(name, over = {}) {
  let input;
  if (name === 'sfn') input = { taskToken: SFN_TOKEN, error: 'Worker.Crashed (exit 1+1)', cause: c.CAUSE };
  else if (name === 'swf') input = { taskToken: SWF_TOKEN, reason: 'Worker.Crashed', details: c.CAUSE };
  else input = { jobId: JOB_ID, failureDetails: { type: 'JobFailed', message: c.CAUSE, externalExecutionId: 'run-42' } };
  for (const [k, v] of Object.entries(over)) {
    if (k.startsWith('failure_')) input.failureDetails[k.slice('failure_'.length)] = v;
    else input[k] = v;
  }
  return input;
}

// ---------------------------------------------------------------------------------------------
// 0. what the JS SDK sends (no taskgate involved)

describe('what the JS SDK sends', () => {
  for (const call of c.AWS_CALLS) {
    it(`${call.name}: signed headers, x-amz-content-sha256, raw UTF-8 JSON`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const rec = await c.startRecorder({ answer: 'aws' });
      try {
        const { send, sent } = c.awsClient(call, rec.endpoint);
        const result = await send(validInput(call.name));
        const captures = rec.takeCaptures();
        assert.equal(sent.length, 1);
        assert.equal(captures.length, 1);
        assert.deepEqual(c.resultKeys(result), []);
        assert.equal(result.$metadata.httpStatusCode, 200);
        assert.equal(result.$metadata.requestId, captures[0].requestId);
        const raw = c.parseRaw(captures[0].raw);
        const s = sent[0];
        // the middleware view is what went out, apart from what Node's http adds
        assert.ok(raw.body.equals(s.body) && !raw.chunked);
        const viewNames = new Set(s.headers.map(([k]) => k));
        assert.deepEqual(raw.headers.map(([k]) => k).filter((k) => !viewNames.has(k)), [...c.ADDED_BELOW_SDK]);
        assert.equal(raw.method, 'POST');
        assert.equal(raw.path, '/');
        assert.equal(raw.header('x-amz-target'), call.target);
        assert.equal(raw.header('content-type'), call.contentType);
        const auth = raw.header('authorization');
        assert.ok(auth.startsWith('AWS4-HMAC-SHA256 '), auth);
        // the JS SDK signs these (tests/sdk/README.md), and sends x-amz-content-sha256
        assert.deepEqual(c.signedHeaders(auth), [
          'amz-sdk-invocation-id', 'amz-sdk-request', 'content-length', 'content-type', 'host',
          'x-amz-content-sha256', 'x-amz-date', 'x-amz-target', 'x-amz-user-agent',
        ]);
        assert.equal(raw.header('x-amz-content-sha256'), crypto.createHash('sha256').update(raw.body).digest('hex'));
        assert.equal(raw.header('amz-sdk-request'), 'attempt=1; max=1');
        const scope = c.credentialScope(auth);
        assert.deepEqual(scope.slice(2), [c.AWS_REGION, call.signingName, 'aws4_request']);
        assert.equal(scope[0], c.AWS_ACCESS_KEY_ID);
        assert.equal(scope[1], raw.header('x-amz-date').slice(0, 8));
        // raw UTF-8, no escapes: 'é' is 2 bytes, an emoji 4
        assert.ok(raw.body.includes(Buffer.from('café 🚀', 'utf8')), raw.body.toString('utf8'));
        assert.deepEqual(JSON.parse(raw.body.toString('utf8')), validInput(call.name));
      } finally {
        await rec.stop();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 1. a valid call is forwarded byte-identical; the SDK gets the upstream's answer

describe('AWS SDK v3 through taskgate serve: forwarding', () => {
  for (const call of c.AWS_CALLS) {
    it(`${call.name}: a valid call is forwarded byte-identical, the SDK gets the upstream's answer`, { timeout: TEST_TIMEOUT_MS }, async () => {
      await c.forwardedThroughServe(tmpRoot, call, validInput(call.name));
    });
  }

  it('[serve.upstreams] sends each dialect to its own upstream', { timeout: TEST_TIMEOUT_MS }, async () => {
    const recs = {};
    try {
      for (const call of c.AWS_CALLS) recs[call.dialect] = await c.startRecorder({ answer: 'aws' });
      const dead = await c.refusedPort();
      const upstreams = Object.fromEntries(Object.entries(recs).map(([d, r]) => [d, `http://${r.endpoint}`]));
      const { config } = c.writeAwsConfig(tmpRoot, 'upstreams', { upstream: `http://127.0.0.1:${dead}`, upstreams });
      await c.withServe(config, {}, async (serve) => {
        for (const call of c.AWS_CALLS) {
          const { send, sent } = c.awsClient(call, serve.endpoint);
          const result = await send(validInput(call.name));
          c.assertForwardedOnce(result, sent, recs[call.dialect].takeCaptures(), serve.endpoint, `${call.dialect}: its upstream`);
          for (const [d, r] of Object.entries(recs)) {
            if (d !== call.dialect) assert.equal(r.takeCaptures().length, 0, `${call.dialect} also reached ${d}'s upstream`);
          }
        }
      });
    } finally {
      for (const r of Object.values(recs)) await r.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2.-4. model constraints, tokens, authentication: one recorder and one serve for all

const tooLong = c.awsTooLong;

// [id, call name, input override, null for "accepted and forwarded" or the exact ValidationException message]
const BOUNDARIES = [
  ['sfn error 256', 'sfn', { error: 'e'.repeat(256) }, null],
  ['sfn error 257', 'sfn', { error: 'e'.repeat(257) }, tooLong('error', 256)],
  ['sfn error 256 é', 'sfn', { error: E_ACUTE.repeat(256) }, null],
  ['sfn error 257 é', 'sfn', { error: E_ACUTE.repeat(257) }, tooLong('error', 256)],
  ['sfn error 256 emoji', 'sfn', { error: EMOJI.repeat(256) }, null],
  ['sfn error 257 emoji', 'sfn', { error: EMOJI.repeat(257) }, tooLong('error', 256)],
  ['sfn cause 32768', 'sfn', { cause: 'c'.repeat(32768) }, null],
  ['sfn cause 32769', 'sfn', { cause: 'c'.repeat(32769) }, tooLong('cause', 32768)],
  ['sfn cause 32768 é', 'sfn', { cause: E_ACUTE.repeat(32768) }, null],
  ['sfn cause 32769 é', 'sfn', { cause: E_ACUTE.repeat(32769) }, tooLong('cause', 32768)],
  ['sfn cause 32768 emoji', 'sfn', { cause: EMOJI.repeat(32768) }, null],
  ['sfn cause 32769 emoji', 'sfn', { cause: EMOJI.repeat(32769) }, tooLong('cause', 32768)],
  ['sfn taskToken 2048', 'sfn', { taskToken: 't'.repeat(2048) }, null],
  ['sfn taskToken 2049', 'sfn', { taskToken: 't'.repeat(2049) }, tooLong('taskToken', 2048)],
  ['swf taskToken 1024', 'swf', { taskToken: 't'.repeat(1024) }, null],
  ['swf taskToken 1025', 'swf', { taskToken: 't'.repeat(1025) }, tooLong('taskToken', 1024)],
  ['swf reason 256', 'swf', { reason: 'r'.repeat(256) }, null],
  ['swf reason 257', 'swf', { reason: 'r'.repeat(257) }, tooLong('reason', 256)],
  ['swf reason 256 emoji', 'swf', { reason: EMOJI.repeat(256) }, null],
  ['swf reason 257 é', 'swf', { reason: E_ACUTE.repeat(257) }, tooLong('reason', 256)],
  ['swf details 32768', 'swf', { details: 'd'.repeat(32768) }, null],
  ['swf details 32769', 'swf', { details: 'd'.repeat(32769) }, tooLong('details', 32768)],
  ['swf details 32768 emoji', 'swf', { details: EMOJI.repeat(32768) }, null],
  ['swf details 32769 emoji', 'swf', { details: EMOJI.repeat(32769) }, tooLong('details', 32768)],
  ['codepipeline message 5000', 'codepipeline', { failure_message: 'm'.repeat(5000) }, null],
  ['codepipeline message 5001', 'codepipeline', { failure_message: 'm'.repeat(5001) }, tooLong('failureDetails.message', 5000)],
  ['codepipeline message 5000 emoji', 'codepipeline', { failure_message: EMOJI.repeat(5000) }, null],
  ['codepipeline message 5001 é', 'codepipeline', { failure_message: E_ACUTE.repeat(5001) }, tooLong('failureDetails.message', 5000)],
  ['codepipeline externalExecutionId 1500', 'codepipeline', { failure_externalExecutionId: 'x'.repeat(1500) }, null],
  ['codepipeline externalExecutionId 1501', 'codepipeline', { failure_externalExecutionId: 'x'.repeat(1501) },
    tooLong('failureDetails.externalExecutionId', 1500)],
  ['codepipeline bad jobId', 'codepipeline', { jobId: 'abc' },
    `1 validation error detected: Value 'abc' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: ${c.JOB_ID_PATTERN}`],
  ['codepipeline upper-case jobId', 'codepipeline', { jobId: JOB_ID.toUpperCase() },
    `1 validation error detected: Value '${JOB_ID.toUpperCase()}' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: ${c.JOB_ID_PATTERN}`],
  ['codepipeline bad type', 'codepipeline', { failure_type: 'Oops' },
    `1 validation error detected: Value 'Oops' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: ${FAILURE_TYPES}`],
  ...FAILURE_TYPE_LIST.map((t) => [`codepipeline type ${t}`, 'codepipeline', { failure_type: t }, null]),
  ['sfn two errors', 'sfn', { error: 'e'.repeat(257), cause: 'c'.repeat(32769) },
    '2 validation errors detected: ' +
    "Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256; " +
    "Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768"],
];

/** Equal, except that the order of several validation errors is not fixed. */
function assertSameMessage(got, expected) {
  const head = /^\d+ validation errors? detected: /.exec(expected);
  if (head && got.startsWith(head[0])) {
    const parts = (m) => m.slice(head[0].length).split('; ').sort();
    assert.deepEqual(parts(got), parts(expected), `message:\n  expected ${expected}\n  got      ${got}`);
  } else {
    assert.equal(got, expected);
  }
}

describe('AWS SDK v3 through taskgate serve: rejections', () => {
  let rec;
  let serve;
  before(async () => {
    ({ rec, serve } = await c.startRecorderAndServe(tmpRoot, 'shared'));
  });
  after(() => c.stopServeAndRecorders(serve, rec));

  for (const [id, name, over, message] of BOUNDARIES) {
    it(`boundary: ${id} → ${message === null ? 'forwarded' : 'ValidationException'}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const call = c.AWS_CALL_BY_NAME[name];
      const input = validInput(name, over);
      if (message === null) {
        rec.takeCaptures();
        const { send, sent } = c.awsClient(call, serve.endpoint);
        const result = await send(input);
        c.assertForwardedOnce(result, sent, rec.takeCaptures(), serve.endpoint);
        return;
      }
      // (the modeled ValidationException class, where the package has one, is checked there too)
      const { message: got } = await c.expectAwsRefused({ rec, serve, call, input, code: 'ValidationException' });
      assertSameMessage(got, message);
      // free text is never echoed
      for (const v of [input.error, input.cause, input.reason, input.details, input.taskToken, input.failureDetails?.message]) {
        if (typeof v === 'string' && v.length >= 8) assert.ok(!got.includes(v.slice(0, 64)), 'a free-text value is in the message');
      }
    });
  }

  it('sfn: a body over the limit is RequestEntityTooLarge (413)', { timeout: TEST_TIMEOUT_MS }, async () => {
    // 1.5 MiB is over the AWS body limit (the config's 512 KiB, or the Rust side's own 1 MiB).
    const call = c.AWS_CALL_BY_NAME.sfn;
    rec.takeCaptures();
    const { send, sent, answers } = c.awsClient(call, serve.endpoint);
    let err;
    try {
      await send(validInput('sfn', { cause: 'x'.repeat(1536 * 1024) }));
      assert.fail('the SDK call succeeded where RequestEntityTooLarge was expected');
    } catch (e) {
      err = e;
    }
    // taskgate answers at once, then reads and drops the rest of the body before closing, so the
    // SDK still writing it gets the 413, not a connection reset (EPIPE / ECONNRESET).
    const message = c.assertAwsError(err, 'RequestEntityTooLarge', 413, call, answers);
    const m = /(\d+) bytes/.exec(message);
    assert.ok(m && Number(m[1]) < sent[0].body.length, `the message does not name the limit in bytes: ${message}`);
    assert.equal(rec.takeCaptures().length, 0);
  });

  it('sfn: a token with a space is InvalidToken', { timeout: TEST_TIMEOUT_MS }, async () => {
    const call = c.AWS_CALL_BY_NAME.sfn;
    const token = `${SFN_TOKEN.slice(0, 20)} ${SFN_TOKEN.slice(20)}`;
    const { message, err } = await c.expectAwsRefused({
      rec, serve, call, input: validInput('sfn', { taskToken: token }), code: 'InvalidToken',
    });
    assert.ok(err instanceof c.awsModule(call).InvalidToken, err.constructor.name);
    assert.ok(message.startsWith('Invalid Token'), message);
    assert.ok(!message.includes(SFN_TOKEN.slice(0, 20)) && !message.includes(SFN_TOKEN.slice(20)));
  });

  it('swf: a token with a newline is UnknownResourceFault', { timeout: TEST_TIMEOUT_MS }, async () => {
    const call = c.AWS_CALL_BY_NAME.swf;
    const token = `${SWF_TOKEN.slice(0, 20)}\n${SWF_TOKEN.slice(20)}`;
    const { message, err } = await c.expectAwsRefused({
      rec, serve, call, input: validInput('swf', { taskToken: token }), code: 'UnknownResourceFault',
    });
    assert.ok(err instanceof c.awsModule(call).UnknownResourceFault, err.constructor.name);
    assert.ok(!message.includes(SWF_TOKEN.slice(0, 20)) && !message.includes(SWF_TOKEN.slice(20)));
  });

  for (const call of c.AWS_CALLS) {
    it(`${call.name}: a wrong secret is InvalidSignatureException`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { message } = await c.expectAwsRefused({
        rec, serve, call, input: validInput(call.name), code: 'InvalidSignatureException',
        client: { secretAccessKey: `not${c.AWS_SECRET_ACCESS_KEY}` },
      });
      assert.equal(message, c.AWS_SIGNATURE_MISMATCH);
    });

    it(`${call.name}: a clock 20 min behind is InvalidSignatureException "Signature expired"`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { message, sent } = await c.expectAwsRefused({
        rec, serve, call, input: validInput(call.name), code: 'InvalidSignatureException',
        client: { systemClockOffset: -20 * 60 * 1000 },
      });
      const m = /^Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) - 15 min\.\)$/.exec(message);
      assert.ok(m, message);
      const amzDate = sent[0].header('x-amz-date');
      assert.equal(m[1], amzDate);
      const t = (s) => Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));
      assert.equal(t(m[3]) - t(m[2]), 15 * 60 * 1000);
      assert.ok(Math.abs(t(m[3]) - t(amzDate) - 20 * 60 * 1000) < 60 * 1000, `${amzDate} is not 20 min before ${m[3]}`);
    });

    it(`${call.name}: an unknown access key is UnrecognizedClientException`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { message } = await c.expectAwsRefused({
        rec, serve, call, input: validInput(call.name), code: 'UnrecognizedClientException',
        client: { accessKeyId: 'AKIDNOTCONFIGURED0001' },
      });
      assert.equal(message, UNKNOWN_KEY);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 5. a dead upstream is InternalFailure; 6. sink mode

describe('AWS SDK v3 through taskgate serve: upstream down, sink', () => {
  for (const call of c.AWS_CALLS) {
    it(`${call.name}: a dead upstream is InternalFailure (500)`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const port = await c.refusedPort();
      const { config } = c.writeAwsConfig(tmpRoot, `${call.name}-dead`, { upstream: `http://127.0.0.1:${port}` });
      const { err, sent, answers } = await c.withServe(config, {}, async (serve) => {
        const { send, sent, answers } = c.awsClient(call, serve.endpoint);
        return { err: await c.expectAwsError(() => send(validInput(call.name))), sent, answers };
      });
      assert.equal(sent.length, 1, 'the SDK retried although maxAttempts is 1');
      c.assertAwsError(err, 'InternalFailure', 500, call, answers);
    });
  }

  it('sink mode answers each call and logs one line each with dialect and action', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { config, sinkPath } = c.writeAwsConfig(tmpRoot, 'sink', { sink: true });
    const variants = {
      sfn: [{}, { cause: `second ${EMOJI} x=y&z` }],
      swf: [{}, { details: `second ${E_ACUTE}` }],
      codepipeline: [{}, { jobId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', failure_type: 'SystemUnavailable' }],
    };
    const sent = await c.withServe(config, {}, async (serve) => {
      const out = [];
      for (const call of c.AWS_CALLS) {
        for (const over of variants[call.name]) {
          const { send, answers } = c.awsClient(call, serve.endpoint);
          const input = validInput(call.name, over);
          const result = await send(input);
          assert.deepEqual(c.resultKeys(result), []);
          assert.equal(result.$metadata.httpStatusCode, 200);
          assert.equal(answers.at(-1).headers['content-type'], call.contentType);
          assert.ok(result.$metadata.requestId, JSON.stringify(result.$metadata));
          out.push({ call, input, requestId: result.$metadata.requestId });
        }
      }
      return out;
    });

    const lines = c.readSink(sinkPath);
    assert.equal(lines.length, sent.length, `the sink holds ${lines.length} lines, expected ${sent.length}: ${JSON.stringify(lines)}`);
    sent.forEach(({ call, input, requestId }, i) => {
      const line = lines[i];
      const [token, error, cause] =
        call.name === 'sfn' ? [input.taskToken, input.error, input.cause]
          : call.name === 'swf' ? [input.taskToken, input.reason, input.details]
            : [input.jobId, input.failureDetails.type, input.failureDetails.message];
      const show = JSON.stringify(line);
      assert.equal(line.dialect, call.dialect, show);
      assert.equal(line.action, call.operation, show);
      assert.equal(line.task_token, token, show);
      assert.equal(line.error, error, show);
      assert.equal(line.cause, cause, show);
      // the decoded-token fields of the fnf dialect (the token's account among them) are null
      for (const k of ['execution_id', 'event_id', 'kind', 'account', 'verified']) assert.equal(line[k] ?? null, null, `${k}: ${show}`);
      if ('request_id' in line) assert.equal(line.request_id, requestId, 'the sink logged another request id than it answered');
      if ('access_key_id' in line) assert.equal(line.access_key_id, c.AWS_ACCESS_KEY_ID);
    });
  });
});
