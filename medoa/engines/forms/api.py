"""The form engine's REST API (mounted at /api/v1/forms)."""

from ninja import Router

router = Router(tags=["forms"])
