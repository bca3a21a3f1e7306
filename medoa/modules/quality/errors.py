"""Errors of the quality module: a lazy English message, the field at fault, the HTTP status."""

from __future__ import annotations

from typing import Any


class QualityError(Exception):
    status = 422

    def __init__(self, message: Any, *, field: str = "", params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params or {}


class AlertNotFound(QualityError):
    status = 404


class AlertPermissionDenied(QualityError):
    status = 403


class AlertConflict(QualityError):
    status = 409


class QualityInputError(QualityError):
    status = 422
