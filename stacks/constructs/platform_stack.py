"""The base of every stack of one environment: its name, description, and its zones."""

from aws_cdk import Environment, RemovalPolicy, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig


class PlatformStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        purpose: str,
        summary: str,
        region: str | None = None,
    ) -> None:
        # Set before the jsii object exists: CDK may ask for the zones while constructing.
        self._zones = list(env_config.availability_zones) if region in (None, env_config.region) else []
        super().__init__(
            scope,
            construct_id,
            stack_name=f"{app_name}-{env_config.name}-{purpose}",
            description=f"{app_name} {env_config.name}: {summary}",
            env=Environment(account=env_config.account, region=region) if region else None,
        )

    @property
    def availability_zones(self) -> list[str]:
        """The zones from config, so synth never needs an AWS lookup (no credentials, no network)."""
        return self._zones


def retain_in_production(env_config: EnvironmentConfig) -> RemovalPolicy:
    """Production stores and keys outlive their stack; other environments clean up after themselves."""
    return RemovalPolicy.RETAIN if env_config.is_production else RemovalPolicy.DESTROY
