"""Drills of the lifecycle procedures (P11 restore, P12 breach response): timed steps and the drill record,
the evidence of the yearly test. The drills themselves are runtime/breach/drill.py and runtime/restore/drill.py.
"""

from runtime.drill.record import DrillLog, DrillRecord, FileDrillLog, Step, StepTimer

# runtime.drill.postgres.PostgresDrillLog keeps records in the database; imported from there (it needs psycopg).
__all__ = ["DrillLog", "DrillRecord", "FileDrillLog", "Step", "StepTimer"]
