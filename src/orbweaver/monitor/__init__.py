"""The monitor stage (docs/architecture.md): re-checks of noticed URLs, removal time, recidivism.

Public surface (other stages import these from `orbweaver.monitor`, never from its modules):
- re-checks: `check_due`, `check_all_due`, `monitor_loop` (the monitor role's loop),
  `claim_due_checks`, `MonitorStats`, the schedule (`due_after`,
  `next_scheduled`) and `MonitorSettings`;
- the re-check just before a first notice: `precheck`, `Precheck`;
- removal time, the definition every figure uses: `removal_seconds`, `removal_instant`;
- the re-check cadence the figures were measured with: `CADENCE_EVENT`, `recorded_cadence`,
  `record_cadence`, `cadence_of`, `cadence_text`;
- recidivism, the rule planning applies to each new notice: `RecidivismCheck`, `RecidivismRow`.

Nothing is imported until used (`orbweaver._lazy`), so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.monitor.cadence import CADENCE_EVENT, record_cadence, recorded_cadence
    from orbweaver.monitor.recidivism import RecidivismCheck, RecidivismRow
    from orbweaver.monitor.removal import removal_instant, removal_seconds
    from orbweaver.monitor.service import (
        MonitorStats,
        Precheck,
        check_all_due,
        check_due,
        claim_due_checks,
        due_after,
        monitor_loop,
        next_scheduled,
        precheck,
    )
    from orbweaver.monitor.settings import MonitorSettings, cadence_of, cadence_text
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".cadence": ["CADENCE_EVENT", "record_cadence", "recorded_cadence"],
            ".recidivism": ["RecidivismCheck", "RecidivismRow"],
            ".removal": ["removal_instant", "removal_seconds"],
            ".service": [
                "MonitorStats",
                "Precheck",
                "check_all_due",
                "check_due",
                "claim_due_checks",
                "due_after",
                "monitor_loop",
                "next_scheduled",
                "precheck",
            ],
            ".settings": ["MonitorSettings", "cadence_of", "cadence_text"],
        },
    )

__all__ = [
    "CADENCE_EVENT",
    "MonitorSettings",
    "MonitorStats",
    "Precheck",
    "RecidivismCheck",
    "RecidivismRow",
    "cadence_of",
    "cadence_text",
    "check_all_due",
    "check_due",
    "claim_due_checks",
    "due_after",
    "monitor_loop",
    "next_scheduled",
    "precheck",
    "record_cadence",
    "recorded_cadence",
    "removal_instant",
    "removal_seconds",
]
