"""The policy's promises, for the synth-time policy: the table lives in runtime/promises.py (pure), which the
deployed-state verification (runtime/verify_deployed/) walks too."""

from runtime.promises import PROMISES, Promise

__all__ = ["PROMISES", "Promise"]
