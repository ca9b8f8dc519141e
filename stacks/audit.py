"""P12, P14: account audit trail and the incident topic every alarm goes to.

- CloudTrail (unless an organisation trail already covers the account): multi-region, log file
  validation, KMS-encrypted, data events for the export bucket.
- An incident topic encrypted with the audit key, TLS-only.
- Detections through EventBridge (they work with our trail or an organisation trail): KMS key
  disabled or scheduled for deletion, root account use, unauthorized API calls, console sign-in
  without MFA. CloudWatch alarms: repeated database authentication failures, WAF block spikes.
- GuardDuty and Security Hub: "create" them here, use the account's "existing" ones (usual where an
  organisation manages them: creating a second detector or hub fails), or "off". Their high and critical
  findings notify the incident topic either way (EventBridge receives them in the member account too).
"""

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_securityhub as securityhub
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from runtime.contract import incident_topic_name
from stacks.auditor import AuditorRole
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.constructs.secure_bucket import secure_bucket
from stacks.data import DataStack
from stacks.keys import EnvironmentKeys, trail_name
from stacks.service import ServiceStack
from stacks.storage import StorageStack

API_CALL = "AWS API Call via CloudTrail"
CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"

# EventBridge patterns of the account-level detections (CIS AWS Foundations 4.x, as events).
DETECTIONS: dict[str, dict[str, Any]] = {
    "KmsKeyDisabledOrScheduledForDeletion": {
        "source": ["aws.kms"],
        "detail_type": [API_CALL],
        "detail": {"eventName": ["DisableKey", "ScheduleKeyDeletion"]},
    },
    "RootAccountUsed": {
        "detail_type": [API_CALL, CONSOLE_SIGN_IN],
        "detail": {"userIdentity": {"type": ["Root"]}},
    },
    "UnauthorizedApiCall": {
        "detail_type": [API_CALL],
        "detail": {"errorCode": [{"prefix": "AccessDenied"}, {"prefix": "UnauthorizedOperation"}]},
    },
    "ConsoleSignInWithoutMfa": {
        "detail_type": [CONSOLE_SIGN_IN],
        "detail": {
            "additionalEventData": {"MFAUsed": ["No"]},
            "responseElements": {"ConsoleLogin": ["Success"]},
        },
    },
}
# Findings of the account's GuardDuty / Security Hub (ours or the organisation's): high and critical only.
GUARDDUTY_FINDINGS: dict[str, Any] = {
    "source": ["aws.guardduty"],
    "detail_type": ["GuardDuty Finding"],
    "detail": {"severity": [{"numeric": [">=", 7]}]},
}
SECURITYHUB_FINDINGS: dict[str, Any] = {
    "source": ["aws.securityhub"],
    "detail_type": ["Security Hub Findings - Imported"],
    "detail": {
        "findings": {
            "Severity": {"Label": ["HIGH", "CRITICAL"]},
            "Workflow": {"Status": ["NEW"]},
            "RecordState": ["ACTIVE"],
        }
    },
}
DB_AUTH_FAILURE_PATTERN = '?"password authentication failed" ?"PAM authentication failed"'
DB_AUTH_FAILURES_PER_5_MIN = 5
WAF_BLOCKS_PER_5_MIN = 500


class AuditStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
        storage: StorageStack,
        data: DataStack,
        service: ServiceStack,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="audit",
            summary="CloudTrail, incident topic, detections and alarms (P12 P14)",
        )
        removal = retain_in_production(env_config)
        self.topic = sns.Topic(
            self,
            "IncidentTopic",
            topic_name=incident_topic_name(app_name, env_config.name),
            display_name=f"{app_name} {env_config.name} incidents",
            master_key=keys.audit,
            enforce_ssl=True,
        )
        classify(self.topic, DataClass.NOT_SENSITIVE)
        # CloudWatch alarms publish as cloudwatch.amazonaws.com: admitted for this account's alarms only
        # (the EventBridge targets below add their own statement). Its key admits them too (stacks/keys.py).
        region, account = env_config.region, env_config.account
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{self.partition}:cloudwatch:{region}:{account}:alarm:*"},
                },
            )
        )
        if env_config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(env_config.alarm_email))

        if env_config.cloudtrail:
            self._trail(env_config, app_name, keys, storage, removal)
        detections = dict(DETECTIONS)
        if env_config.guardduty != "off":
            detections["GuardDutyHighSeverityFinding"] = GUARDDUTY_FINDINGS
        if env_config.securityhub != "off":
            detections["SecurityHubHighSeverityFinding"] = SECURITYHUB_FINDINGS
        for name, pattern in detections.items():
            events.Rule(
                self,
                name,
                description=f"{name}: notify the incident topic (P12)",
                event_pattern=events.EventPattern(**pattern),
                targets=[targets.SnsTopic(self.topic)],
            )
        self._database_auth_alarm(data)
        self._waf_alarm(env_config, service)
        # "existing": the account's own detector / hub (one per account and region) is used, none is created.
        if env_config.guardduty == "create":
            guardduty.CfnDetector(self, "GuardDuty", enable=True, finding_publishing_frequency="FIFTEEN_MINUTES")
        if env_config.securityhub == "create":
            securityhub.CfnHub(self, "SecurityHub", enable_default_standards=True, auto_enable_controls=True)
        if env_config.auditor_principal_arn:
            AuditorRole(self, "Auditor", env_config=env_config, app_name=app_name,
                        principal_arn=env_config.auditor_principal_arn)

    def _trail(
        self,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
        storage: StorageStack,
        removal: RemovalPolicy,
    ) -> None:
        bucket = secure_bucket(
            self,
            "TrailBucket",
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
            key=keys.audit,
            access_logs=storage.access_logs,
            expire_after_days=max(env_config.log_retention_days, 365),
        )
        trail_logs = EncryptedLogGroup(
            self,
            "TrailLogs",
            key=keys.logs,
            retention_days=env_config.log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
        )
        trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=trail_name(app_name, env_config),  # the audit key's policy admits this trail only
            bucket=bucket,
            encryption_key=keys.audit,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=trail_logs.log_group,
            management_events=cloudtrail.ReadWriteType.ALL,
        )
        # Who read or wrote an export object, and when (P13, P14).
        trail.add_s3_event_selector([cloudtrail.S3EventSelector(bucket=storage.exports)])

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))

    def _database_auth_alarm(self, data: DataStack) -> None:
        metric_filter = logs.MetricFilter(
            self,
            "DatabaseAuthFailures",
            log_group=data.postgres_log_group,
            filter_pattern=logs.FilterPattern.literal(DB_AUTH_FAILURE_PATTERN),
            metric_namespace="Platform/Database",
            metric_name="AuthenticationFailures",
            metric_value="1",
            default_value=0,
        )
        self._alarm(
            "DatabaseAuthFailuresAlarm",
            metric_filter.metric(statistic="Sum", period=Duration.minutes(5)),
            DB_AUTH_FAILURES_PER_5_MIN,
            "Repeated database authentication failures (P12)",
        )

    def _waf_alarm(self, env_config: EnvironmentConfig, service: ServiceStack) -> None:
        metric = cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={
                "WebACL": service.web_acl.name,
                "Region": env_config.region,
                "Rule": "ALL",
            },
            statistic="Sum",
            period=Duration.minutes(5),
        )
        self._alarm("WafBlockSpike", metric, WAF_BLOCKS_PER_5_MIN, "Spike of requests blocked by the WAF (P12)")
