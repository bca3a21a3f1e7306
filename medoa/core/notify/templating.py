"""Message templates with ``{variables}``, in Chinese and English, rendered safely.

A template is ``str.format`` syntax restricted to plain names: ``{patient}`` and
``{value:.1f}`` are fine; attribute access (``{user.password}``), indexing (``{a[0]}``),
conversions other than ``!s``, nested fields and wide format specs are refused when the template
is checked, so a template can never reach into an object. A variable that is missing at render time
is a ``TemplateVariableError`` naming every missing variable and where it is used.

Templates come from code (``message_templates.register(MessageTemplateSpec(...))`` in an app's
``ready()``) or from the ``MessageTemplate`` table, whose row wins for the same key.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medoa.core.registries import Registry

LANGUAGES = ("zh", "en")
_SPEC = re.compile(r"^[<>^=]?[+\- ]?[0-9]{0,2}(?:\.[0-9]{1,2})?[sdf%]?$")


class TemplateError(ValueError):
    """A template that may not be used (bad syntax or a forbidden field); ``where`` names the part."""

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class TemplateVariableError(KeyError):
    """Variables a template needs and the caller did not give."""

    def __init__(self, missing: dict[str, list[str]], key: str = "") -> None:
        self.missing = missing  # variable -> the parts that use it ("title", "body")
        self.key = key
        names = ", ".join(f"{name} (in {', '.join(parts)})" for name, parts in sorted(missing.items()))
        super().__init__(
            f"template {key!r}: missing variable(s): {names}" if key else f"missing variable(s): {names}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


_formatter = string.Formatter()


def template_fields(text: str, *, where: str = "") -> list[str]:
    """The variable names ``text`` uses, in order; raises ``TemplateError`` for anything but plain
    names with a short format spec."""
    try:
        parsed = list(_formatter.parse(text))
    except ValueError as exc:
        raise TemplateError(str(exc), where=where) from None
    names: list[str] = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise TemplateError(f"{{{field}}} is not a plain variable name", where=where)
        if conversion not in (None, "s"):
            raise TemplateError(f"{{{field}!{conversion}}}: only !s is allowed", where=where)
        if spec and ("{" in spec or not _SPEC.match(spec)):
            raise TemplateError(f"{{{field}:{spec}}}: format spec not allowed", where=where)
        names.append(field)
    return names


class _Strict(Mapping[str, Any]):
    """The variables, exposing only plain values; unknown names are collected, not raised."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._vars = variables

    def __getitem__(self, key: str) -> Any:
        value = self._vars[key]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return value
        return str(value)

    def __iter__(self) -> Any:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)


def render_text(text: str, variables: Mapping[str, Any], *, where: str = "") -> str:
    """``text`` with its variables filled in (checked first: see ``template_fields``)."""
    names = template_fields(text, where=where)
    missing = [n for n in names if n not in variables]
    if missing:
        raise TemplateVariableError({n: [where or "text"] for n in missing})
    try:
        return text.format_map(_Strict(variables))
    except (ValueError, TypeError) as exc:  # a spec that does not fit the value (".1f" on text)
        raise TemplateError(str(exc), where=where) from None


@dataclass(frozen=True)
class MessageTemplateSpec:
    """A message in both languages; English parts left empty fall back to the Chinese ones."""

    key: str
    title_zh: str
    body_zh: str = ""
    title_en: str = ""
    body_en: str = ""
    kind: str = "info"

    def parts(self, language: str) -> tuple[str, str]:
        if language == "en" and self.title_en:
            return self.title_en, self.body_en
        return self.title_zh, self.body_zh

    def check(self) -> None:
        """Raise ``TemplateError`` when any part is not a usable template."""
        for lang in LANGUAGES:
            title, body = (self.title_zh, self.body_zh) if lang == "zh" else (self.title_en, self.body_en)
            template_fields(title, where=f"title_{lang}")
            template_fields(body, where=f"body_{lang}")

    def render(self, language: str, variables: Mapping[str, Any]) -> tuple[str, str]:
        """(title, body) in ``language`` ("zh" or "en"); every missing variable reported at once."""
        title, body = self.parts(language)
        missing: dict[str, list[str]] = {}
        for part, text in (("title", title), ("body", body)):
            for name in template_fields(text, where=f"{part}_{language}"):
                if name not in variables and part not in missing.setdefault(name, []):
                    missing[name].append(part)
        missing = {k: v for k, v in missing.items() if v}
        if missing:
            raise TemplateVariableError(missing, self.key)
        return (
            render_text(title, variables, where=f"title_{language}"),
            render_text(body, variables, where=f"body_{language}"),
        )


def language_of(code: str | None) -> str:
    """ "en" for English language codes, "zh" for everything else (Chinese first)."""
    return "en" if (code or "").lower().startswith("en") else "zh"


message_templates: Registry[MessageTemplateSpec] = Registry("message templates")
