"""What the role workbench shows: the heading for the user's roles, their profile, and the cards
registered in ``medoa.core.registries.workbench_cards`` that they may see.

Query budget (signed-in staff member, shell's own cards only): none of its own while the access
caches are warm — the profile comes from the permission principal (staff, role assignments with
their roles and departments, the department chain), which ``medoa.core.access.cache`` keeps per
process for ``MEDOA_ACCESS_CACHE_SECONDS``; cold, the principal costs three queries and the
department chain one. Then whatever each visible card's context function needs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import department_chain, has_perm, principal_of
from medoa.core.org.models import Department, RoleAssignment, Staff
from medoa.core.registries import WorkbenchCard

logger = logging.getLogger(__name__)

# The heading picks the FIRST row whose roles the user holds: leadership first, then the system
# administrators, department leadership, the functional offices, clinical staff, support services.
WORKBENCH_HEADINGS: list[tuple[frozenset[str], Any]] = [
    (frozenset({"dean"}), _("Dean's workbench")),
    (frozenset({"vice_dean"}), _("Vice dean's workbench")),
    (frozenset({"sys_admin", "sec_admin", "audit_admin"}), _("System administration workbench")),
    (frozenset({"dept_head"}), _("Department head's workbench")),
    (frozenset({"head_nurse"}), _("Head nurse's workbench")),
    (
        frozenset(
            {
                "medical_affairs",
                "nursing_dept",
                "quality_office",
                "education_office",
                "hr",
                "finance",
                "equipment",
                "logistics",
                "it",
            }
        ),
        _("Office workbench"),
    ),
    (frozenset({"doctor"}), _("Doctor's workbench")),
    (frozenset({"nurse"}), _("Nurse's workbench")),
    (frozenset({"housekeeping"}), _("Support services workbench")),
]
DEFAULT_HEADING = _("My workbench")

CARD_WIDTHS = {"full", "half", "third"}


def workbench_heading(role_codes: Iterable[str]) -> Any:
    held = set(role_codes)
    for codes, heading in WORKBENCH_HEADINGS:
        if held & codes:
            return heading
    return DEFAULT_HEADING


@dataclass
class WorkbenchProfile:
    staff: Staff | None
    department_chain: list[Department] = field(default_factory=list)
    role_assignments: list[RoleAssignment] = field(default_factory=list)


def workbench_profile(*, user: Any) -> WorkbenchProfile:
    """The person, their department chain (hospital first) and role assignments by role code and
    department: from the principal (no query while it is cached)."""
    principal = principal_of(user)
    staff = principal.staff if principal is not None else None
    if principal is None or staff is None:
        return WorkbenchProfile(staff=None)
    assignments = sorted(principal.assignments, key=lambda a: (a.role.code, a.department.path))
    return WorkbenchProfile(
        staff=staff, department_chain=department_chain(principal), role_assignments=assignments
    )


def workbench_cards_visible(*, user: Any, cards: Iterable[WorkbenchCard]) -> list[WorkbenchCard]:
    """The cards ``user`` may see, by ``(order, key)``: a card with ``roles`` needs one of them,
    a card with ``permission`` needs that permission; a card with both needs both."""
    principal = principal_of(user)
    held = principal.role_codes if principal is not None else set()
    visible = [
        card
        for card in cards
        if (not card.roles or held.intersection(card.roles))
        and (not card.permission or has_perm(user, card.permission))
    ]
    return sorted(visible, key=lambda c: (c.order, c.key))


@dataclass
class RenderedCard:
    """A visible card with its context; ``failed`` when its context function raised."""

    card: WorkbenchCard
    context: dict[str, Any]
    failed: bool = False

    @property
    def dom_id(self) -> str:
        return "card-" + "".join(ch if ch.isalnum() else "-" for ch in self.card.key)

    @property
    def width(self) -> str:
        return self.card.width if self.card.width in CARD_WIDTHS else "half"


def workbench_cards_with_context(
    *, request: HttpRequest, cards: Iterable[WorkbenchCard]
) -> list[RenderedCard]:
    """Call each visible card's context function. One broken card never takes the workbench down:
    it is logged and shown as unavailable (with DEBUG on, the error propagates)."""
    rendered = []
    for card in workbench_cards_visible(user=request.user, cards=cards):
        try:
            context = dict(card.context(request))
        except Exception:
            if settings.DEBUG:
                raise
            logger.exception("workbench card %s failed", card.key)
            rendered.append(RenderedCard(card=card, context={}, failed=True))
            continue
        rendered.append(RenderedCard(card=card, context=context))
    return rendered
