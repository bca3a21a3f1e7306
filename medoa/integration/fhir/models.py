"""FHIR R4: models."""

from __future__ import annotations
