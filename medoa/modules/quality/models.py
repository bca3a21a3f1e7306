"""Quality and safety: models."""

from __future__ import annotations
