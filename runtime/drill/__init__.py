"""Drills of the lifecycle procedures (P11 restore, P12 breach response): timed steps and the drill record,
the evidence of the yearly test. The drills themselves are runtime/breach/drill.py and runtime/restore/drill.py.
"""

from runtime.drill.postgres import PostgresDrillLog
from runtime.drill.record import DrillLog, DrillRecord, FileDrillLog, Step, StepTimer

__all__ = ["DrillLog", "DrillRecord", "FileDrillLog", "PostgresDrillLog", "Step", "StepTimer"]
