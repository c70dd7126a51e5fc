"""Operations (docs/architecture.md): what running orbweaver as a service needs of every role.

Health (`/livez`, `/readyz` with the store, schema and index probes), Prometheus metrics (the
counters of work done, and the queue depths read from the store when scraped) and the process
supervisor of `orbweaver run`. It knows no stage: the composition root (`orbweaver.roles`)
tells it which probes, queues and processes each role has.

Public surface: `Health`, `HealthServer`, `Check`, `store_probes`, `respond`; `count`,
`count_error`, `counter`, `gauge`, `metric_name`, `QueueCollector`, `QUEUES`,
`register_collector`, `exposition`; `Supervisor`, `RoleProcess`, `SupervisorCollector`,
`supervisor_respond`, `describe_exit`. Nothing is imported until used (`orbweaver._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.ops.health import Check, Health, HealthServer, respond, store_probes
    from orbweaver.ops.metrics import (
        QUEUES,
        QueueCollector,
        count,
        count_error,
        counter,
        exposition,
        gauge,
        metric_name,
        register_collector,
    )
    from orbweaver.ops.supervisor import (
        RoleProcess,
        Supervisor,
        SupervisorCollector,
        describe_exit,
        supervisor_respond,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".health": ["Check", "Health", "HealthServer", "respond", "store_probes"],
            ".metrics": [
                "QUEUES",
                "QueueCollector",
                "count",
                "count_error",
                "counter",
                "exposition",
                "gauge",
                "metric_name",
                "register_collector",
            ],
            ".supervisor": [
                "RoleProcess",
                "Supervisor",
                "SupervisorCollector",
                "describe_exit",
                "supervisor_respond",
            ],
        },
    )

__all__ = [
    "QUEUES",
    "Check",
    "Health",
    "HealthServer",
    "QueueCollector",
    "RoleProcess",
    "Supervisor",
    "SupervisorCollector",
    "count",
    "count_error",
    "counter",
    "describe_exit",
    "exposition",
    "gauge",
    "metric_name",
    "register_collector",
    "respond",
    "store_probes",
    "supervisor_respond",
]
