"""Test and benchmark support code: a throwaway PostgreSQL cluster with TLS on."""
