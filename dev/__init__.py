"""The local run (`make dev`): a throwaway TLS PostgreSQL, the data service on 127.0.0.1, a development
token issuer. For trying the API on one machine; nothing here is part of the runtime image."""
