"""One named outcome of a verification step: what `erase verify` and a restore's verification report."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
