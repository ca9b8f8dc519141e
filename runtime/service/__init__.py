"""The data service: the HTTP API the ECS tasks serve (owner API, or support API in support mode)."""
