"""Reads of the rule engine, narrowed by permission."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm

from .errors import RulesNotFound
from .models import DecisionDefinition, DecisionVersion, Rule, RuleExecution, RuleVersion

PERM_DESIGN = "rules.decision.design"
PERM_EVALUATE = "rules.decision.evaluate"
PERM_RULE_DESIGN = "rules.rule.design"
PERM_RULE_VIEW = "rules.rule.view"


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


# --- rules ----------------------------------------------------------------------------------------


def may_design_rules(user: Any) -> bool:
    return has_perm(user, PERM_RULE_DESIGN)


def may_view_rules(user: Any) -> bool:
    return has_perm(user, PERM_RULE_VIEW) or has_perm(user, PERM_RULE_DESIGN)


def rule_list(*, user: Any, q: str = "", enabled: bool | None = None, event_type: str = "") -> QuerySet[Rule]:
    """The rules (every one for those who may see rules, none otherwise), by priority."""
    if not may_view_rules(user):
        return Rule.objects.none()
    qs = Rule.objects.select_related("updated_by").order_by("priority", "id")
    if q:
        qs = qs.filter(name__icontains=q[:100])
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    if event_type:
        qs = qs.filter(event_type=event_type[:100])
    return qs


def rule_get(*, user: Any, rule_id: int) -> Rule:
    rule = rule_list(user=user).filter(pk=rule_id).first()
    if rule is None:
        raise RulesNotFound(_("There is no such rule."))
    return rule


def rule_versions(*, rule: Rule) -> list[RuleVersion]:
    return list(rule.versions.select_related("saved_by").order_by("-version"))


def execution_list(
    *,
    user: Any,
    rule_id: int | None = None,
    status: str = "",
    event_id: int | None = None,
    event_type: str = "",
) -> QuerySet[RuleExecution]:
    """The execution log, newest first, narrowed by the filters given."""
    if not may_view_rules(user):
        return RuleExecution.objects.none()
    qs = RuleExecution.objects.select_related("rule").order_by("-id")
    if rule_id is not None:
        qs = qs.filter(rule_id=rule_id)
    if status:
        qs = qs.filter(status=status)
    if event_id is not None:
        qs = qs.filter(event_id=event_id)
    if event_type:
        qs = qs.filter(event_type=event_type[:100])
    return qs
