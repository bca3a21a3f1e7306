"""The process engine's tables.

* ``ProcessDefinition`` — one row per process key; ``ProcessVersion`` — one row per deploy (the
  BPMN XML is kept; the parsed spec lives in an in-process cache keyed by version id).
* ``ProcessDraft`` — the designer's unsaved work per key.
* ``ProcessInstance`` — one row per running/finished instance: the serialized workflow state
  (WITHOUT the spec), a ``revision`` for optimistic checks, ``next_due_at`` for the worker.
* ``HumanTask`` (+ ``HumanTaskCandidate``) — the projection the inboxes query; never a deserialized
  workflow. ``TaskCopy`` — 抄送. ``ProcessEvent`` (+ ``ProcessAttachment``) — the history.
* ``MessageSubscription`` — message names an instance waits for, by business key.
* ``ServiceJob`` / ``Incident`` — automatic steps run by the worker, and what went wrong.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import (
    EventKind,
    IncidentStatus,
    InstanceOutcome,
    InstanceStatus,
    ServiceJobStatus,
    TaskOutcome,
    TaskStatus,
)


class ProcessDefinition(models.Model):
    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=64, blank=True)
    description = models.TextField(_("description"), blank=True)
    latest_version = models.ForeignKey(
        "ProcessVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("process definition")
        verbose_name_plural = _("process definitions")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ProcessVersion(models.Model):
    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    process_id = models.CharField(_("BPMN process id"), max_length=200)
    name = models.CharField(_("name"), max_length=200)
    bpmn_xml = models.TextField(_("BPMN XML"))
    checksum = models.CharField(max_length=64)
    # Facts read off the model at deploy: user tasks (id, name, form key, assignment), start form key,
    # called processes with the versions they resolved to, timer start definitions …
    metadata = models.JSONField(default=dict, blank=True)
    deployed_at = models.DateTimeField(auto_now_add=True)
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["definition", "-version"]
        verbose_name = _("process version")
        verbose_name_plural = _("process versions")
        constraints = [models.UniqueConstraint(fields=["definition", "version"], name="flow_version_unique")]

    def __str__(self) -> str:
        return f"{self.definition.key} v{self.version}"


class ProcessDraft(models.Model):
    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    bpmn_xml = models.TextField(_("BPMN XML"))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("process draft")
        verbose_name_plural = _("process drafts")

    def __str__(self) -> str:
        return f"draft {self.key}"


class ProcessInstance(models.Model):
    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="instances")
    version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="instances")
    business_key = models.CharField(_("business key"), max_length=200, blank=True, db_index=True)
    title = models.CharField(_("title"), max_length=300, blank=True)
    initiator = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.PROTECT, related_name="initiated_processes"
    )
    initiator_department = models.ForeignKey(
        "org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=InstanceStatus.choices,
        default=InstanceStatus.RUNNING,
        db_index=True,
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=InstanceOutcome.choices, blank=True)
    state = models.JSONField(_("serialized state"), default=dict)
    revision = models.PositiveIntegerField(default=0)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    has_incident = models.BooleanField(default=False, db_index=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("process instance")
        verbose_name_plural = _("process instances")
        indexes = [
            models.Index(fields=["initiator", "-started_at"], name="flow_inst_initiator_idx"),
            models.Index(
                fields=["next_due_at"], name="flow_inst_due_idx", condition=Q(next_due_at__isnull=False)
            ),
            models.Index(fields=["definition", "status"], name="flow_inst_def_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.definition_id}#{self.pk}"


class HumanTask(models.Model):
    """One piece of human work: a user task (or one countersign share of it) for a person.

    ``spiff_task_id`` is the SpiffWorkflow task id; together with ``round`` it is unique because a
    returned step comes back with the same spiff id. ``on_behalf_of`` is the person a delegate acts
    for (委托). ``candidates`` hold the people who may claim an unassigned task.
    """

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="tasks")
    spiff_task_id = models.UUIDField()
    round = models.PositiveIntegerField(default=1)
    task_def_id = models.CharField(_("step id"), max_length=200)
    name = models.CharField(_("name"), max_length=300)
    status = models.CharField(_("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    outcome = models.CharField(_("outcome"), max_length=16, choices=TaskOutcome.choices, blank=True)
    assignee = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.PROTECT, related_name="flow_tasks"
    )
    on_behalf_of = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    form_key = models.CharField(_("form"), max_length=200, blank=True)
    is_countersign = models.BooleanField(default=False)
    # Add-signer bookkeeping: a task created "before me" blocks the task it was added for.
    added_for = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="added_signers"
    )
    signer_position = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    last_urged_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(_("comment"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "spiff_task_id", "round"], name="flow_task_spiff_round_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["assignee", "-created_at"], name="flow_task_todo_idx", condition=Q(status="open")
            ),
            models.Index(fields=["completed_by", "-completed_at"], name="flow_task_done_idx"),
            models.Index(fields=["instance", "status"], name="flow_task_instance_idx"),
            models.Index(
                fields=["due_at"], name="flow_task_due_idx", condition=Q(status="open", due_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class HumanTaskCandidate(models.Model):
    """A person who may claim an unassigned task (candidate users and groups, resolved at creation)."""

    task = models.ForeignKey(HumanTask, on_delete=models.CASCADE, related_name="candidates")
    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "task"], name="flow_candidate_unique")]

    def __str__(self) -> str:
        return f"{self.staff_id} may claim {self.task_id}"


class TaskCopy(models.Model):
    """抄送: an instance copied to a person for their information."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="copies")
    task = models.ForeignKey(HumanTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipient = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="flow_copies")
    sent_by = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "-created_at"], name="flow_copy_recipient_idx")]
        constraints = [models.UniqueConstraint(fields=["instance", "recipient"], name="flow_copy_unique")]

    def __str__(self) -> str:
        return f"copy of {self.instance_id} to {self.recipient_id}"


class ProcessEvent(models.Model):
    """History: who did what, when, with which comment, per instance."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="events")
    task = models.ForeignKey(
        HumanTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    kind = models.CharField(_("what"), max_length=32, choices=EventKind.choices)
    actor = models.ForeignKey("org.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    on_behalf_of = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step_id = models.CharField(max_length=200, blank=True)
    step_name = models.CharField(max_length=300, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["instance", "at"], name="flow_event_instance_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.instance_id}"


class ProcessAttachment(models.Model):
    """A file attached to a comment (an approval opinion)."""

    event = models.ForeignKey(ProcessEvent, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="flow/%Y/%m/")
    name = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class MessageSubscription(models.Model):
    """An instance waits for message ``name`` (correlated by the instance's business key)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="subscriptions")
    name = models.CharField(max_length=200)
    business_key = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["name", "business_key"], name="flow_msg_sub_idx")]

    def __str__(self) -> str:
        return f"{self.name}/{self.business_key}"


class ServiceJob(models.Model):
    """An automatic step (service task) to run a registered function, with retries."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="service_jobs")
    spiff_task_id = models.UUIDField()
    task_def_id = models.CharField(max_length=200)
    function = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=ServiceJobStatus.choices, default=ServiceJobStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="flow_job_due_idx", condition=Q(status="pending"))
        ]

    def __str__(self) -> str:
        return f"{self.function} for {self.instance_id}"


class Incident(models.Model):
    """Something stopped an instance (a failed automatic step, an expression error …)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="incidents")
    job = models.ForeignKey(ServiceJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    step_id = models.CharField(max_length=200, blank=True)
    message = models.TextField()
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"incident on {self.instance_id}: {self.message[:40]}"


class TimerStartSchedule(models.Model):
    """When the worker next starts an instance of a definition with a timer start event.

    ``expression`` is the ISO 8601 date, duration or cycle (``R3/PT1H``, ``R/2030-01-01T08:00/P1D``)
    of the latest version; ``remaining`` counts the firings left (``None``: unbounded).
    """

    definition = models.OneToOneField(
        ProcessDefinition, on_delete=models.CASCADE, related_name="timer_schedule"
    )
    version = models.ForeignKey(ProcessVersion, on_delete=models.CASCADE, related_name="+")
    expression = models.CharField(max_length=200)
    period = models.CharField(max_length=100, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True, db_index=True)
    remaining = models.PositiveIntegerField(null=True, blank=True)
    fired_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"timer start of {self.definition_id}: {self.expression}"
