from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RecordStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")  # 草稿
    SUBMITTED = "submitted", _("Submitted")  # 已提交
    APPROVED = "approved", pgettext_lazy("record", "Approved")  # 已通过 (a process's step says 已同意)
    REJECTED = "rejected", _("Rejected")  # 已驳回
    WITHDRAWN = "withdrawn", _("Withdrawn")  # 已撤回


class RecordSource(models.TextChoices):
    WEB = "web", _("Web page")
    API = "api", _("API")
    IMPORT = "import", _("Spreadsheet import")
    PROCESS = "process", _("Process")


class ValueKind(models.TextChoices):
    """The column of the reporting side table a field's values land in."""

    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
