"""Outbound webhooks: models."""

from __future__ import annotations
