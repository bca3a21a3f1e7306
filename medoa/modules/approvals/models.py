"""Approval centre: requests, comments, and leave's holiday calendar, balances and ledger."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import HolidayKind, LeaveType, LedgerKind, RequestStatus


class ApprovalRequest(models.Model):
    """One request started in the approval centre (any type), tied to its process instance."""

    number = models.CharField(_("number"), max_length=32, unique=True, null=True, blank=True)
    type_key = models.CharField(_("type"), max_length=64, db_index=True)
    initiator = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, related_name="approval_requests", verbose_name=_("initiator")
    )
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.PROTECT,
        related_name="approval_requests",
        verbose_name=_("department"),
    )
    process_instance = models.ForeignKey(
        "flow.ProcessInstance",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
    )
    form_record = models.ForeignKey(
        "forms.FormRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(_("data"), default=dict, blank=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.SUBMITTED
    )
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ("-submitted_at", "-pk")
        indexes = [
            models.Index(fields=["initiator", "-submitted_at"], name="approvals_req_initiator"),
            models.Index(fields=["type_key", "status"], name="approvals_req_type_status"),
        ]

    def __str__(self) -> str:
        return f"{self.number or self.pk} {self.summary}"


class Comment(models.Model):
    """A comment on a request; ``mentions`` are the people @-mentioned (they are notified)."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("text"))
    mentions = models.ManyToManyField("org.Staff", blank=True, related_name="+")
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        return self.text[:50]


class Holiday(models.Model):
    """One day of the holiday calendar: a public holiday (a day off, also on a weekday) or a
    make-up working day (调休上班, a working day also on a weekend)."""

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=HolidayKind.choices)
    name = models.CharField(_("name"), max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("holiday calendar day")
        verbose_name_plural = _("holiday calendar")
        ordering = ("date",)

    def __str__(self) -> str:
        return f"{self.date} {self.name} ({self.kind})"


class LeaveBalance(models.Model):
    """A staff member's entitlement of one leave type in one year; ``entitled`` null = unlimited.

    ``used`` is what approved leave took (net of days returned by cancel-leave); what requests in
    approval would take is computed (``selectors.leave_pending_days``), not stored."""

    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="leave_balances")
    leave_type = models.CharField(_("leave type"), max_length=16, choices=LeaveType.choices)
    year = models.PositiveSmallIntegerField(_("year"))
    entitled = models.DecimalField(_("entitled days"), max_digits=6, decimal_places=1, null=True, blank=True)
    used = models.DecimalField(_("days taken"), max_digits=6, decimal_places=1, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("leave balance")
        verbose_name_plural = _("leave balances")
        ordering = ("year", "staff_id", "leave_type")
        constraints = [
            models.UniqueConstraint(fields=["staff", "leave_type", "year"], name="approvals_balance_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.leave_type} {self.year}: {self.used}/{self.entitled}"

    @property
    def remaining(self) -> Decimal | None:
        return None if self.entitled is None else self.entitled - self.used


class LeaveLedgerEntry(models.Model):
    """Every change of a balance: granted, adjusted, taken by an approved leave, returned."""

    balance = models.ForeignKey(LeaveBalance, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("kind"), max_length=16, choices=LedgerKind.choices)
    # + adds to the entitlement (grant, adjust) or to the days taken (deduct); return is negative
    days = models.DecimalField(_("days"), max_digits=6, decimal_places=1)
    request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(_("note"), max_length=200, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("leave ledger entry")
        verbose_name_plural = _("leave ledger")
        ordering = ("at", "pk")

    def __str__(self) -> str:
        return f"{self.kind} {self.days}"


class LeaveRecord(models.Model):
    """The leave a request asks for (one per leave request): the facts balances, cancel-leave and
    the roster need, kept as columns so they can be queried."""

    request = models.OneToOneField(ApprovalRequest, on_delete=models.CASCADE, related_name="leave")
    staff = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="leave_records")
    leave_type = models.CharField(_("leave type"), max_length=16, choices=LeaveType.choices)
    year = models.PositiveSmallIntegerField(_("year"))
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    days = models.PositiveIntegerField(_("working days"))
    # 销假: the day the person came back early (the leave's last day is the day before) and the
    # working days returned to the balance
    resumed_on = models.DateField(_("back at work on"), null=True, blank=True)
    returned_days = models.PositiveIntegerField(_("days returned"), default=0)

    class Meta:
        verbose_name = _("leave")
        verbose_name_plural = _("leave")
        indexes = [models.Index(fields=["staff", "leave_type", "year"], name="approvals_leave_balance")]

    def __str__(self) -> str:
        return f"{self.leave_type} {self.start_date}~{self.end_date}"


class AutoDelegation(models.Model):
    """ "While I am on approved leave, delegate my approvals to X": when a leave of ``staff`` is
    approved, an org delegation to ``delegate`` is created for the leave's dates."""

    staff = models.OneToOneField("org.Staff", on_delete=models.CASCADE, related_name="leave_auto_delegation")
    delegate = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("automatic delegation while on leave")
        verbose_name_plural = _("automatic delegations while on leave")

    def __str__(self) -> str:
        return f"{self.staff_id} → {self.delegate_id}"


# The models of PROC's request types (contract revisions, document read receipts).
from .models_proc import ContractRevision, DocumentReceipt  # noqa: E402

__all__ = [
    "ApprovalRequest",
    "AutoDelegation",
    "Comment",
    "ContractRevision",
    "DocumentReceipt",
    "Holiday",
    "LeaveBalance",
    "LeaveLedgerEntry",
    "LeaveRecord",
]
