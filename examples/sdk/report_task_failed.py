"""Report a failed task through taskgate with Alibaba's official Python SDK.

    pip install alibabacloud-fnf20190315
    python report_task_failed.py "$(taskgate token mint --execution-id 2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b --event-id 42)"

Points the SDK at a local `taskgate serve` (default 127.0.0.1:8080, or TASKGATE_ENDPOINT) with the
demo access key; the gateway checks the call exactly as the service would.
"""

import os
import sys

from alibabacloud_fnf20190315 import models
from alibabacloud_fnf20190315.client import Client
from alibabacloud_tea_openapi.models import Config

client = Client(
    Config(
        access_key_id="LTAI5tDemoAccessKeyId",
        access_key_secret="demo-access-key-secret",
        endpoint=os.environ.get("TASKGATE_ENDPOINT", "127.0.0.1:8080"),
        protocol="http",
        region_id="cn-hangzhou",
    )
)
response = client.report_task_failed(
    models.ReportTaskFailedRequest(
        task_token=sys.argv[1],
        error="PaymentDeclined",
        cause="card issuer said no: insufficient funds",
    )
)
print(f"EventId={response.body.event_id} RequestId={response.body.request_id}")
