"""The enumerations of the bed board."""

from django.db import models
from django.utils.translation import pgettext_lazy


class BedStatus(models.TextChoices):
    AVAILABLE = "available", pgettext_lazy("bed status", "Available")  # 空闲
    OCCUPIED = "occupied", pgettext_lazy("bed status", "Occupied")  # 占用
    TO_CLEAN = "to_clean", pgettext_lazy("bed status", "To clean")  # 待清洁
    CLEANING = "cleaning", pgettext_lazy("bed status", "Cleaning")  # 清洁中
    RESERVED = "reserved", pgettext_lazy("bed status", "Reserved")  # 预约
    OUT_OF_SERVICE = "out_of_service", pgettext_lazy("bed status", "Out of service")  # 维修


class BedType(models.TextChoices):
    STANDARD = "standard", pgettext_lazy("bed type", "Standard bed")  # 普通床
    MONITORED = "monitored", pgettext_lazy("bed type", "Monitored bed")  # 监护床
    ISOLATION = "isolation", pgettext_lazy("bed type", "Isolation bed")  # 隔离床
    EXTRA = "extra", pgettext_lazy("bed type", "Extra bed")  # 加床


class CleaningStatus(models.TextChoices):
    WAITING = "waiting", pgettext_lazy("cleaning", "Waiting")  # 待清洁
    IN_PROGRESS = "in_progress", pgettext_lazy("cleaning", "In progress")  # 清洁中
    DONE = "done", pgettext_lazy("cleaning", "Done")  # 已完成
    CANCELLED = "cancelled", pgettext_lazy("cleaning", "Cancelled")  # 已取消
