"""Report a failed Step Functions task through taskgate with boto3, AWS's official Python SDK.

    pip install boto3
    python send_task_failure.py "some-task-token"

Points boto3 at a local `taskgate serve` (default http://127.0.0.1:8080, or TASKGATE_URL) with
the demo AWS key of AWS's documentation; the gateway checks the call exactly as the service would
and raises the service's own exceptions (ValidationException for a cause of 32769 characters).
"""

import os
import sys

import boto3

client = boto3.client(
    "stepfunctions",
    endpoint_url=os.environ.get("TASKGATE_URL", "http://127.0.0.1:8080"),
    region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
)
response = client.send_task_failure(
    taskToken=sys.argv[1],
    error="PaymentDeclined",
    cause="card issuer said no: insufficient funds",
)
print(f"RequestId={response['ResponseMetadata']['RequestId']}")
