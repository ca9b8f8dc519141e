"""Notifier adapters (P12): the file notifier writes each notification once; SES (moto) sends it and maps
failures to codes, retryable or not, without the provider's message; the incident topic (moto SNS, read back
through an SQS subscription) gets alerts with no personal data."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from runtime.breach.aws import SesNotifier, SnsIncidentTopic
from runtime.breach.content import Message
from runtime.breach.notifiers import FileNotifier, Outgoing
from runtime.classification import Sensitive
from runtime.errors import NotificationError, NotifierConfigurationError

REGION = "eu-west-1"
SENDER = "security@operator.example"


def _outgoing(address: str = "user@customer.example") -> Outgoing:
    return Outgoing(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), Sensitive(address),
                    Message("Security notice INC-1", "Something happened.\n"))


def test_file_notifier_writes_once_owner_only(tmp_path: Path) -> None:
    notifier = FileNotifier(tmp_path)
    outgoing = _outgoing()
    first = notifier.send(outgoing)
    second = notifier.send(outgoing)
    files = list(tmp_path.iterdir())
    assert first == second and len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    document = json.loads(files[0].read_text())
    assert document["to"] == "user@customer.example" and document["idempotency_key"] == outgoing.idempotency_key


def test_file_notifier_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotifierConfigurationError, match="create it"):
        FileNotifier(tmp_path / "missing")


def test_outgoing_repr_hides_address_and_content() -> None:
    assert "user@customer.example" not in repr(_outgoing()) and "happened" not in repr(_outgoing())


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_ses_notifier_sends_through_ses(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    client.create_email_identity(EmailIdentity=SENDER)
    message_id = SesNotifier(client, sender=SENDER).send(_outgoing())
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert message_id and len(sent) == 1
    assert sent[0].destinations["ToAddresses"] == ["user@customer.example"]
    assert sent[0].subject == "Security notice INC-1"


def test_ses_notifier_unverified_sender_is_a_permanent_failure_without_the_address(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    with pytest.raises(NotificationError) as caught:
        SesNotifier(client, sender="unverified@operator.example").send(_outgoing())
    assert caught.value.code == "MessageRejected" and not caught.value.retryable
    assert "@" not in str(caught.value)


def test_ses_notifier_throttling_is_retryable() -> None:
    client = boto3.client("sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code="TooManyRequestsException",
                              service_message="Rate exceeded for user@customer.example", http_status_code=429)
        with pytest.raises(NotificationError) as caught:
            SesNotifier(client, sender=SENDER).send(_outgoing())
    assert caught.value.retryable and caught.value.code == "TooManyRequestsException"
    assert "customer.example" not in str(caught.value)


def test_ses_notifier_needs_a_sender() -> None:
    with pytest.raises(NotifierConfigurationError, match="PLATFORM_BREACH_SENDER"):
        SesNotifier(object(), sender="")  # type: ignore[arg-type]


def _subscribed_queue() -> tuple[Any, str, str]:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="platform-prod-incidents")["TopicArn"]
    queue = sqs.create_queue(QueueName="oncall")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return sqs, topic, queue


def test_incident_topic_gets_the_alert(aws: None) -> None:
    sqs, topic, queue = _subscribed_queue()
    SnsIncidentTopic(boto3.client("sns", region_name=REGION), topic_arn=topic).alert(
        "OVERDUE breach INC-1A2B3C4D: 3 users not notified", "incident 1: 3 of 10 notified")
    body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["Subject"].startswith("OVERDUE breach INC-1A2B3C4D")
    assert body["Message"] == "incident 1: 3 of 10 notified"


def test_incident_topic_redacts_personal_data_that_slipped_in(aws: None) -> None:
    sqs, topic, queue = _subscribed_queue()
    SnsIncidentTopic(boto3.client("sns", region_name=REGION), topic_arn=topic).alert(
        "Breach", "reported by jane@example.com")
    body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert "jane@example.com" not in body["Message"] and "[REDACTED:email]" in body["Message"]


def test_incident_topic_unknown_topic_fails_with_code(aws: None) -> None:
    topic = SnsIncidentTopic(boto3.client("sns", region_name=REGION),
                             topic_arn=f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:missing")
    with pytest.raises(NotificationError, match="sns:Publish") as caught:
        topic.alert("Breach", "text")
    assert caught.value.code == "NotFound"
