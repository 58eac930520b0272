// The rest of the callback family through `taskgate serve`, with the vendors' real Node SDKs: the
// success, cancel and heartbeat calls, each checked with its service's own model and errors.
//
// - the AWS SDK for JavaScript v3: Step Functions SendTaskSuccess / SendTaskHeartbeat, SWF
//   RespondActivityTaskCompleted / RespondActivityTaskCanceled / RecordActivityTaskHeartbeat,
//   CodePipeline PutJobSuccessResult / AcknowledgeJob: each valid call forwarded byte-identical to
//   a recording upstream (tests/sdk/recorder.py --answer aws), the request the SDK signed (seen
//   from a deserialize-step middleware, as in aws_serve.test.mjs) against what the upstream got;
//   every length boundary at its limit forwarded and one over it answered at the edge with the
//   exact ValidationException message (SFN's `output` counted in UTF-8 bytes, the others in
//   characters); InvalidOutput, percentComplete, output-variable keys, continuationToken with
//   outputVariables, a wrong secret; sink mode answers each call with the service's own output;
// - the Alibaba SDKs (pop-core RPC v1, the tea openapi-client with RPC v1 and ACS3):
//   ReportTaskSucceeded forwarded byte for byte (a TCP tap in front of the gateway keeps what the
//   SDK wrote), a missing or empty Output, an Output over the body limit, a wrong secret;
// - the ledger (the embedded store): a success settles its task, so a later heartbeat, failure or
//   success for it is answered at the edge with the service's closed-task error; heartbeats settle
//   nothing.
//
// Every `taskgate serve` is started with a temporary config (port 0) and stopped with SIGTERM,
// expecting exit code 0; every SDK makes a single attempt.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/callbacks.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as c from './common.mjs';

const require = createRequire(import.meta.url);
const TEST_TIMEOUT_MS = 120_000;
const { E_ACUTE, EMOJI, JOB_ID, SFN_TOKEN, SWF_TOKEN } = c;
const KEY_PATTERN = '[A-Za-z0-9@\\-_]+';
const NONCE = '3f1b9c2e-nonce';
// A revision time with milliseconds: the SDK sends epoch seconds with a fraction.
const CREATED = new Date('2025-03-04T05:06:07.891Z');
const OUTPUT = JSON.stringify({ result: 'ok', note: c.CAUSE, items: [1, 2.5, null, true] });

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-callbacks-node-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// the AWS calls

/** A call of `base`'s service (common.mjs AWS_CALLS), with its own operation. */
function awsCall(base, operation, callback, valid, answer = {}) {
  const b = c.AWS_CALL_BY_NAME[base];
  const prefix = b.target.slice(0, b.target.indexOf('.'));
  return { ...b, base, command: `${operation}Command`, operation, target: `${prefix}.${operation}`, callback, valid, answer };
}

const CALLS = Object.fromEntries(Object.entries({
  sfnSuccess: awsCall('sfn', 'SendTaskSuccess', 'succeeded', () => ({ taskToken: SFN_TOKEN, output: OUTPUT })),
  sfnHeartbeat: awsCall('sfn', 'SendTaskHeartbeat', 'heartbeat', () => ({ taskToken: SFN_TOKEN })),
  swfCompleted: awsCall('swf', 'RespondActivityTaskCompleted', 'succeeded', () => ({ taskToken: SWF_TOKEN, result: c.CAUSE })),
  swfCanceled: awsCall('swf', 'RespondActivityTaskCanceled', 'canceled', () => ({ taskToken: SWF_TOKEN, details: c.CAUSE })),
  swfHeartbeat: awsCall('swf', 'RecordActivityTaskHeartbeat', 'heartbeat',
    () => ({ taskToken: SWF_TOKEN, details: `50% done ${E_ACUTE}` }), { cancelRequested: false }),
  cpSuccess: awsCall('codepipeline', 'PutJobSuccessResult', 'succeeded', () => ({
    jobId: JOB_ID,
    currentRevision: { revision: 'a1b2c3d4e5', changeIdentifier: 'change-42', created: CREATED, revisionSummary: `Fix ${E_ACUTE} build 🚀` },
    executionDetails: { summary: c.CAUSE, externalExecutionId: 'run-42', percentComplete: 100 },
    outputVariables: { commit_id: 'a1b2c3d4e5', 'Build@Number-1_x': '42', note: c.CAUSE },
  })),
  cpAck: awsCall('codepipeline', 'AcknowledgeJob', 'heartbeat', () => ({ jobId: JOB_ID, nonce: NONCE }), { status: 'InProgress' }),
}).map(([name, call]) => [name, { ...call, name }]));

/**
 * A valid input of `call` with members replaced: `over` keys are member paths
 * (`currentRevision.revision`); `undefined` removes the member (the SDK then leaves it out).
 */
function validInput(call, over = {}) {
  const input = call.valid();
  for (const [key, value] of Object.entries(over)) {
    const parts = key.split('.');
    let target = input;
    for (const p of parts.slice(0, -1)) {
      target[p] ??= {};
      target = target[p];
    }
    const last = parts.at(-1);
    if (value === undefined) delete target[last];
    else target[last] = value;
  }
  return input;
}

/** The output members of a result, `$metadata` aside. */
function resultBody(result) {
  return Object.fromEntries(c.resultKeys(result).map((k) => [k, result[k]]));
}

// ---------------------------------------------------------------------------------------------
// 1. each valid call is forwarded byte-identical; the SDK gets the upstream's answer

describe('AWS SDK v3 callbacks through taskgate serve: forwarding', () => {
  for (const call of Object.values(CALLS)) {
    it(`${call.operation}: a valid call is forwarded byte-identical, the SDK gets the upstream's answer`, { timeout: TEST_TIMEOUT_MS }, async () => {
      // (checked there: the recorder's `{}` came back, the upstream's answer, not the sink's)
      const { captures } = await c.forwardedThroughServe(tmpRoot, call, validInput(call));
      const up = c.parseRaw(captures[0].raw);
      assert.equal(up.header('x-amz-target'), call.target);
      assert.equal(up.header('content-type'), call.contentType);
      const body = JSON.parse(up.body.toString('utf8'));
      if (call.name === 'cpSuccess') {
        // the timestamp goes out as epoch seconds (with the milliseconds as a fraction)
        assert.equal(body.currentRevision.created, CREATED.getTime() / 1000);
        assert.ok(!Number.isInteger(body.currentRevision.created));
        assert.deepEqual({ ...body, currentRevision: { ...body.currentRevision, created: CREATED } }, validInput(call));
      } else {
        assert.deepEqual(body, validInput(call));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 2. model constraints, tokens, authentication: one recorder and one serve for all

const tooLong = c.awsTooLong;
const tooShort = (member, limit) =>
  `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length greater than or equal to ${limit}`;
const isNull = (member) =>
  `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`;
const badJobId = (value) =>
  `1 validation error detected: Value '${value}' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: ${c.JOB_ID_PATTERN}`;
/** A JSON string literal of `n` bytes in UTF-8: the quotes, then `é` (2 bytes) as far as they go, then one `o` if odd. */
const jsonStringOfBytes = (n) => `"${E_ACUTE.repeat(Math.floor((n - 2) / 2))}${(n - 2) % 2 ? 'o' : ''}"`;
const NO_CONTINUATION =
  'outputVariables can be included only when there is no continuation token on the request.';

// [id, call name, input override, expectation]: null for "accepted and forwarded", a string for
// the exact ValidationException message, { code, prefix } for another error.
const BOUNDARIES = [
  // Step Functions SendTaskSuccess: `output` counts UTF-8 bytes, up to 256 KiB
  ['sfn output 262144 bytes of é', 'sfnSuccess', { output: jsonStringOfBytes(262144) }, null],
  ['sfn output 262145 bytes', 'sfnSuccess', { output: jsonStringOfBytes(262145) }, tooLong('output', 262144)],
  ['sfn output 131074 characters, 262146 bytes', 'sfnSuccess', { output: `"${E_ACUTE.repeat(131072)}"` }, tooLong('output', 262144)],
  ['sfn output 262144 ASCII bytes', 'sfnSuccess', { output: `"${'o'.repeat(262142)}"` }, null],
  ['sfn output 262145 ASCII bytes', 'sfnSuccess', { output: `"${'o'.repeat(262143)}"` }, tooLong('output', 262144)],
  ['sfn output of emoji', 'sfnSuccess', { output: JSON.stringify({ e: EMOJI.repeat(1000) }) }, null],
  ['sfn output missing', 'sfnSuccess', { output: undefined }, isNull('output')],
  ['sfn output not JSON', 'sfnSuccess', { output: 'not json' },
    { code: 'InvalidOutput', prefix: 'The provided JSON output data is not valid: ' }],
  ['sfn output two JSON values', 'sfnSuccess', { output: '{} {}' },
    { code: 'InvalidOutput', prefix: 'The provided JSON output data is not valid: ' }],
  ['sfn output with a leading zero', 'sfnSuccess', { output: '{"a":01}' },
    { code: 'InvalidOutput', prefix: 'The provided JSON output data is not valid: ' }],
  // JSON by RFC 8259, whatever a parser's limits: the service takes it, so the edge does.
  ['sfn output with a repeated member', 'sfnSuccess', { output: '{"a":1,"a":2}' }, null],
  ['sfn output nested 1000 deep', 'sfnSuccess', { output: '['.repeat(1000) + ']'.repeat(1000) }, null],
  ['sfn output with a huge exponent', 'sfnSuccess', { output: '{"x":1e400}' }, null],
  ['sfn output with a lone surrogate escape', 'sfnSuccess', { output: '{"a":"\\ud800"}' }, null],
  ['sfn output a bare JSON string', 'sfnSuccess', { output: '"done"' }, null],
  ['sfn success taskToken 2048', 'sfnSuccess', { taskToken: 't'.repeat(2048) }, null],
  ['sfn success taskToken 2049', 'sfnSuccess', { taskToken: 't'.repeat(2049) }, tooLong('taskToken', 2048)],
  ['sfn success token with a space', 'sfnSuccess', { taskToken: `${SFN_TOKEN.slice(0, 20)} ${SFN_TOKEN.slice(20)}` },
    { code: 'InvalidToken', prefix: 'Invalid Token' }],
  // Step Functions SendTaskHeartbeat: the token alone
  ['sfn heartbeat taskToken 2048', 'sfnHeartbeat', { taskToken: 't'.repeat(2048) }, null],
  ['sfn heartbeat taskToken 2049', 'sfnHeartbeat', { taskToken: 't'.repeat(2049) }, tooLong('taskToken', 2048)],
  ['sfn heartbeat taskToken empty', 'sfnHeartbeat', { taskToken: '' }, tooShort('taskToken', 1)],
  ['sfn heartbeat token with a tab', 'sfnHeartbeat', { taskToken: `${SFN_TOKEN.slice(0, 20)}\t${SFN_TOKEN.slice(20)}` },
    { code: 'InvalidToken', prefix: 'Invalid Token' }],
  // SWF: lengths in characters
  ['swf completed result 32768', 'swfCompleted', { result: 'r'.repeat(32768) }, null],
  ['swf completed result 32769', 'swfCompleted', { result: 'r'.repeat(32769) }, tooLong('result', 32768)],
  ['swf completed result 32768 emoji', 'swfCompleted', { result: EMOJI.repeat(32768) }, null],
  ['swf completed result 32769 emoji', 'swfCompleted', { result: EMOJI.repeat(32769) }, tooLong('result', 32768)],
  ['swf completed without result', 'swfCompleted', { result: undefined }, null],
  ['swf completed taskToken 1024', 'swfCompleted', { taskToken: 't'.repeat(1024) }, null],
  ['swf completed taskToken 1025', 'swfCompleted', { taskToken: 't'.repeat(1025) }, tooLong('taskToken', 1024)],
  ['swf completed token with a newline', 'swfCompleted', { taskToken: `${SWF_TOKEN.slice(0, 20)}\n${SWF_TOKEN.slice(20)}` },
    { code: 'UnknownResourceFault', prefix: '' }],
  ['swf canceled details 32768 é', 'swfCanceled', { details: E_ACUTE.repeat(32768) }, null],
  ['swf canceled details 32769 é', 'swfCanceled', { details: E_ACUTE.repeat(32769) }, tooLong('details', 32768)],
  ['swf canceled taskToken 1024', 'swfCanceled', { taskToken: 't'.repeat(1024) }, null],
  ['swf canceled taskToken 1025', 'swfCanceled', { taskToken: 't'.repeat(1025) }, tooLong('taskToken', 1024)],
  ['swf heartbeat details 2048 emoji', 'swfHeartbeat', { details: EMOJI.repeat(2048) }, null],
  ['swf heartbeat details 2049 emoji', 'swfHeartbeat', { details: EMOJI.repeat(2049) }, tooLong('details', 2048)],
  ['swf heartbeat details 2048', 'swfHeartbeat', { details: 'd'.repeat(2048) }, null],
  ['swf heartbeat details 2049 é', 'swfHeartbeat', { details: E_ACUTE.repeat(2049) }, tooLong('details', 2048)],
  ['swf heartbeat taskToken 1024', 'swfHeartbeat', { taskToken: 't'.repeat(1024) }, null],
  ['swf heartbeat taskToken 1025', 'swfHeartbeat', { taskToken: 't'.repeat(1025) }, tooLong('taskToken', 1024)],
  // CodePipeline PutJobSuccessResult
  ['codepipeline revision 1500', 'cpSuccess', { 'currentRevision.revision': 'r'.repeat(1500) }, null],
  ['codepipeline revision 1501', 'cpSuccess', { 'currentRevision.revision': 'r'.repeat(1501) }, tooLong('currentRevision.revision', 1500)],
  ['codepipeline revision empty', 'cpSuccess', { 'currentRevision.revision': '' }, tooShort('currentRevision.revision', 1)],
  ['codepipeline revision missing', 'cpSuccess', { 'currentRevision.revision': undefined }, isNull('currentRevision.revision')],
  ['codepipeline changeIdentifier 100 emoji', 'cpSuccess', { 'currentRevision.changeIdentifier': EMOJI.repeat(100) }, null],
  ['codepipeline changeIdentifier 101', 'cpSuccess', { 'currentRevision.changeIdentifier': 'c'.repeat(101) },
    tooLong('currentRevision.changeIdentifier', 100)],
  ['codepipeline changeIdentifier missing', 'cpSuccess', { 'currentRevision.changeIdentifier': undefined },
    isNull('currentRevision.changeIdentifier')],
  ['codepipeline revisionSummary 2048', 'cpSuccess', { 'currentRevision.revisionSummary': 's'.repeat(2048) }, null],
  ['codepipeline revisionSummary 2049 é', 'cpSuccess', { 'currentRevision.revisionSummary': E_ACUTE.repeat(2049) },
    tooLong('currentRevision.revisionSummary', 2048)],
  ['codepipeline without created', 'cpSuccess', { 'currentRevision.created': undefined }, null],
  ['codepipeline summary 2048', 'cpSuccess', { 'executionDetails.summary': 's'.repeat(2048) }, null],
  ['codepipeline summary 2049', 'cpSuccess', { 'executionDetails.summary': 's'.repeat(2049) }, tooLong('executionDetails.summary', 2048)],
  ['codepipeline externalExecutionId 1500', 'cpSuccess', { 'executionDetails.externalExecutionId': 'x'.repeat(1500) }, null],
  ['codepipeline externalExecutionId 1501', 'cpSuccess', { 'executionDetails.externalExecutionId': 'x'.repeat(1501) },
    tooLong('executionDetails.externalExecutionId', 1500)],
  ['codepipeline percentComplete 100', 'cpSuccess', { 'executionDetails.percentComplete': 100 }, null],
  ['codepipeline percentComplete 0', 'cpSuccess', { 'executionDetails.percentComplete': 0 }, null],
  ['codepipeline percentComplete 101', 'cpSuccess', { 'executionDetails.percentComplete': 101 },
    "1 validation error detected: Value '101' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value less than or equal to 100"],
  ['codepipeline percentComplete -1', 'cpSuccess', { 'executionDetails.percentComplete': -1 },
    "1 validation error detected: Value '-1' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value greater than or equal to 0"],
  ['codepipeline a bad output-variable key', 'cpSuccess', { 'outputVariables.bad key': 'v' },
    `1 validation error detected: Value 'bad key' at 'outputVariables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ${KEY_PATTERN}]`],
  ['codepipeline continuationToken 2048', 'cpSuccess', { outputVariables: undefined, continuationToken: 'k'.repeat(2048) }, null],
  ['codepipeline continuationToken 2049', 'cpSuccess', { outputVariables: undefined, continuationToken: 'k'.repeat(2049) },
    tooLong('continuationToken', 2048)],
  ['codepipeline continuationToken with outputVariables', 'cpSuccess', { continuationToken: 'step-2' }, NO_CONTINUATION],
  ['codepipeline jobId only', 'cpSuccess', { currentRevision: undefined, executionDetails: undefined, outputVariables: undefined }, null],
  ['codepipeline success bad jobId', 'cpSuccess', { jobId: JOB_ID.toUpperCase() }, badJobId(JOB_ID.toUpperCase())],
  // CodePipeline AcknowledgeJob
  ['codepipeline nonce 50', 'cpAck', { nonce: 'n'.repeat(50) }, null],
  ['codepipeline nonce 51', 'cpAck', { nonce: 'n'.repeat(51) }, tooLong('nonce', 50)],
  ['codepipeline nonce missing', 'cpAck', { nonce: undefined }, isNull('nonce')],
  ['codepipeline acknowledge bad jobId', 'cpAck', { jobId: 'job-1' }, badJobId('job-1')],
];

describe('AWS SDK v3 callbacks through taskgate serve: rejections', () => {
  let rec;
  let serve;
  before(async () => {
    ({ rec, serve } = await c.startRecorderAndServe(tmpRoot, 'shared'));
  });
  after(() => c.stopServeAndRecorders(serve, rec));

  for (const [id, name, over, expected] of BOUNDARIES) {
    const what = expected === null ? 'forwarded' : typeof expected === 'string' ? 'ValidationException' : expected.code;
    it(`boundary: ${id} → ${what}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const call = CALLS[name];
      const input = validInput(call, over);
      if (expected === null) {
        rec.takeCaptures();
        const { send, sent } = c.awsClient(call, serve.endpoint);
        const result = await send(input);
        c.assertForwardedOnce(result, sent, rec.takeCaptures(), serve.endpoint);
        return;
      }
      const code = typeof expected === 'string' ? 'ValidationException' : expected.code;
      const { message, sent } = await c.expectAwsRefused({ rec, serve, call, input, code });
      assert.equal(sent.length, 1, 'the SDK retried although maxAttempts is 1');
      if (typeof expected === 'string') assert.equal(message, expected);
      else assert.ok(message.startsWith(expected.prefix), message);
    });
  }

  for (const call of Object.values(CALLS)) {
    it(`${call.operation}: a wrong secret is InvalidSignatureException`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { message } = await c.expectAwsRefused({
        rec, serve, call, input: validInput(call), code: 'InvalidSignatureException',
        client: { secretAccessKey: `not${c.AWS_SECRET_ACCESS_KEY}` },
      });
      assert.equal(message, c.AWS_SIGNATURE_MISMATCH);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 3. sink mode: the service's own success answer, one sink line each

describe('AWS SDK v3 callbacks through taskgate serve: sink', () => {
  it('answers each call with its service\'s output and logs one line each', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { config, sinkPath } = c.writeAwsConfig(tmpRoot, 'sink', { sink: true });
    const calls = Object.values(CALLS);
    const sent = await c.withServe(config, {}, async (serve) => {
      const out = [];
      for (const call of calls) {
        const { send, answers } = c.awsClient(call, serve.endpoint);
        const result = await send(validInput(call));
        assert.equal(result.$metadata.httpStatusCode, 200, call.operation);
        assert.deepEqual(resultBody(result), call.answer, `${call.operation}: the answer`);
        assert.equal(answers.at(-1).headers['content-type'], call.contentType);
        assert.ok(result.$metadata.requestId, JSON.stringify(result.$metadata));
        out.push({ call, requestId: result.$metadata.requestId });
      }
      return out;
    });

    const lines = c.readSink(sinkPath);
    assert.equal(lines.length, sent.length, `the sink holds ${lines.length} lines, expected ${sent.length}: ${JSON.stringify(lines)}`);
    sent.forEach(({ call, requestId }, i) => {
      const line = lines[i];
      const show = JSON.stringify(line);
      const input = validInput(call);
      assert.equal(line.dialect, call.dialect, show);
      assert.equal(line.action, call.operation, show);
      assert.equal(line.callback, call.callback, show);
      assert.equal(line.task_token, input.taskToken ?? input.jobId, show);
      assert.equal(line.error ?? null, null, show);
      assert.equal(line.cause ?? null, null, show);
      const output = {
        sfnSuccess: input.output,
        swfCompleted: input.result,
        swfCanceled: input.details,
        swfHeartbeat: input.details,
        cpSuccess: JSON.stringify(input.outputVariables),
      }[call.name] ?? null;
      assert.equal(line.output ?? null, output, show);
      if ('request_id' in line) assert.equal(line.request_id, requestId, 'the sink logged another request id than it answered');
      if ('access_key_id' in line) assert.equal(line.access_key_id, c.AWS_ACCESS_KEY_ID);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// the Alibaba SDKs: ReportTaskSucceeded

const FNF_LAYOUTS = ['node-popcore-rpc', 'node-tea-rpc', 'node-tea-acs3'];
const FNF_OUTPUT = JSON.stringify({ result: 'ok', note: c.CAUSE });

/**
 * `ReportTaskSucceeded` (or `action`) with `params` ({ TaskToken, Output }, either may be left out)
 * from `layout`'s SDK at http://endpoint; resolves to the answer's body.
 */
async function fnfCall(layout, endpoint, params, { secret = c.ACCESS_KEY_SECRET, action = 'ReportTaskSucceeded' } = {}) {
  if (layout === 'node-popcore-rpc') {
    const FnF = require('@alicloud/fnf-2019-03-15');
    const client = new FnF({ endpoint: `http://${endpoint}`, accessKeyId: c.ACCESS_KEY_ID, accessKeySecret: secret });
    // The SDK's own method where it can send the call; its generic request where it refuses to
    // send without a required parameter.
    if (action === 'ReportTaskSucceeded' && 'TaskToken' in params && 'Output' in params) return client.reportTaskSucceeded(params);
    return client.request(action, params, { method: 'POST' });
  }
  const OpenApi = require('@alicloud/openapi-client');
  const Util = require('@alicloud/tea-util');
  const client = new OpenApi.default(new OpenApi.Config({
    accessKeyId: c.ACCESS_KEY_ID,
    accessKeySecret: secret,
    endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    signatureAlgorithm: layout === 'node-tea-rpc' ? 'v2' : 'ACS3-HMAC-SHA256',
  }));
  const apiParams = new OpenApi.Params({
    action, version: '2019-03-15', protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  // As the generated clients send it: TaskToken in the query, Output in the form body.
  const query = 'TaskToken' in params ? { TaskToken: params.TaskToken } : {};
  const body = Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'TaskToken'));
  const resp = await client.callApi(apiParams, new OpenApi.OpenApiRequest({ query, body }), new Util.RuntimeOptions({}));
  assert.equal(resp.statusCode, 200);
  return resp.body;
}

/** The SDK error's code and the message of the vendor's body (when the SDK kept it). */
function fnfError(err) {
  return { code: String(err.code), message: err.data?.Message ?? err.message };
}

describe('Alibaba SDKs: ReportTaskSucceeded through taskgate serve', () => {
  let rec;
  let serve;
  let config;
  let dir;
  let eventId = 9000;
  const newToken = () => c.makeTaskToken(c.FIXTURE_EXECUTION_ID, eventId++);
  before(async () => {
    // The default 64 KiB body limit: ReportTaskSucceeded's Output has no length of its own.
    ({ rec, serve, dir, config } = await c.startRecorderAndServe(tmpRoot, 'fnf', { answer: 'fnf', maxBodyBytes: 65536 }));
  });
  after(() => c.stopServeAndRecorders(serve, rec));

  it('each SDK\'s call is forwarded byte for byte, the SDK gets the upstream\'s answer', { timeout: TEST_TIMEOUT_MS }, async () => {
    const tap = await c.startTcpTap(serve.port);
    try {
      rec.takeCaptures();
      const tokens = [];
      const bodies = [];
      for (const layout of FNF_LAYOUTS) {
        const token = newToken();
        tokens.push(token);
        bodies.push(await fnfCall(layout, tap.endpoint, { TaskToken: token, Output: FNF_OUTPUT }));
      }
      const sent = tap.requests();
      const captures = rec.takeCaptures();
      assert.equal(sent.length, FNF_LAYOUTS.length);
      assert.equal(captures.length, FNF_LAYOUTS.length, `the upstream got ${captures.length} requests`);
      FNF_LAYOUTS.forEach((layout, i) => {
        assert.deepEqual({ ...bodies[i] }, { EventId: c.RECORDER_EVENT_ID, RequestId: captures[i].requestId }, `${layout}: the upstream's answer`);
        c.assertForwardedExactly(sent[i], captures[i].raw);
        const up = c.parseRaw(captures[i].raw);
        const params = { ...up.query, ...up.form };
        assert.equal(up.header('host'), tap.endpoint, `${layout}: the signed Host`);
        assert.equal(params.TaskToken, tokens[i], layout);
        assert.equal(params.Output, FNF_OUTPUT, layout);
        if (layout !== 'node-tea-acs3') assert.equal(params.Action, 'ReportTaskSucceeded', layout);
        // The forwarded bytes still verify, as a success report.
        const file = path.join(dir, `forwarded-${layout}.http`);
        fs.writeFileSync(file, captures[i].raw);
        const res = c.taskgateCheck(config, file);
        assert.equal(res.exitCode, 0, res.stdout + res.stderr);
        assert.equal(res.output.verdict, 'forward', res.stdout);
        const r = res.output.report;
        assert.equal(r.action, 'ReportTaskSucceeded');
        assert.equal(r.callback, 'succeeded');
        assert.equal(r.output, FNF_OUTPUT);
        assert.equal(r.error ?? null, null);
        assert.equal(r.task_token, tokens[i]);
        assert.equal(r.token.execution_id, c.FIXTURE_EXECUTION_ID);
        assert.equal(r.token.verified, true);
      });
      assert.ok(c.headOf(sent[1]).header('transfer-encoding'), 'the tea client sends its body chunked');
    } finally {
      await tap.close();
    }
  });

  for (const layout of FNF_LAYOUTS) {
    it(`${layout}: without Output, or with an empty one, MissingRequiredParams`, { timeout: TEST_TIMEOUT_MS }, async () => {
      rec.takeCaptures();
      for (const params of [{ TaskToken: newToken() }, { TaskToken: newToken(), Output: '' }]) {
        const err = await c.expectSdkError(() => fnfCall(layout, serve.endpoint, params));
        const { code, message } = fnfError(err);
        assert.equal(code, 'MissingRequiredParams', `${JSON.stringify(params)}: ${err.message}`);
        assert.ok(message.includes("The HTTP query 'Output' must be specified."), message);
      }
      assert.equal(rec.takeCaptures().length, 0, 'a rejected call reached the upstream');
    });

    it(`${layout}: an Output far over Cause's 4096 characters is forwarded, one over the body limit is EntityTooLarge`, { timeout: TEST_TIMEOUT_MS }, async () => {
      rec.takeCaptures();
      const big = JSON.stringify({ blob: 'o'.repeat(50_000) });
      const body = await fnfCall(layout, serve.endpoint, { TaskToken: newToken(), Output: big });
      const captures = rec.takeCaptures();
      assert.equal(captures.length, 1);
      assert.equal(body.RequestId, captures[0].requestId);
      const up = c.parseRaw(captures[0].raw);
      assert.equal({ ...up.query, ...up.form }.Output, big);

      const err = await c.expectSdkError(() =>
        fnfCall(layout, serve.endpoint, { TaskToken: newToken(), Output: JSON.stringify({ blob: 'o'.repeat(70_000) }) }));
      const { code, message } = fnfError(err);
      assert.equal(code, 'EntityTooLarge', err.message);
      assert.ok(message.includes('(65536 bytes)'), message);
      assert.equal(rec.takeCaptures().length, 0, 'a rejected call reached the upstream');
    });

    it(`${layout}: a wrong secret is SignatureNotMatch, nothing forwarded`, { timeout: TEST_TIMEOUT_MS }, async () => {
      rec.takeCaptures();
      const err = await c.expectSdkError(() =>
        fnfCall(layout, serve.endpoint, { TaskToken: newToken(), Output: FNF_OUTPUT }, { secret: c.WRONG_SECRET }));
      assert.equal(fnfError(err).code, 'SignatureNotMatch', err.message);
      assert.equal(rec.takeCaptures().length, 0, 'a rejected call reached the upstream');
    });
  }

  it('a token of another key is InvalidArgument, nothing forwarded', { timeout: TEST_TIMEOUT_MS }, async () => {
    rec.takeCaptures();
    const forged = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, 1, 'not-the-token-key');
    for (const layout of FNF_LAYOUTS) {
      const err = await c.expectSdkError(() => fnfCall(layout, serve.endpoint, { TaskToken: forged, Output: FNF_OUTPUT }));
      assert.equal(fnfError(err).code, 'InvalidArgument', `${layout}: ${err.message}`);
    }
    assert.equal(rec.takeCaptures().length, 0, 'a rejected call reached the upstream');
  });

  it('sink mode answers {EventId, RequestId} and logs the success with its decoded token', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { config: sinkConfig, sinkPath } = c.writeServeConfig(tmpRoot, 'fnf-sink', { sink: true });
    const sent = await c.withServe(sinkConfig, {}, async (sink) => {
      const out = [];
      for (const layout of FNF_LAYOUTS) {
        const id = eventId++;
        const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, id);
        const body = await fnfCall(layout, sink.endpoint, { TaskToken: token, Output: FNF_OUTPUT });
        assert.ok(Number.isInteger(body.EventId), `${layout}: EventId ${JSON.stringify(body.EventId)}`);
        assert.equal(typeof body.RequestId, 'string');
        assert.ok(body.RequestId.length > 0);
        out.push({ layout, token, id, body });
      }
      return out;
    });
    const lines = c.readSink(sinkPath);
    assert.equal(lines.length, sent.length, JSON.stringify(lines));
    sent.forEach(({ layout, token, id, body }, i) => {
      const line = lines[i];
      const show = `${layout}: ${JSON.stringify(line)}`;
      assert.equal(line.dialect, 'fnf', show);
      assert.equal(line.action, 'ReportTaskSucceeded', show);
      assert.equal(line.callback, 'succeeded', show);
      assert.equal(line.output, FNF_OUTPUT, show);
      assert.equal(line.error ?? null, null, show);
      assert.equal(line.task_token, token, show);
      assert.equal(line.execution_id, c.FIXTURE_EXECUTION_ID, show);
      assert.equal(line.event_id, id, show);
      assert.equal(line.account, c.ACCOUNT, show);
      assert.equal(line.verified, true, show);
      assert.equal(line.request_id, body.RequestId, 'the sink logged another RequestId than it answered');
      assert.equal(line.event_id_assigned, body.EventId, show);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 4. the ledger: a success settles its task; heartbeats settle nothing

describe('the ledger (embedded store): successes settle, heartbeats do not', () => {
  let fnf;
  let aws;
  let serve;
  let dir;
  before(async () => {
    fnf = await c.startRecorder();
    aws = await c.startRecorder({ answer: 'aws' });
    let config;
    ({ dir, config } = c.writeAwsConfig(tmpRoot, 'ledger', {
      upstreams: { fnf: `http://${fnf.endpoint}`, states: `http://${aws.endpoint}`, swf: `http://${aws.endpoint}`, codepipeline: `http://${aws.endpoint}` },
      store: 'kind = "embedded"\npath = "state.redb"',
    }));
    serve = await c.startServe(config);
  });
  after(() => c.stopServeAndRecorders(serve, fnf, aws));

  /** `name`'s call with `input`: forwarded byte-identical, once. */
  async function forwarded(name, input) {
    const call = CALLS[name] ?? c.AWS_CALL_BY_NAME[name];
    aws.takeCaptures();
    const { send, sent } = c.awsClient(call, serve.endpoint);
    const result = await send(input);
    c.assertForwardedOnce(result, sent, aws.takeCaptures(), serve.endpoint, `${name}: the upstream`);
  }

  /** `name`'s call with `input`: answered at the edge with `code`, not forwarded. */
  async function settled(name, input, code) {
    const call = CALLS[name] ?? c.AWS_CALL_BY_NAME[name];
    const why = `${name}: a call for a settled task reached the upstream`;
    const { message } = await c.expectAwsRefused({ rec: aws, serve, call, input, code, why });
    return message;
  }

  it('Step Functions: heartbeats, a success, then the heartbeat, failure and success are TaskTimedOut', { timeout: TEST_TIMEOUT_MS }, async () => {
    const taskToken = 'node-ledger-sfn-token';
    await forwarded('sfnHeartbeat', { taskToken });
    await forwarded('sfnHeartbeat', { taskToken });
    await forwarded('sfnSuccess', { taskToken, output: OUTPUT });
    const message = await settled('sfnHeartbeat', { taskToken }, 'TaskTimedOut');
    assert.equal(message, "Task Timed Out: 'Provided task does not exist anymore'");
    await settled('sfn', { taskToken, error: 'E' }, 'TaskTimedOut');
    await settled('sfnSuccess', { taskToken, output: '{}' }, 'TaskTimedOut');
    // another task is not touched
    await forwarded('sfnHeartbeat', { taskToken: `${taskToken}-2` });
  });

  it('SWF: a completed task\'s heartbeat and a canceled task\'s completion are UnknownResourceFault', { timeout: TEST_TIMEOUT_MS }, async () => {
    const done = 'node-ledger-swf-completed';
    await forwarded('swfHeartbeat', { taskToken: done, details: 'half' });
    await forwarded('swfCompleted', { taskToken: done, result: 'r' });
    await settled('swfHeartbeat', { taskToken: done, details: 'again' }, 'UnknownResourceFault');
    await settled('swf', { taskToken: done, reason: 'E' }, 'UnknownResourceFault');
    const canceled = 'node-ledger-swf-canceled';
    await forwarded('swfCanceled', { taskToken: canceled, details: 'stop' });
    await settled('swfCompleted', { taskToken: canceled, result: 'r' }, 'UnknownResourceFault');
    await settled('swfCanceled', { taskToken: canceled }, 'UnknownResourceFault');
  });

  it('CodePipeline: AcknowledgeJob settles nothing, a success does: InvalidJobStateException', { timeout: TEST_TIMEOUT_MS }, async () => {
    const jobId = '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d';
    await forwarded('cpAck', { jobId, nonce: 'n-1' });
    await forwarded('cpSuccess', { jobId, outputVariables: { k: 'v' } });
    const message = await settled('cpAck', { jobId, nonce: 'n-2' }, 'InvalidJobStateException');
    assert.ok(message.includes(jobId), message);
    await settled('codepipeline', { jobId, failureDetails: { type: 'JobFailed', message: 'm' } }, 'InvalidJobStateException');
  });

  it('Alibaba: after ReportTaskSucceeded, a failure or a second success is TaskAlreadyCompleted', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const [i, layout] of FNF_LAYOUTS.entries()) {
      const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, 9500 + i);
      fnf.takeCaptures();
      const body = await fnfCall(layout, serve.endpoint, { TaskToken: token, Output: FNF_OUTPUT });
      const captures = fnf.takeCaptures();
      assert.equal(captures.length, 1, layout);
      assert.equal(body.RequestId, captures[0].requestId, layout);
      for (const again of [{ TaskToken: token, Output: '{}' }, { TaskToken: token, Error: 'E', Cause: 'c' }]) {
        const action = 'Output' in again ? 'ReportTaskSucceeded' : 'ReportTaskFailed';
        const err = await c.expectSdkError(() => fnfCall(layout, serve.endpoint, again, { action }));
        assert.equal(fnfError(err).code, 'TaskAlreadyCompleted', `${layout} ${action}: ${err.message}`);
      }
      assert.equal(fnf.takeCaptures().length, 0, `${layout}: a report for a settled task reached the upstream`);
    }
    assert.ok(fs.existsSync(path.join(dir, 'state.redb')), 'the embedded store keeps its file next to the config');
  });
});
