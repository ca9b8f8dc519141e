"""The platform's runtime package: runs inside the ECS tasks and enforces the policy at run time.

Pure logic (classification, envelope format, telemetry gate) imports no boto3 or psycopg;
adapters (KMS keyring, later Postgres stores) take their clients injected. Never imports aws_cdk.
"""
