// End to end: the vendors' real Node SDKs send ReportTaskFailed to a local recorder; the exact
// captured request is then judged by the `taskgate check` CLI.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/report_task_failed.test.mjs

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as c from './common.mjs';

let recorder;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-sdk-node-'));

before(async () => {
  recorder = await c.startRecorder();
});

after(async () => {
  if (recorder) await recorder.stop();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

it('builds tokens whose outer Base64 has no + or /', () => {
  const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID);
  const text = Buffer.from(token, 'base64').toString('ascii');
  assert.ok(text.startsWith(`v1#a#${c.FIXTURE_EXECUTION_ID}#${c.FIXTURE_EVENT_ID}#`));
  assert.ok(!token.includes('+') && !token.includes('/'));
});

for (const layout of c.LAYOUTS) {
  describe(layout.name, () => {
    const ex = {};

    before(async () => {
      ex.executionId = crypto.randomUUID();
      ex.eventId = 1000 + crypto.randomInt(100000);
      ex.token = c.makeTaskToken(ex.executionId, ex.eventId);
      recorder.takeCaptures();
      ex.sdk = await layout.send(recorder.endpoint, ex.token, c.ERROR, c.CAUSE);
      const captures = recorder.takeCaptures();
      assert.equal(captures.length, 1, `expected exactly one request, got ${captures.length}`);
      ex.raw = captures[0].raw;
      ex.recordedRequestId = captures[0].requestId;
      const dir = fs.mkdtempSync(path.join(tmpRoot, `${layout.name}-`));
      ex.requestFile = path.join(dir, 'request.http');
      fs.writeFileSync(ex.requestFile, ex.raw);
      ex.goodConfig = path.join(dir, 'good.toml');
      fs.writeFileSync(ex.goodConfig, c.configToml());
      ex.wrongConfig = path.join(dir, 'wrong-secret.toml');
      fs.writeFileSync(ex.wrongConfig, c.configToml(c.WRONG_SECRET));
    });

    it('the SDK received the recorder answer', () => {
      assert.equal(Number(ex.sdk.eventId), c.RECORDER_EVENT_ID);
      assert.equal(ex.sdk.requestId, ex.recordedRequestId);
    });

    it('puts the parameters where this layout does', () => {
      const req = c.parseRaw(ex.raw);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/');
      const overlap = Object.keys(req.query).filter((k) => k in req.form);
      assert.deepEqual(overlap, [], 'a parameter sent twice');
      const params = { ...req.query, ...req.form };
      assert.equal(params.TaskToken, ex.token);
      assert.equal(params.Error, c.ERROR);
      assert.equal(params.Cause, c.CAUSE);
      assert.ok('Error' in req.form && 'Cause' in req.form);
      if (layout.name === 'node-popcore-rpc') {
        assert.equal(req.rawQuery, '');
        assert.ok('Signature' in req.form && 'TaskToken' in req.form);
        assert.equal(params.Format, 'JSON');
        assert.ok(!req.chunked);
      } else {
        assert.ok('TaskToken' in req.query);
        assert.ok(req.chunked, 'tea Node client streams its body chunked');
        assert.equal(req.header('content-length'), undefined);
      }
      if (layout.name.endsWith('acs3')) {
        assert.deepEqual(Object.keys(req.query), ['TaskToken']);
        const auth = req.header('authorization') || '';
        assert.ok(auth.startsWith(`ACS3-HMAC-SHA256 Credential=${c.ACCESS_KEY_ID},SignedHeaders=`), auth);
        const signed = auth.split('SignedHeaders=')[1].split(',')[0].split(';');
        for (const h of ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version']) {
          assert.ok(signed.includes(h), `${h} not signed`);
        }
        assert.equal(req.header('x-acs-action'), 'ReportTaskFailed');
        assert.equal(req.header('x-acs-version'), '2019-03-15');
      } else {
        assert.equal(params.Action, 'ReportTaskFailed');
        assert.equal(params.Version, '2019-03-15');
        assert.equal(params.AccessKeyId, c.ACCESS_KEY_ID);
        assert.equal(params.SignatureMethod, 'HMAC-SHA1');
        assert.equal(params.SignatureVersion, '1.0');
        assert.ok(params.Signature);
      }
      if (layout.name === 'node-tea-rpc') assert.equal(params.Format, 'json');
    });

    it('taskgate forwards it with the right secret', () => {
      const res = c.taskgateCheck(ex.goodConfig, ex.requestFile);
      assert.equal(res.exitCode, 0, res.stdout + res.stderr);
      assert.equal(res.output.verdict, 'forward', res.stdout);
      const r = res.output.report;
      assert.equal(r.dialect, 'fnf');
      assert.equal(r.action, 'ReportTaskFailed');
      assert.equal(typeof r.request_id, 'string');
      assert.ok(r.request_id.length > 0);
      assert.equal(r.access_key_id, c.ACCESS_KEY_ID);
      assert.equal(r.task_token, ex.token);
      assert.equal(r.error, c.ERROR);
      assert.equal(r.cause, c.CAUSE);
      assert.equal(r.token.version, 'v1');
      assert.equal(r.token.kind, 'a');
      assert.equal(r.token.execution_id, ex.executionId);
      assert.equal(r.token.event_id, ex.eventId);
      assert.equal(r.token.account, c.ACCOUNT);
      assert.equal(r.token.verified, true);
    });

    it('taskgate rejects it with a wrong secret', () => {
      const res = c.taskgateCheck(ex.wrongConfig, ex.requestFile);
      assert.equal(res.exitCode, 1, res.stdout + res.stderr);
      assert.equal(res.output.verdict, 'reject', res.stdout);
      assert.equal(res.output.code, 'SignatureNotMatch');
      const response = res.output.response;
      assert.equal(response.status, 403);
      const headers = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
      assert.match(headers['content-type'], /^application\/json/);
      const body = JSON.parse(response.body);
      for (const k of ['RequestId', 'HostId', 'Code', 'Message', 'Recommend']) assert.ok(k in body, `${k} missing`);
      assert.equal(body.Code, 'SignatureNotMatch');
    });
  });
}
