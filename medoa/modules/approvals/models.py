"""Approval centre: models."""

from __future__ import annotations
