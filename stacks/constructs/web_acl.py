"""A load balancer's WAF web ACL: AWS managed rule groups, logging with secrets redacted (P7).

The public API takes prompts, completions and evaluation records as JSON bodies of up to the service's body
limit (1 MiB by default, runtime/settings.py). Three managed rules read such bodies as attacks, so on an
ACL that admits them (`prompt_bodies`) they only count (rule action overrides; every other rule of the
groups keeps blocking):
- `SizeRestrictions_BODY` (AWSManagedRulesCommonRuleSet) blocks every body over 8 KB;
- `CrossSiteScripting_BODY` (same group) and `SQLi_BODY` / `SQLiExtendedPatterns_BODY`
  (AWSManagedRulesSQLiRuleSet) match the HTML, code and SQL that prompts and model output quote as text.
The service never renders bodies as HTML nor builds SQL from them (bound parameters only), and it refuses
bodies over its limit itself (413). In their place the ACL blocks a declared body over that same limit:
on an Application Load Balancer WAF sees only the first 8 KB of a body (a fixed limit), so the size it can
check is the Content-Length the client declares; a body that declares none is cut off by the service.
"""

from aws_cdk import Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from runtime.settings import DEFAULT_SERVICE_MAX_BODY_BYTES
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
# Managed rules that misfire on prompt text or on bodies over 8 KB: counted, not blocking, where prompts arrive.
PROMPT_BODY_RULES_COUNTED = {
    "AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY", "CrossSiteScripting_BODY"),
    "AWSManagedRulesSQLiRuleSet": ("SQLi_BODY", "SQLiExtendedPatterns_BODY"),
}
BODY_LIMIT_RULE = "BodyOverServiceLimit"
# Headers that carry credentials never reach the WAF log (P7: no secrets, no identities in logs).
REDACTED_HEADERS = ("authorization", "cookie", "x-amzn-oidc-data", "x-amzn-oidc-accesstoken")


def content_length_over(limit: int) -> str:
    """A regular expression matching a decimal Content-Length greater than `limit` (WAF regexes compare
    text, not numbers): longer numbers, or as long and larger at the first digit that differs."""
    digits = str(limit)
    larger = [f"[1-9][0-9]{{{len(digits)},}}"]
    for index, digit in enumerate(digits):
        if digit != "9":
            rest = len(digits) - index - 1
            lower = str(int(digit) + 1)
            tail = f"[0-9]{{{rest}}}" if rest else ""
            larger.append(f"{digits[:index]}[{lower}-9]{tail}")
    return f"^0*(?:{'|'.join(larger)})$"


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
        prompt_bodies: bool | None = None,
        max_body_bytes: int = DEFAULT_SERVICE_MAX_BODY_BYTES,
    ) -> None:
        """`prompt_bodies`: the load balancer fronts the owner API, whose bodies are prompt text (default:
        the public load balancer)."""
        super().__init__(scope, construct_id)
        prompts = purpose == "public" if prompt_bodies is None else prompt_bodies

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
            )

        def managed(group: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            counted = PROMPT_BODY_RULES_COUNTED.get(group, ()) if prompts else ()
            return wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=group,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in counted
                        ]
                        or None,
                    )
                ),
                visibility_config=visibility(group),
            )

        rules = [managed(group, priority) for priority, group in enumerate(MANAGED_RULE_GROUPS)]
        if prompts:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=BODY_LIMIT_RULE,
                    priority=len(rules),
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                            regex_string=content_length_over(max_body_bytes),
                            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                single_header={"Name": "content-length"}
                            ),
                            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                        )
                    ),
                    visibility_config=visibility(BODY_LIMIT_RULE),
                )
            )
        # Account-scoped names: the stack name carries the app and the environment ("adp-dev-service").
        self.name = f"{Stack.of(self).stack_name}-{purpose}"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "Acl",
            name=self.name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(self.name),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=load_balancer.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
        logs = EncryptedLogGroup(
            self,
            "Logs",
            log_group_name=f"aws-waf-logs-{self.name}",  # WAF requires this prefix
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
