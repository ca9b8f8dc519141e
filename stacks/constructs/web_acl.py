"""A load balancer's WAF web ACL: AWS managed rule groups, logging with secrets redacted (P7)."""

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import retain_in_production

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesSQLiRuleSet",
)
# Headers that carry credentials never reach the WAF log (P7: no secrets, no identities in logs).
REDACTED_HEADERS = ("authorization", "cookie", "x-amzn-oidc-data", "x-amzn-oidc-accesstoken")


class LoadBalancerWebAcl(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        logs_key: kms.IKey,
        load_balancer: elbv2.IApplicationLoadBalancer,
        purpose: str,
    ) -> None:
        super().__init__(scope, construct_id)

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
            )

        self.name = f"web-acl-{env_config.name}-{purpose}"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "Acl",
            name=self.name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(self.name),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=visibility(group),
                )
                for priority, group in enumerate(MANAGED_RULE_GROUPS)
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=load_balancer.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
        logs = EncryptedLogGroup(
            self,
            "Logs",
            log_group_name=f"aws-waf-logs-{env_config.name}-{purpose}",  # WAF requires this prefix
            key=logs_key,
            retention_days=env_config.log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(env_config),
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[logs.log_group.log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
