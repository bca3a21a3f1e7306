from django.db import models
from django.utils.translation import gettext_lazy as _


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUSPENDED = "suspended", _("Suspended")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class InstanceOutcome(models.TextChoices):
    NONE = "", _("None")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")  # waiting for its assignee / a candidate
    COMPLETED = "completed", _("Completed")  # done by a person (see outcome)
    CANCELLED = "cancelled", _("Cancelled")  # ended by the engine (boundary event, countersign done, cancel)
    RETURNED = "returned", _("Returned")  # closed because the process was sent back to an earlier step
    WITHDRAWN = "withdrawn", _("Withdrawn")  # closed because the initiator withdrew
    TRANSFERRED = "transferred", _("Transferred")  # handed to someone else (a new row holds it)


class TaskOutcome(models.TextChoices):
    NONE = "", _("None")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    COMPLETED = "completed", _("Completed")


class SignerPosition(models.TextChoices):
    BEFORE = "before", _("Before me")
    AFTER = "after", _("After me")
    ALONGSIDE = "alongside", _("Alongside me")


class EventKind(models.TextChoices):
    """History entries of an instance (one per thing that happened)."""

    STARTED = "started", _("Started")
    TASK_CREATED = "task_created", _("Task created")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    COMPLETED = "completed", _("Completed")
    RETURNED = "returned", _("Returned")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    TRANSFERRED = "transferred", _("Transferred")
    SIGNER_ADDED = "signer_added", _("Signer added")
    CLAIMED = "claimed", _("Claimed")
    UNCLAIMED = "unclaimed", _("Released")
    URGED = "urged", _("Urged")
    COPIED = "copied", _("Copied to")
    COMMENTED = "commented", _("Commented")
    CANCELLED = "cancelled", _("Cancelled")
    SUSPENDED = "suspended", _("Suspended")
    RESUMED = "resumed", _("Resumed")
    MIGRATED = "migrated", _("Migrated")
    TIMER_FIRED = "timer_fired", _("Timer fired")
    REMINDED = "reminded", _("Reminder sent")
    ESCALATED = "escalated", _("Escalated")
    MESSAGE_RECEIVED = "message_received", _("Message received")
    MESSAGE_SENT = "message_sent", _("Message sent")
    SERVICE_DONE = "service_done", _("Automatic step done")
    DECISION = "decision", _("Decision evaluated")
    INCIDENT = "incident", _("Incident")
    INCIDENT_RESOLVED = "incident_resolved", _("Incident resolved")
    ENDED = "ended", _("Ended")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class ServiceJobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")  # retries exhausted: an incident is open
