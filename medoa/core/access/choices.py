from django.db import models
from django.utils.translation import gettext_lazy as _


class DataScope(models.TextChoices):
    """How far a permission reaches (ordered from narrowest to widest)."""

    SELF = "self", _("Own records")
    DEPARTMENT = "department", _("Own department")
    DEPARTMENT_TREE = "department_tree", _("Department and sub-departments")
    ALL = "all", _("Whole hospital")


SCOPE_RANK = {DataScope.SELF: 0, DataScope.DEPARTMENT: 1, DataScope.DEPARTMENT_TREE: 2, DataScope.ALL: 3}
