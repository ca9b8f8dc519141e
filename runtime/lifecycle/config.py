"""The lifecycle jobs' settings, read from the container environment (names in runtime/settings.py)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from runtime import settings
from runtime.envelope import CacheLimits
from runtime.environment import optional_integer
from runtime.errors import ConfigurationError

MAX_URL_EXPIRY_SECONDS: Final = 604_800  # SigV4 presigned URLs live at most 7 days


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    environment: str
    longest_backup_retention_days: int | None
    dek_cache_max_age_seconds: float
    exports_bucket: str | None
    exports_kms_key_id: str | None
    url_expiry_seconds: int = settings.DEFAULT_EXPORT_URL_EXPIRY_SECONDS

    def __post_init__(self) -> None:
        if not 1 <= self.url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ConfigurationError(
                f"{settings.EXPORT_URL_EXPIRY_SECONDS} must be 1 to {MAX_URL_EXPIRY_SECONDS} seconds "
                "(SigV4 presigned URLs live at most 7 days)"
            )
        if self.longest_backup_retention_days is not None and self.longest_backup_retention_days < 1:
            raise ConfigurationError(f"{settings.LONGEST_BACKUP_RETENTION_DAYS} must be at least 1 day")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "LifecycleSettings":
        environment = environ.get(settings.ENVIRONMENT, "").strip()
        if not environment:
            raise ConfigurationError(f"{settings.ENVIRONMENT} is not set; the service stack sets it on every task")
        return cls(
            environment=environment,
            longest_backup_retention_days=optional_integer(environ, settings.LONGEST_BACKUP_RETENTION_DAYS),
            dek_cache_max_age_seconds=CacheLimits.from_environment(environ).max_age_seconds,
            exports_bucket=environ.get(settings.EXPORTS_BUCKET, "").strip() or None,
            exports_kms_key_id=environ.get(settings.EXPORTS_KMS_KEY_ID, "").strip() or None,
            url_expiry_seconds=optional_integer(environ, settings.EXPORT_URL_EXPIRY_SECONDS)
            or settings.DEFAULT_EXPORT_URL_EXPIRY_SECONDS,
        )

    def require_retention(self) -> int:
        """Erasure refuses to run without it: the receipt's date must come from configuration (fail closed)."""
        if self.longest_backup_retention_days is None:
            raise ConfigurationError(
                f"{settings.LONGEST_BACKUP_RETENTION_DAYS} is not set: the erasure receipt states when erasure is "
                "complete everywhere from it; the service stack sets it to the environment's longest backup "
                "retention (max of backup_retention_days and pitr_retention_days)"
            )
        return self.longest_backup_retention_days
