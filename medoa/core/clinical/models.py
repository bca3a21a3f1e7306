"""Clinical facts: models."""

from __future__ import annotations
