"""Medical resources: models."""

from __future__ import annotations
