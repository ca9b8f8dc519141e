"""The tamper-evident audit trail (P14): events without PII, a keyed hash chain, checkpoints, verify.

Pure modules: events, chain, verify, keys. The Postgres ledger is `runtime.db.ledger`.
"""

from runtime.audit.chain import ChainEntry, ChainKey, Checkpoint, TrustedCheckpoint
from runtime.audit.events import AccessEvent, Action
from runtime.audit.keys import chain_key_from_environment, chain_key_from_secrets_manager
from runtime.audit.verify import ChainHead, Problem, VerifyReport, verify_chain

__all__ = [
    "AccessEvent",
    "Action",
    "ChainEntry",
    "ChainHead",
    "ChainKey",
    "Checkpoint",
    "Problem",
    "TrustedCheckpoint",
    "VerifyReport",
    "chain_key_from_environment",
    "chain_key_from_secrets_manager",
    "verify_chain",
]
