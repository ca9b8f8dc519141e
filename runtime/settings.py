"""Names of the container environment variables the runtime reads, and their defaults.

The service stack imports these constants so the infrastructure and the runtime cannot drift.
Nothing here reads the environment: callers pass `os.environ` (or a test mapping) explicitly.
"""

from typing import Final

# Which environment this task runs in (dev, qa, prod): part of every KMS encryption context.
ENVIRONMENT: Final = "PLATFORM_ENVIRONMENT"

# ARN (or alias) of the environment's application KMS key that wraps the per-owner data keys.
KMS_APPLICATION_KEY_ID: Final = "PLATFORM_KMS_APPLICATION_KEY_ID"

# Local keyring for development and tests: a 256-bit key, base64-encoded, in a variable or a file.
LOCAL_MASTER_KEY: Final = "PLATFORM_LOCAL_MASTER_KEY"
LOCAL_MASTER_KEY_FILE: Final = "PLATFORM_LOCAL_MASTER_KEY_FILE"

# Limits of the cache of unwrapped data keys.
DEK_CACHE_MAX_AGE_SECONDS: Final = "PLATFORM_DEK_CACHE_MAX_AGE_SECONDS"
DEK_CACHE_MAX_USES: Final = "PLATFORM_DEK_CACHE_MAX_USES"
DEK_CACHE_MAX_ENTRIES: Final = "PLATFORM_DEK_CACHE_MAX_ENTRIES"

# Defaults: KMS is called about once per owner per five minutes. A cached key encrypts at most
# 2**20 values before it is reloaded, which also bounds how many random nonces share one derived
# AES key (collision chance below 2**-57, far under NIST SP 800-38D's 2**-32).
DEFAULT_DEK_CACHE_MAX_AGE_SECONDS: Final = 300.0
DEFAULT_DEK_CACHE_MAX_USES: Final = 2**20
DEFAULT_DEK_CACHE_MAX_ENTRIES: Final = 10_000
