"""Report datasets of the process engine (human tasks and their durations). Discovered by the
report engine: ``register(site)`` (the report engine never imports this one)."""

from __future__ import annotations

from typing import Any

from .choices import TaskStatus
from .models import HumanTask, ProcessInstance


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "flow.tasks",
        "流程任务",
        "Process tasks",
        queryset=lambda: HumanTask.objects.all(),
        department_path="instance__initiator_department_id",
        fields=(
            f("process", "dimension", "流程", "Process", path="instance__definition__key"),
            f("step", "dimension", "环节", "Step", path="name"),
            f("status", "dimension", "状态", "Status", path="status", choices=TaskStatus),
            f("outcome", "dimension", "结果", "Outcome", path="outcome"),
            f("created_at", "time", "创建时间", "Created at", path="created_at"),
            f("completed_at", "time", "完成时间", "Completed at", path="completed_at"),
            f(
                "task_seconds",
                "measure",
                "处理时长(秒)",
                "Task duration (seconds)",
                duration=("completed_at", "created_at"),
            ),
        ),
        record_fields=("process", "step", "status", "created_at", "completed_at"),
    )
    site.dataset(
        "flow.instances",
        "流程实例",
        "Process instances",
        queryset=lambda: ProcessInstance.objects.all(),
        department_path="initiator_department_id",
        fields=(
            f("process", "dimension", "流程", "Process", path="definition__key"),
            f("status", "dimension", "状态", "Status", path="status"),
            f("started_at", "time", "发起时间", "Started at", path="started_at"),
            f("ended_at", "time", "结束时间", "Ended at", path="ended_at"),
            f(
                "cycle_seconds",
                "measure",
                "周期(秒)",
                "Cycle time (seconds)",
                duration=("ended_at", "started_at"),
            ),
        ),
        record_fields=("process", "status", "started_at", "ended_at"),
    )
    # completed tasks as duration facts: series ``flow.task:<process key>``, department = the
    # initiator's department
    site.durations(
        "flow.task_durations",
        "flow.task:",
        lambda: HumanTask.objects.filter(status=TaskStatus.COMPLETED),
        series="instance__definition__key",
        end="completed_at",
        start="created_at",
        department="instance__initiator_department_id",
    )
