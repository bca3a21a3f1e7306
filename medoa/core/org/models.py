"""The organisation: departments (a tree), staff, roles, role assignments and delegations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from medoa.core.crypto import EncryptedTextField

from .choices import (
    ActiveStatus,
    CertificateKind,
    DepartmentCategory,
    DepartmentKind,
    Gender,
    NursingLevel,
    RoleScope,
    StaffStatus,
    Title,
)


class Department(models.Model):
    """A node of the hospital tree: hospital → campus → category → department → ward or unit.

    ``path`` is the materialised path of primary keys (``/1/4/17/``) kept by the services, so
    "this department and its children" is one indexed prefix query.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=150, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=DepartmentKind.choices)
    category = models.CharField(_("category"), max_length=16, choices=DepartmentCategory.choices, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    head = models.ForeignKey(
        "Staff", verbose_name=_("head"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ActiveStatus.choices, default=ActiveStatus.ACTIVE
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The name in the active language (Chinese unless English is active and present)."""
        lang = get_language() or "zh-hans"
        if lang.startswith("en") and self.name_en:
            return self.name_en
        return self.name_zh

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p]


class Staff(models.Model):
    """A person who works at the hospital, with their user account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        on_delete=models.PROTECT,
        related_name="staff",
    )
    employee_no = models.CharField(_("employee number"), max_length=32, unique=True)
    name = models.CharField(_("full name"), max_length=64)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, default=Gender.UNKNOWN)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="staff"
    )
    title = models.CharField(_("professional title"), max_length=32, choices=Title.choices)
    nursing_level = models.CharField(
        _("nursing level"), max_length=2, choices=NursingLevel.choices, blank=True
    )
    position = models.CharField(_("position"), max_length=64, blank=True)
    office_phone = models.CharField(_("office phone"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = EncryptedTextField(_("mobile phone"), blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    national_id = EncryptedTextField(_("national ID"), blank=True)
    national_id_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    hire_date = models.DateField(_("hire date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=StaffStatus.choices, default=StaffStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["department__path", "employee_no"]
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        indexes = [models.Index(fields=["name"]), models.Index(fields=["status", "department"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.employee_no})"

    @property
    def is_active(self) -> bool:
        return self.status == StaffStatus.ACTIVE


class Role(models.Model):
    """A role with a stable code (``dept_head``, ``finance`` …); roles grant permissions."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=64)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    scope = models.CharField(_("scope"), max_length=16, choices=RoleScope.choices, default=RoleScope.HOSPITAL)
    builtin = models.BooleanField(_("built in"), default=False)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        lang = get_language() or "zh-hans"
        if lang.startswith("en") and self.name_en:
            return self.name_en
        return self.name_zh


class RoleAssignment(models.Model):
    """``staff`` holds ``role`` for ``department`` (and its children when ``include_children``)."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="role_assignments")
    include_children = models.BooleanField(_("includes sub-departments"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [
            models.UniqueConstraint(fields=["staff", "role", "department"], name="org_roleassignment_unique"),
        ]
        indexes = [models.Index(fields=["role", "department"])]

    def __str__(self) -> str:
        return f"{self.staff} · {self.role.code} @ {self.department.code}"


class Delegation(models.Model):
    """委托: ``delegator``'s tasks go to ``delegate`` between two moments.

    ``process_keys`` limits the delegation to those process definitions; empty means all.
    """

    delegator = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="delegations_given")
    delegate = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="delegations_received")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    process_keys = models.JSONField(_("process types"), default=list, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at"]
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="org_delegation_ends_after"
            ),
            models.CheckConstraint(
                condition=~Q(delegator=models.F("delegate")), name="org_delegation_not_self"
            ),
        ]
        indexes = [models.Index(fields=["delegator", "starts_at", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate}"


class StaffCertificate(models.Model):
    """A qualification of a staff member (医师执业证书, 护士执业证书 …) and when it runs out.

    ``expires_on`` empty: it does not expire. ``number`` is stored in clear: licence numbers are
    looked up in the public registers of the health authorities (unlike a national ID); the
    record is shown only to HR, to those who see the staff record, and to the person.
    """

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="certificates"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=CertificateKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    number = models.CharField(_("certificate number"), max_length=64, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["staff", "expires_on", "pk"]
        verbose_name = _("staff certificate")
        verbose_name_plural = _("staff certificates")
        indexes = [models.Index(fields=["expires_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(issued_on__isnull=True)
                | Q(expires_on__isnull=True)
                | Q(expires_on__gt=models.F("issued_on")),
                name="org_certificate_expires_after_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} · {self.title}"

    @property
    def title(self) -> str:
        """The name given, else the kind's label (in the active language)."""
        return self.name or str(self.get_kind_display())
