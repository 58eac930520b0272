// End to end through `taskgate serve`: the vendors' real Node SDKs send ReportTaskFailed to a
// running taskgate, which forwards accepted reports to a recording upstream (tests/sdk/recorder.py),
// answers rejected ones itself, and in sink mode (no upstream) answers and logs them itself.
//
// Every test starts its own `taskgate serve` (temporary config, port 0) and stops it with SIGTERM,
// expecting exit code 0.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/serve.test.mjs
// The trap tests use $TASKGATE_FAULTS_COMPONENT, or build the test-faults component themselves.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as c from './common.mjs';

// Generous: the first trap test may build the test-faults component.
const TEST_TIMEOUT_MS = 120_000;
const BUILD_TIMEOUT_MS = 1_900_000;
const VENDOR_ERROR_KEYS = ['RequestId', 'HostId', 'Code', 'Message', 'Recommend'];
// Two different reports for the sink: [Error, Cause].
const REPORTS = [
  [c.ERROR, c.CAUSE],
  ['Task.Timeout', 'second report: 100% over ✓ x=y&z'],
];

let recorder;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-serve-node-'));

before(async () => {
  recorder = await c.startRecorder();
});

after(async () => {
  if (recorder) await recorder.stop();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

function newTask() {
  const executionId = crypto.randomUUID();
  const eventId = 1000 + crypto.randomInt(100000);
  return { executionId, eventId, token: c.makeTaskToken(executionId, eventId) };
}

function writeConfig(name, opts) {
  const dir = fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
  const config = path.join(dir, 'taskgate.toml');
  fs.writeFileSync(config, c.serveConfigToml(opts));
  return { dir, config };
}

function paramsOf(raw) {
  const req = c.parseRaw(raw);
  return { req, params: { ...req.query, ...req.form } };
}

/** When the SDK kept the parsed error body, it has the vendor's keys. */
function assertVendorBody(err) {
  const data = err.data;
  if (data && typeof data === 'object') {
    for (const k of VENDOR_ERROR_KEYS) assert.ok(k in data, `${k} missing from the error body ${JSON.stringify(data)}`);
  }
}

let faultsComponent;
function getFaultsComponent() {
  faultsComponent ??= c.faultsComponent();
  return faultsComponent;
}

for (const layout of c.LAYOUTS) {
  describe(`${layout.name} through taskgate serve`, () => {
    it('forwards a valid report once, intact', { timeout: TEST_TIMEOUT_MS }, async () => {
      const task = newTask();
      const { dir, config } = writeConfig(`${layout.name}-forward`, { upstream: `http://${recorder.endpoint}` });
      recorder.takeCaptures();
      const { result, captures, endpoint } = await c.withServe(config, {}, async (serve) => {
        const result = await layout.send(serve.endpoint, task.token, c.ERROR, c.CAUSE);
        return { result, captures: recorder.takeCaptures(), endpoint: serve.endpoint };
      });

      assert.equal(captures.length, 1, `the upstream got ${captures.length} requests, expected exactly one`);
      assert.equal(Number(result.eventId), c.RECORDER_EVENT_ID);
      assert.equal(result.requestId, captures[0].requestId);

      const { req, params } = paramsOf(captures[0].raw);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/');
      assert.equal(req.header('x-forwarded-for'), '127.0.0.1', JSON.stringify(req.headers));
      assert.equal(req.header('host'), endpoint, 'the Host the SDK sent was not kept');
      assert.equal(params.TaskToken, task.token);
      assert.equal(params.Error, c.ERROR);
      assert.equal(params.Cause, c.CAUSE);

      // The signed bytes arrived intact: the forwarded request still verifies.
      const forwarded = path.join(dir, 'forwarded.http');
      fs.writeFileSync(forwarded, captures[0].raw);
      const res = c.taskgateCheck(config, forwarded);
      assert.equal(res.exitCode, 0, res.stdout + res.stderr);
      assert.equal(res.output.verdict, 'forward', res.stdout);
      const r = res.output.report;
      assert.equal(r.access_key_id, c.ACCESS_KEY_ID);
      assert.equal(r.task_token, task.token);
      assert.equal(r.error, c.ERROR);
      assert.equal(r.cause, c.CAUSE);
      assert.equal(r.token.execution_id, task.executionId);
      assert.equal(r.token.event_id, task.eventId);
      assert.equal(r.token.verified, true);
    });

    it('answers a wrong secret with SignatureNotMatch and forwards nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
      const task = newTask();
      const { config } = writeConfig(`${layout.name}-wrong-secret`, { upstream: `http://${recorder.endpoint}` });
      recorder.takeCaptures();
      const { err, captures } = await c.withServe(config, {}, async (serve) => {
        const err = await c.expectSdkError(() =>
          c.sendWithSecret(layout, c.WRONG_SECRET, serve.endpoint, task.token, c.ERROR, c.CAUSE),
        );
        return { err, captures: recorder.takeCaptures() };
      });
      assert.equal(err.code, 'SignatureNotMatch', String(err));
      assertVendorBody(err);
      assert.equal(captures.length, 0, 'a rejected request reached the upstream');
    });

    it('answers a dead upstream with InternalServerError', { timeout: TEST_TIMEOUT_MS }, async () => {
      const task = newTask();
      const port = await c.refusedPort();
      const { config } = writeConfig(`${layout.name}-dead-upstream`, { upstream: `http://127.0.0.1:${port}` });
      const err = await c.withServe(config, {}, (serve) =>
        c.expectSdkError(() => layout.send(serve.endpoint, task.token, c.ERROR, c.CAUSE)),
      );
      assert.equal(err.code, 'InternalServerError', String(err));
      assertVendorBody(err);
    });

    it('answers a component trap with InternalServerError, then works', { timeout: BUILD_TIMEOUT_MS }, async () => {
      const component = getFaultsComponent();
      const trapTask = newTask();
      const task = newTask();
      const { config } = writeConfig(`${layout.name}-trap`, { upstream: `http://${recorder.endpoint}` });
      recorder.takeCaptures();
      const out = await c.withServe(config, { component }, async (serve) => {
        const err = await c.expectSdkError(() =>
          layout.send(serve.endpoint, trapTask.token, c.ERROR, `${c.CAUSE} ${c.TRAP_MARKER}`),
        );
        const afterTrap = recorder.takeCaptures();
        const result = await layout.send(serve.endpoint, task.token, c.ERROR, c.CAUSE);
        return { err, afterTrap, result, captures: recorder.takeCaptures() };
      });
      assert.equal(out.err.code, 'InternalServerError', String(out.err));
      assert.equal(out.afterTrap.length, 0, 'the request that trapped the component reached the upstream');
      assert.equal(out.captures.length, 1, `the upstream got ${out.captures.length} requests, expected exactly one`);
      assert.equal(Number(out.result.eventId), c.RECORDER_EVENT_ID);
      assert.equal(out.result.requestId, out.captures[0].requestId);
      const { params } = paramsOf(out.captures[0].raw);
      assert.equal(params.TaskToken, task.token);
      assert.equal(params.Cause, c.CAUSE);
    });

    it('sink mode answers and logs each of two reports', { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = fs.mkdtempSync(path.join(tmpRoot, `${layout.name}-sink-`));
      const sinkPath = path.join(dir, 'sink.jsonl');
      const config = path.join(dir, 'taskgate.toml');
      fs.writeFileSync(config, c.serveConfigToml({ sinkPath }));
      const sent = await c.withServe(config, {}, async (serve) => {
        const sent = [];
        for (const [i, [error, cause]] of REPORTS.entries()) {
          const task = newTask();
          const result = await layout.send(serve.endpoint, task.token, error, cause);
          assert.ok(Number.isInteger(result.eventId), `report ${i + 1}: EventId ${JSON.stringify(result.eventId)} is not an integer`);
          assert.equal(typeof result.requestId, 'string');
          assert.ok(result.requestId.length > 0);
          sent.push({ ...task, error, cause, result });
        }
        return sent;
      });

      const lines = c.readSink(sinkPath);
      assert.equal(lines.length, 2, `the sink holds ${lines.length} lines, expected 2: ${JSON.stringify(lines)}`);
      for (const s of sent) {
        const line = lines.find((l) => l.execution_id === s.executionId);
        assert.ok(line, `no sink line for execution ${s.executionId}: ${JSON.stringify(lines)}`);
        for (const k of ['request_id', 'access_key_id', 'task_token', 'execution_id', 'event_id', 'account', 'verified', 'error', 'cause']) {
          assert.ok(k in line, `sink line lacks ${k}: ${JSON.stringify(line)}`);
        }
        assert.equal(line.error, s.error);
        assert.equal(line.cause, s.cause);
        assert.equal(line.event_id, s.eventId);
        assert.equal(line.task_token, s.token);
        assert.equal(line.access_key_id, c.ACCESS_KEY_ID);
        assert.equal(line.account, c.ACCOUNT);
        assert.equal(line.verified, true);
        assert.equal(line.request_id, s.result.requestId, 'the sink logged another RequestId than it answered');
      }
    });
  });
}
