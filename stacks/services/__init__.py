"""The service stack's logical units (stacks/service.py composes them), each a construct with narrow typed props.

- `settings`: what every runtime container is told (RuntimeSettings), and each service's identity settings;
- `roles`: task roles with a customer-managed policy; database, envelope-key and secret-key statements;
- `image`: the runtime image (the Dockerfile, an ECR image by tag or digest, or any registry);
- `cluster`: the ECS cluster (encrypted task storage, logged ECS Exec sessions);
- `load_balancing`: what both load balancers share (target groups on readiness, OIDC sign-in);
- `data_service`: the owner API behind the public ALB, its WAF and the API-path rule;
- `support_service`: the support API behind the internal ALB, its WAF and staff sign-in (P4);
- `lifecycle_job`: the task definition exports, erasures and breach response run as (P10, P12, P13).

Resources that existed before this split keep their construct paths directly under the stack (a unit creates
them in the scope it is given, the stack): their logical ids, the register's paths and any deployed resource stay
the same. New resources live under their unit's own node.
"""
