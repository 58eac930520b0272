// Report a failed task through taskgate with Alibaba's official Node SDK.
//
//   npm install @alicloud/fnf-2019-03-15
//   node report_task_failed.mjs "$(taskgate token mint --execution-id 2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b --event-id 42)"
//
// Points the SDK at a local `taskgate serve` (default 127.0.0.1:8080, or TASKGATE_ENDPOINT) with
// the demo access key; the gateway checks the call exactly as the service would.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const FnF = require('@alicloud/fnf-2019-03-15');

const client = new FnF({
  endpoint: `http://${process.env.TASKGATE_ENDPOINT ?? '127.0.0.1:8080'}`,
  accessKeyId: 'LTAI5tDemoAccessKeyId',
  accessKeySecret: 'demo-access-key-secret',
});
const body = await client.reportTaskFailed({
  TaskToken: process.argv[2],
  Error: 'PaymentDeclined',
  Cause: 'card issuer said no: insufficient funds',
});
console.log(`EventId=${body.EventId} RequestId=${body.RequestId}`);
