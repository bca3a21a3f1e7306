"""Reads of the rule engine, narrowed by permission."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm

from .errors import RulesNotFound
from .models import DecisionDefinition, DecisionVersion

PERM_DESIGN = "rules.decision.design"
PERM_EVALUATE = "rules.decision.evaluate"


def may_design(user: Any) -> bool:
    return has_perm(user, PERM_DESIGN)


def may_evaluate(user: Any) -> bool:
    return has_perm(user, PERM_EVALUATE) or has_perm(user, PERM_DESIGN)


def decision_list(*, user: Any) -> QuerySet[DecisionDefinition]:
    """Deployed decisions: every one for those who may evaluate or design them, none otherwise."""
    qs = DecisionDefinition.objects.select_related("latest_version", "latest_version__deployed_by")
    if not may_evaluate(user):
        return qs.none()
    return qs.order_by("key")


def decision_get(*, user: Any, key: str) -> DecisionDefinition:
    definition = decision_list(user=user).filter(key=key).first()
    if definition is None:
        raise RulesNotFound(_("There is no such decision."))
    return definition


def decision_versions(*, definition: DecisionDefinition) -> list[DecisionVersion]:
    return list(definition.versions.select_related("deployed_by").order_by("-version"))
