"""The platform's own synth-time rules, one per class, each citing the promises (P-IDs) it keeps."""

from stacks.policy.rules.base import AssemblyView, Resource, Result, Rule, Status
from stacks.policy.rules.p1_segregation import DisjointAddressSpaces, NoCrossEnvironmentReference
from stacks.policy.rules.p2_classification import DataStoresClassified
from stacks.policy.rules.p3_task_permissions import TaskPermissionContract
from stacks.policy.rules.p4_support_vpn import SupportVpnConfined
from stacks.policy.rules.p5_tls import DatabaseForcesTls, HipaaTargetsHttps, ListenersHttpsOnly
from stacks.policy.rules.p6_encryption import CustomerManagedKeys
from stacks.policy.rules.p7_confinement import NoSecretsInTaskEnvironment, SensitiveStoresConfined
from stacks.policy.rules.p8_multi_az import MultiAzDatabase
from stacks.policy.rules.p9_backups import DailyEncryptedBackups, PointInTimeRecovery, ProductionVaultLock

ALL_RULES: tuple[Rule, ...] = (
    NoCrossEnvironmentReference(),
    DisjointAddressSpaces(),
    DataStoresClassified(),
    TaskPermissionContract(),
    SupportVpnConfined(),
    ListenersHttpsOnly(),
    DatabaseForcesTls(),
    HipaaTargetsHttps(),
    CustomerManagedKeys(),
    NoSecretsInTaskEnvironment(),
    SensitiveStoresConfined(),
    MultiAzDatabase(),
    DailyEncryptedBackups(),
    PointInTimeRecovery(),
    ProductionVaultLock(),
)

__all__ = ["ALL_RULES", "AssemblyView", "Resource", "Result", "Rule", "Status"]
