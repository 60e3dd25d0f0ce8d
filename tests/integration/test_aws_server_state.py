"""The local AWS endpoint with a state directory keeps DynamoDB items, SQS messages, S3 objects
and KMS keys across a stop and a start (blockhook.local.aws_server), and what a periodic
snapshot holds across a hard kill."""

from __future__ import annotations

import signal
import time

import boto3
import pytest

from blockhook.local import servers
from blockhook.local.aws_server import STATE_FILE

pytestmark = pytest.mark.integration


def clients(url: str) -> dict:
    return {name: boto3.client(name, endpoint_url=url) for name in ("dynamodb", "sqs", "s3", "kms")}


def start(state_dir, log_dir):
    return servers.moto(servers.free_port(), log_path=log_dir / "moto.log", state_dir=state_dir).start()


def test_everything_written_is_there_after_a_stop_and_a_start(tmp_path):
    state_dir = tmp_path / "state"
    server = start(state_dir, tmp_path)
    try:
        aws = clients(server.url)
        aws["dynamodb"].create_table(
            TableName="kept",
            KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for r in range(3):
            aws["dynamodb"].put_item(TableName="kept", Item={"h": {"S": "a"}, "r": {"N": str(r)}, "v": {"S": f"v{r}"}})
        queue = aws["sqs"].create_queue(QueueName="kept")["QueueUrl"]
        aws["sqs"].send_message(QueueUrl=queue, MessageBody="a message")
        aws["s3"].create_bucket(Bucket="kept-bucket")
        aws["s3"].put_object(Bucket="kept-bucket", Key="an/object", Body=b"some bytes")
        key = aws["kms"].create_key(Description="kept")["KeyMetadata"]["KeyId"]
        aws["kms"].create_alias(AliasName="alias/kept", TargetKeyId=key)
        sealed = aws["kms"].encrypt(KeyId="alias/kept", Plaintext=b"a secret")["CiphertextBlob"]
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert (state_dir / STATE_FILE).exists()

    server = start(state_dir, tmp_path)
    try:
        aws = clients(server.url)
        items = aws["dynamodb"].query(TableName="kept", KeyConditionExpression="h = :h",
                                      ExpressionAttributeValues={":h": {"S": "a"}})["Items"]
        assert [item["v"]["S"] for item in items] == ["v0", "v1", "v2"]
        queue = aws["sqs"].get_queue_url(QueueName="kept")["QueueUrl"]
        messages = aws["sqs"].receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
        assert [message["Body"] for message in messages] == ["a message"]
        assert aws["s3"].get_object(Bucket="kept-bucket", Key="an/object")["Body"].read() == b"some bytes"
        assert aws["kms"].decrypt(CiphertextBlob=sealed)["Plaintext"] == b"a secret"
        assert aws["kms"].describe_key(KeyId="alias/kept")["KeyMetadata"]["KeyId"] == key
    finally:
        server.stop()


def test_a_hard_kill_keeps_what_the_last_snapshot_holds(tmp_path):
    state_dir = tmp_path / "state"
    server = start(state_dir, tmp_path)
    try:
        aws = clients(server.url)
        aws["sqs"].create_queue(QueueName="before-the-kill")
        deadline = time.monotonic() + 60
        while not (state_dir / STATE_FILE).exists():  # the periodic snapshot, written by a child process
            assert time.monotonic() < deadline, "no snapshot written within 60 s"
            time.sleep(0.2)
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()

    server = start(state_dir, tmp_path)
    try:
        assert clients(server.url)["sqs"].get_queue_url(QueueName="before-the-kill")["QueueUrl"]
    finally:
        server.stop()
