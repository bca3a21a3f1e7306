"""REST endpoints of this app (mounted by medoa.api.api)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["audit"])
