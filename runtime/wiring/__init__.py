"""How every process reaches AWS and its keys: the service and every job command use these and nothing else.

- `clients`: the one AWS client factory (adaptive retries, timeouts, AWS_ENDPOINT_URL), built on first use;
- `passwords`: where a database connection's password comes from (IAM token, Secrets Manager, libpq's own);
- `keyring`: which keyring a process uses (KMS, or the local one for local runs and tests), with its guards.

The AWS client Protocols the adapters take (KMS, RDS, Secrets Manager, S3, SES, SNS) are `runtime.aws_protocols`,
a pure module BELOW every adapter package: this package wires those packages (envelope, db), so a Protocol kept
here made runtime.wiring and the packages it wires import each other.

Import the submodules by name (`from runtime.wiring.clients import aws_client`). This file imports none of them.
"""
