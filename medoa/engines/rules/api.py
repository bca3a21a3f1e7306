"""The rule engine's REST API: /api/v1/rules and /api/v1/decisions."""

from ninja import Router

rules_router = Router(tags=["rules"])
decisions_router = Router(tags=["decisions"])
