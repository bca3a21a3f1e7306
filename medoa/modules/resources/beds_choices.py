"""The enumerations of the bed board."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class BedStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")  # 空闲
    OCCUPIED = "occupied", _("Occupied")  # 占用
    TO_CLEAN = "to_clean", _("To clean")  # 待清洁
    CLEANING = "cleaning", _("Cleaning")  # 清洁中
    RESERVED = "reserved", _("Reserved")  # 预约
    OUT_OF_SERVICE = "out_of_service", _("Out of service")  # 维修


class BedType(models.TextChoices):
    STANDARD = "standard", _("Standard bed")  # 普通床
    MONITORED = "monitored", _("Monitored bed")  # 监护床
    ISOLATION = "isolation", _("Isolation bed")  # 隔离床
    EXTRA = "extra", _("Extra bed")  # 加床


class CleaningStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")  # 待清洁
    IN_PROGRESS = "in_progress", _("In progress")  # 清洁中
    DONE = "done", _("Done")  # 已完成
    CANCELLED = "cancelled", _("Cancelled")  # 已取消
