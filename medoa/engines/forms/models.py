"""The form engine's tables.

* ``FormDefinition`` — one row per form key (name, category, owning department).
* ``FormDraft`` — the designer's work in progress for a key (any JSON object; checked at publish).
* ``FormVersion`` — one row per publish: the form-js schema as published, its checksum and the
  fields marked for reporting (``[{"key": ..., "kind": "text"|"number"|"date"}]``).
* ``FormRecord`` — one row per submission: its version, submitter and the submitter's department
  (the data scope), status, source and values; ``subject`` links it to what it is about (e.g.
  ``"flow:instance:42"``).
* ``FormRecordValue`` — the reporting side table: one row per value of a reporting field of a
  record (several for a checklist), typed into a text, number or date column, indexed as
  ``(definition, field, value)`` so that filtered lists stay fast at millions of records.
  Written in the same transaction as the record.
* ``FormAttachment`` — an uploaded file, named by an opaque token; stored under ``MEDIA_ROOT``
  (the data directory, never served by the web server) under a random name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import RecordSource, RecordStatus


class FormDefinition(models.Model):
    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=64, blank=True)
    department = models.ForeignKey(
        "org.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owning department"),
    )
    latest_version = models.ForeignKey(
        "FormVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("form definition")
        verbose_name_plural = _("form definitions")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class FormDraft(models.Model):
    definition = models.OneToOneField(FormDefinition, on_delete=models.CASCADE, related_name="draft")
    schema = models.JSONField(_("schema"), default=dict)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("form draft")
        verbose_name_plural = _("form drafts")

    def __str__(self) -> str:
        return f"draft of {self.definition_id}"


class FormVersion(models.Model):
    definition = models.ForeignKey(FormDefinition, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    schema = models.JSONField(_("schema"))
    checksum = models.CharField(max_length=64)
    reporting = models.JSONField(_("reporting fields"), default=list, blank=True)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["definition", "-version"]
        verbose_name = _("form version")
        verbose_name_plural = _("form versions")
        constraints = [models.UniqueConstraint(fields=["definition", "version"], name="forms_version_unique")]

    def __str__(self) -> str:
        return f"{self.definition_id} v{self.version}"


class FormRecord(models.Model):
    definition = models.ForeignKey(FormDefinition, on_delete=models.PROTECT, related_name="records")
    version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="records")
    submitter = models.ForeignKey(
        "org.Staff", null=True, blank=True, on_delete=models.PROTECT, related_name="form_records"
    )
    department = models.ForeignKey(
        "org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.SUBMITTED
    )
    source = models.CharField(
        _("source"), max_length=16, choices=RecordSource.choices, default=RecordSource.WEB
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    values = models.JSONField(_("values"), default=dict)
    # Field paths the record's process hides from people at some step (``medoa:hidden``): only the
    # submitter and form designers see them on the form engine's pages and API, and they are not
    # in the reporting index (a filter on them would tell what they hold).
    hidden_fields = models.JSONField(default=list, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("form record")
        verbose_name_plural = _("form records")
        indexes = [
            models.Index(fields=["definition", "-submitted_at", "-id"], name="forms_record_list_idx"),
            models.Index(fields=["definition", "status"], name="forms_record_status_idx"),
            models.Index(fields=["definition", "department"], name="forms_record_dept_idx"),
            models.Index(fields=["subject"], name="forms_record_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"record {self.pk} of {self.definition_id}"


class FormRecordValue(models.Model):
    """One value of a reporting field of a record (the side table reports and filters query)."""

    # indexed with the field (below): the probe "does this record match the filter?"
    record = models.ForeignKey(
        FormRecord, on_delete=models.CASCADE, related_name="report_values", db_index=False
    )
    # The record's definition, repeated so that the indexes lead with it.
    definition = models.ForeignKey(FormDefinition, on_delete=models.CASCADE, related_name="+", db_index=False)
    field = models.CharField(max_length=200)
    text = models.CharField(max_length=255, null=True, blank=True)
    number = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    date = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("reporting value")
        verbose_name_plural = _("reporting values")
        # one partial index per column: each holds only the rows whose value is in that column
        indexes = [
            models.Index(fields=["record", "field"], name="forms_value_record_idx"),
            models.Index(
                fields=["definition", "field", "text", "record"],
                name="forms_value_text_idx",
                condition=Q(text__isnull=False),
            ),
            models.Index(
                fields=["definition", "field", "number", "record"],
                name="forms_value_number_idx",
                condition=Q(number__isnull=False),
            ),
            models.Index(
                fields=["definition", "field", "date", "record"],
                name="forms_value_date_idx",
                condition=Q(date__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field}={self.text or self.number or self.date}"


class FormAttachment(models.Model):
    """An uploaded file. ``id`` is an opaque random token (what a form's value holds)."""

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    file = models.FileField(upload_to="forms/%Y/%m/", max_length=200)
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(_("content type"), max_length=120)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    record = models.ForeignKey(
        FormRecord, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )

    class Meta:
        verbose_name = _("form attachment")
        verbose_name_plural = _("form attachments")

    def __str__(self) -> str:
        return self.name


class App(models.Model):
    """A no-code app: a published form, optionally a process (by key — the form engine never
    imports the process engine), a list page showing ``list_columns`` (field keys), a menu entry for
    the holders of ``roles`` (role codes; empty: everyone), and an optional conflict rule: no two
    live records (neither rejected nor withdrawn) of the form may overlap in time
    (``conflict_start``–``conflict_end``) on the same ``conflict_resource``.

    ``shared_records`` (a booking calendar, a shared register): the app's page lists every record
    of its form to everyone who sees the app, instead of only those their ``forms.record.view``
    data scope reaches; only that list, and fields a process hides stay hidden."""

    slug = models.SlugField(_("short name"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    icon = models.CharField(_("icon"), max_length=32, blank=True)
    form = models.ForeignKey(
        FormDefinition, on_delete=models.PROTECT, related_name="apps", verbose_name=_("form")
    )
    process_key = models.CharField(_("process"), max_length=64, blank=True)
    list_columns = models.JSONField(_("list columns"), default=list, blank=True)
    roles = models.JSONField(_("roles that see it"), default=list, blank=True)
    menu_order = models.PositiveIntegerField(_("menu order"), default=100)
    enabled = models.BooleanField(_("enabled"), default=True)
    conflict_resource = models.CharField(_("conflict resource field"), max_length=200, blank=True)
    conflict_start = models.CharField(_("conflict start field"), max_length=200, blank=True)
    conflict_end = models.CharField(_("conflict end field"), max_length=200, blank=True)
    shared_records = models.BooleanField(_("records shared with everyone who sees it"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["menu_order", "slug"]
        verbose_name = _("app")
        verbose_name_plural = _("apps")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(conflict_resource="", conflict_start="", conflict_end="")
                    | (~Q(conflict_resource="") & ~Q(conflict_start="") & ~Q(conflict_end=""))
                ),
                name="forms_app_conflict_rule_whole",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def has_conflict_rule(self) -> bool:
        return bool(self.conflict_resource)
