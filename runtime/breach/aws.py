"""The AWS adapters of breach response (P12): SES (v2) sends each user's notification, SNS carries alerts to
the operators' incident topic (KMS-encrypted, stacks/audit.py). Clients are injected; none is built here.

Only the provider's error CODE is kept from a failure: SES messages can quote the recipient's address.
"""

from typing import Any, Final

from runtime.aws_protocols import SesClient, SnsClient
from runtime.breach.notifiers import Outgoing
from runtime.errors import NotificationError, NotifierConfigurationError
from runtime.telemetry.scrubber import LOG_KINDS, Scrubber

# Codes after which the same request can succeed later.
RETRYABLE_CODES: Final = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalServerError",
    "RequestTimeout", "RequestTimeoutException", "SendingPausedException", "EndpointConnectionError",
    "ConnectionError",
})
# Alerts are built from counts, ids and times; redacting is the backstop should anything else slip in.
_ALERT_TEXT = Scrubber(LOG_KINDS)
_SUBJECT_MAX: Final = 100


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code[:64]
    return type(exc).__name__[:64]


class SesNotifier:
    def __init__(self, client: SesClient, *, sender: str, configuration_set: str | None = None) -> None:
        if not sender or "@" not in sender:
            raise NotifierConfigurationError(
                "breach notifications need a verified SES sender address: set PLATFORM_BREACH_SENDER"
            )
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    def __repr__(self) -> str:
        return "SesNotifier()"

    def send(self, outgoing: Outgoing) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [outgoing.address.reveal()]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": outgoing.message.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": outgoing.message.text, "Charset": "UTF-8"}},
                }
            },
            "EmailTags": [{"Name": "purpose", "Value": "breach-notification"}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except Exception as exc:  # botocore's ClientError and connection errors; keep the code only
            code = error_code(exc)
            raise NotificationError(f"SES refused the notification ({code})", code=code,
                                    retryable=code in RETRYABLE_CODES) from None
        return str(response.get("MessageId", "unknown"))


class SnsIncidentTopic:
    def __init__(self, client: SnsClient, *, topic_arn: str) -> None:
        if not topic_arn.startswith("arn:"):
            raise NotifierConfigurationError("PLATFORM_INCIDENT_TOPIC_ARN must be the incident topic's ARN")
        self._client = client
        self._topic_arn = topic_arn

    def __repr__(self) -> str:
        return f"SnsIncidentTopic({self._topic_arn})"

    def alert(self, subject: str, text: str) -> None:
        subject, text = _ALERT_TEXT.redact(subject)[:_SUBJECT_MAX], _ALERT_TEXT.redact(text)
        try:
            self._client.publish(TopicArn=self._topic_arn, Subject=subject, Message=text)
        except Exception as exc:
            code = error_code(exc)
            raise NotificationError(f"the incident topic refused the alert ({code}); check sns:Publish and "
                                    "kms:GenerateDataKey on the audit key", code=code,
                                    retryable=code in RETRYABLE_CODES) from None
