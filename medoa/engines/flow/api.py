"""REST endpoints of the process engine (mounted at /api/v1/flow)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["flow"])
