"""Models of the request types PROC ships (imported by ``models.py``; APPR makes the migration):

* ``ContractRevision`` — each version of a contract request's file (合同审批): the first at
  submission, one more each time the initiator resubmits after a return for revision;
* ``DocumentReceipt`` — 公文流转: one row per recipient department of a signed-off document, with
  who read it first and when (阅读回执).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ContractRevision(models.Model):
    request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.CASCADE, related_name="contract_revisions"
    )
    number = models.PositiveIntegerField(_("revision"))
    attachment = models.ForeignKey(
        "forms.FormAttachment", on_delete=models.PROTECT, related_name="+", verbose_name=_("contract file")
    )
    note = models.TextField(_("revision note"), blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("contract revision")
        verbose_name_plural = _("contract revisions")
        ordering = ("request", "number")
        constraints = [
            models.UniqueConstraint(fields=["request", "number"], name="approvals_contract_rev_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} v{self.number}"


class DocumentReceipt(models.Model):
    request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.CASCADE, related_name="document_receipts"
    )
    department = models.ForeignKey(
        "org.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    distributed_at = models.DateTimeField(_("distributed"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    read_by = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("read by"),
    )

    class Meta:
        verbose_name = _("document receipt")
        verbose_name_plural = _("document receipts")
        ordering = ("request", "department__code")
        constraints = [
            models.UniqueConstraint(fields=["request", "department"], name="approvals_receipt_unique"),
        ]
        indexes = [models.Index(fields=["department", "-distributed_at"], name="approvals_receipt_dept")]

    def __str__(self) -> str:
        return f"{self.request_id} → {self.department_id}"
