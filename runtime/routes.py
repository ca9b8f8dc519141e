"""The service's path groups, shared by the runtime and the load balancers (stacks/service.py). Pure data.

Where the public load balancer signs users in with OIDC (qa), it must not redirect API clients to a login
page: requests to API_PATH_PATTERNS go straight to the service, which verifies their bearer tokens (a missing
or bad token is a 401, never a redirect). Every other path is a browser path and signs in first.
"""

from typing import Final

LIVENESS_PATH: Final = "/healthz"  # the process is up
READINESS_PATH: Final = "/readyz"  # the database answers over TLS and the self-check passes: the LB health check
OPENAPI_PATH: Final = "/openapi.json"
OWNER_API_PREFIX: Final = "/v1/"

# Load balancer path patterns (`*` matches any characters, `/` included), at most 5 per listener rule.
API_PATH_PATTERNS: Final = (f"{OWNER_API_PREFIX}*", LIVENESS_PATH, READINESS_PATH, OPENAPI_PATH)
