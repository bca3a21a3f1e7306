"""form-js schemas: parsed once, checked the way form-js (editor and viewer) would refuse them, and
precompiled for validation (FEEL expressions, regular expressions, option sets).

:func:`parse_schema` raises :class:`SchemaError` listing EVERY problem (``path`` within the JSON such
as ``components[3].validate.minLength``, a ``code`` and a translatable ``message``).

Field types: form-js' own (:data:`INPUT_TYPES`, :data:`LAYOUT_TYPES`) and MedOA's
(:data:`MEDOA_TYPES`), whose values are:

* ``medoa-staff`` — a staff id (integer); a list of ids when ``"multiple": true``;
* ``medoa-department`` — a department code (string); a list of codes when ``"multiple": true``;
* ``medoa-attachment`` — a list of attachment ids (strings), at most ``maxFiles`` (default 10);
  one id (string) when ``"multiple": false``;
* ``medoa-signature`` — the attachment id (string) of the handwritten signature image.

Data paths follow form-js: a field's ``key`` may be a dotted path (``address.city``); a ``group``
with a ``path`` nests its children under it; a ``dynamiclist`` (``isRepeating``) holds a list of
rows at its ``path``, and its children's keys are relative to a row. :attr:`Field.key` is the full
path from the root, rows marked with ``[]`` (``items[].amount``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_noop

from medoa.engines.rules.feel import FeelError, FeelExpression, feel_compile

__all__ = [
    "CONTAINER_TYPES",
    "INPUT_TYPES",
    "LAYOUT_TYPES",
    "MEDOA_TYPES",
    "Field",
    "FormSchema",
    "Problem",
    "SchemaError",
    "compile_js_pattern",
    "lazy_message",
    "parse_schema",
]

INPUT_TYPES = frozenset(
    {"textfield", "textarea", "number", "datetime", "checkbox", "checklist", "radio", "select", "taglist",
     "expression", "filepicker"}
)  # fmt: skip
LAYOUT_TYPES = frozenset(
    {"group", "dynamiclist", "text", "html", "image", "spacer", "separator", "iframe", "table", "button",
     "documentPreview"}
)  # fmt: skip
MEDOA_TYPES = frozenset({"medoa-staff", "medoa-department", "medoa-attachment", "medoa-signature"})
CONTAINER_TYPES = frozenset({"group", "dynamiclist"})
DATA_TYPES = INPUT_TYPES | MEDOA_TYPES
OPTION_TYPES = frozenset({"checklist", "radio", "select", "taglist"})
MULTI_OPTION_TYPES = frozenset({"checklist", "taglist"})
DATETIME_SUBTYPES = frozenset({"date", "time", "datetime"})
VALIDATION_TYPES = frozenset({"email", "phone", "custom", ""})

MAX_COMPONENTS = 2000
MAX_NESTING = 20
MAX_PATTERN_LENGTH = 1000
DEFAULT_MAX_FILES = 10

_KEY_RE = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*", re.ASCII)
_INT_SEGMENT_RE = re.compile(r"[0-9]+")
# component properties whose "=…" strings are not FEEL (data, identity or option lists)
_NOT_FEEL = frozenset(
    {"id", "key", "path", "type", "defaultValue", "values", "components", "layout", "properties"}
)


def _render(msgid: str, params: Mapping[str, Any]) -> str:
    text = gettext(msgid)
    if not params:
        return text
    rendered = {k: (v.translated() if isinstance(v, FeelError) else v) for k, v in params.items()}
    return text % rendered


_render_lazy = lazy(_render, str)


def lazy_message(msgid: str, **params: Any) -> str:
    """``msgid % params`` translated when it is rendered (in the language active then): a lazy
    string (``str(message)`` renders it)."""
    return _render_lazy(msgid, params)


@dataclass(frozen=True)
class Problem:
    path: str
    code: str
    message: Any  # a lazy translatable string; str(problem.message) renders it

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": str(self.message)}


class SchemaError(ValueError):
    """A schema form-js would refuse; ``problems`` names every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path or '(schema)'}: {p.message}" for p in problems))


@dataclass(frozen=True, eq=False)
class Field:
    """One component. Data-bearing ones have ``key`` (full path, rows as ``[]``)."""

    key: str
    type: str
    label: str
    component: dict[str, Any]
    children: tuple[Field, ...] = ()
    repeat: bool = False
    id: str = ""
    schema_path: str = ""  # where the component is in the JSON ("components[2].components[0]")
    local_path: tuple[str, ...] = ()  # data path relative to the enclosing row (or the root)
    data: bool = False  # holds a value (an input, a MedOA field or a dynamic list)
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_source: str = ""
    minimum: Any = None  # number, date text, or a FeelExpression
    maximum: Any = None
    validation_type: str = ""
    decimal_digits: int | None = None
    increment: float | int | None = None
    serialize_to_string: bool = False
    subtype: str = ""  # datetime: date | time | datetime
    disallow_passed_dates: bool = False
    options: tuple[Any, ...] | None = None  # static option values
    options_key: str = ""  # valuesKey
    options_expression: FeelExpression | None = None  # valuesExpression
    hide: FeelExpression | None = None
    disabled: bool | FeelExpression = False
    readonly: bool | FeelExpression = False
    expression: FeelExpression | None = None  # computed (type "expression")
    default: Any = None
    has_default: bool = False
    multiple: bool = False
    max_files: int = DEFAULT_MAX_FILES
    do_not_submit: bool = False

    def walk(self) -> Iterator[Field]:
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True, eq=False)
class FormSchema:
    raw: dict[str, Any]
    id: str
    fields: tuple[Field, ...]
    reporting: tuple[str, ...] = ()
    by_key: dict[str, Field] = field(default_factory=dict, repr=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # validation's compiled plan

    def walk(self) -> Iterator[Field]:
        for f in self.fields:
            yield from f.walk()

    def input_fields(self) -> list[Field]:
        """Every data-bearing field, flattened in schema order (dynamic lists and their children)."""
        return [f for f in self.walk() if f.data]

    def field(self, key: str) -> Field:
        return self.by_key[key]


# --- JavaScript regular expressions ---------------------------------------------------------------

_JS_CLASS_ESCAPES = {"d": r"0-9", "w": r"A-Za-z0-9_", "D": r"^0-9", "W": r"^A-Za-z0-9_"}


def compile_js_pattern(source: str) -> re.Pattern[str]:
    """Compile a JavaScript ``RegExp`` source (no flags) as Python ``re`` with JS semantics where
    they differ: ``\\d``/``\\w``/``\\b`` are ASCII, ``$`` is only the very end, ``(?<name>`` groups,
    ``[^]`` matches anything, ``\\uXXXX``/``\\xXX``; raises ``re.error`` for what JS would refuse too
    (or we cannot honour)."""
    out: list[str] = []
    i, n = 0, len(source)
    in_class = False
    while i < n:
        c = source[i]
        if c == "\\":
            if i + 1 >= n:
                raise re.error("\\ at end of pattern")
            e = source[i + 1]
            if e in "dw":
                out.append(_JS_CLASS_ESCAPES[e] if in_class else "[" + _JS_CLASS_ESCAPES[e] + "]")
                i += 2
                continue
            if e in "DW" and not in_class:
                out.append("[" + _JS_CLASS_ESCAPES[e] + "]")
                i += 2
                continue
            if e == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", source[i + 2 : i + 6]):
                out.append(re.escape(chr(int(source[i + 2 : i + 6], 16))))
                i += 6
                continue
            if e == "c":
                raise re.error("unsupported escape \\c")
            if e.isalpha() and e not in "bBsSdDwWtnrfvx":
                out.append(re.escape(e))  # JS without the u flag: an identity escape ("\\p" is "p")
                i += 2
                continue
            if not e.isalnum():
                out.append(re.escape(e))
                i += 2
                continue
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[":
                out.append("\\[")
                i += 1
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            if source.startswith("[^]", i):
                out.append("[\\s\\S]")
                i += 3
                continue
            if source.startswith("[]", i):
                out.append("(?!)")
                i += 2
                continue
            in_class = True
            out.append(c)
            if source.startswith("[^", i):
                out.append("^")
                i += 1
            i += 1
            # a leading "]" in JS closes an empty class; handled above
            continue
        if c == "$":
            out.append(r"(?!(?s:.))")
            i += 1
            continue
        if source.startswith("(?<", i) and i + 3 < n and source[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return re.compile("".join(out))


# --- parsing --------------------------------------------------------------------------------------

_M_NOT_OBJECT = gettext_noop("the schema must be a JSON object")
_M_NO_COMPONENTS = gettext_noop("the schema must have a list of components")
_M_COMPONENT_NOT_OBJECT = gettext_noop("a component must be a JSON object")
_M_UNKNOWN_TYPE = gettext_noop("unknown field type '%(type)s'")
_M_NO_TYPE = gettext_noop("the component has no type")
_M_KEY_MISSING = gettext_noop("a %(type)s field needs a key")
_M_PATH_MISSING = gettext_noop("a dynamic list needs a path")
_M_BAD_KEY = gettext_noop("'%(key)s' is not a valid key: use letters, digits and _, dot-separated")
_M_INT_SEGMENT = gettext_noop("'%(key)s' must not contain numerical path segments")
_M_DUPLICATE_KEY = gettext_noop("the key '%(key)s' is used by another field")
_M_PATH_CONFLICT = gettext_noop("'%(key)s' conflicts with the data path of another field")
_M_DUPLICATE_ID = gettext_noop("the id '%(id)s' is used by another component")
_M_BAD_VALIDATE = gettext_noop("'validate' must be an object")
_M_NOT_BOOL = gettext_noop("'%(name)s' must be true or false")
_M_NOT_COUNT = gettext_noop("'%(name)s' must be a whole number ≥ 0")
_M_NOT_NUMBER = gettext_noop("'%(name)s' must be a number")
_M_NOT_DATE = gettext_noop("'%(name)s' must be a date (YYYY-MM-DD) or a time")
_M_MIN_GT_MAX = gettext_noop("'%(low)s' (%(low_value)s) is greater than '%(high)s' (%(high_value)s)")
_M_BAD_PATTERN = gettext_noop("the pattern is not a valid regular expression: %(error)s")
_M_BAD_VALIDATION_TYPE = gettext_noop("unknown validation type '%(value)s'")
_M_BAD_FEEL = gettext_noop("the FEEL expression does not compile: %(error)s")
_M_BAD_OPTIONS = gettext_noop("'values' must be a list of options with a label and a value")
_M_DUPLICATE_OPTION = gettext_noop("the option value %(value)s appears twice")
_M_OPTION_SOURCES = gettext_noop("use only one of 'values', 'valuesKey' and 'valuesExpression'")
_M_BAD_SUBTYPE = gettext_noop("unknown date/time subtype '%(value)s'")
_M_EXPRESSION_MISSING = gettext_noop("an expression field needs an expression starting with '='")
_M_TOO_MANY = gettext_noop("the schema has too many components (at most %(max)s)")
_M_TOO_DEEP = gettext_noop("components are nested too deeply (at most %(max)s levels)")
_M_NOT_STRING = gettext_noop("'%(name)s' must be text")
_M_BAD_INCREMENT = gettext_noop("'increment' must be a number greater than 0")
_M_REPEAT_IN_LIST = gettext_noop("'isRepeating' must be true or false")


class _PathNode:
    __slots__ = ("children", "kind", "owner")

    def __init__(self, kind: str, owner: str) -> None:
        self.kind = kind  # "group" (open, shareable) | "leaf" | "list"
        self.owner = owner
        self.children: dict[str, _PathNode] = {}


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ids: set[str] = set()
        self.count = 0
        self.reporting: list[str] = []
        self.by_key: dict[str, Field] = {}

    def problem(self, path: str, code: str, msgid: str, **params: Any) -> None:
        self.problems.append(Problem(path, code, lazy_message(msgid, **params)))

    # --- values ---
    def feel(self, value: Any, path: str) -> FeelExpression | None:
        """A FEEL property: None when not an expression ("=…"); problems recorded."""
        if not (isinstance(value, str) and value.startswith("=")):
            return None
        try:
            return feel_compile(value[1:])
        except FeelError as err:
            self.problem(path, "feel", _M_BAD_FEEL, error=err)
            return None

    def flag(self, comp: Mapping[str, Any], name: str, path: str) -> bool | FeelExpression:
        value = comp.get(name, False)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.startswith("="):
            expr = self.feel(value, f"{path}.{name}")
            return expr if expr is not None else False
        self.problem(f"{path}.{name}", "bad_value", _M_NOT_BOOL, name=name)
        return False

    def check_feel_strings(self, comp: Mapping[str, Any], path: str) -> None:
        for name, value in comp.items():
            if name in _NOT_FEEL or name in ("conditional", "validate", "expression", "valuesExpression"):
                continue
            if name in ("readonly", "disabled"):
                continue  # checked by flag()
            if isinstance(value, str):
                self.feel(value, f"{path}.{name}")
            elif isinstance(value, Mapping) and name in ("appearance",):
                for sub, v in value.items():
                    self.feel(v, f"{path}.{name}.{sub}")

    def key_ok(self, key: Any, path: str) -> bool:
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            self.problem(path, "bad_key", _M_BAD_KEY, key=key if isinstance(key, str) else repr(key))
            return False
        if any(_INT_SEGMENT_RE.fullmatch(seg) for seg in key.split(".")):
            self.problem(path, "bad_key", _M_INT_SEGMENT, key=key)
            return False
        return True

    def claim(
        self, scope: _PathNode, segments: list[str], kind: str, path: str, shown: str
    ) -> _PathNode | None:
        node = scope
        for seg in segments[:-1]:
            nxt = node.children.get(seg)
            if nxt is None:
                nxt = node.children[seg] = _PathNode("group", shown)
            elif nxt.kind != "group":
                self.problem(path, "duplicate_key", _M_PATH_CONFLICT, key=shown)
                return None
            node = nxt
        last = segments[-1]
        existing = node.children.get(last)
        if existing is None:
            node.children[last] = created = _PathNode(kind, shown)
            return created
        if kind == "group" and existing.kind == "group":
            return existing
        if existing.kind == "group" or kind == "group":
            self.problem(path, "duplicate_key", _M_PATH_CONFLICT, key=shown)
        else:
            self.problem(path, "duplicate_key", _M_DUPLICATE_KEY, key=shown)
        return None

    # --- components ---
    def components(
        self, comps: Any, path: str, scope: _PathNode, prefix: tuple[str, ...], full: str, depth: int
    ) -> tuple[Field, ...]:
        if not isinstance(comps, list):
            self.problem(path, "no_components", _M_NO_COMPONENTS)
            return ()
        if depth > MAX_NESTING:
            self.problem(path, "too_deep", _M_TOO_DEEP, max=MAX_NESTING)
            return ()
        out: list[Field] = []
        for i, comp in enumerate(comps):
            self.count += 1
            if self.count > MAX_COMPONENTS:
                if self.count == MAX_COMPONENTS + 1:
                    self.problem(f"{path}[{i}]", "too_many", _M_TOO_MANY, max=MAX_COMPONENTS)
                return tuple(out)
            f = self.component(comp, f"{path}[{i}]", scope, prefix, full, depth)
            if f is not None:
                out.append(f)
        return tuple(out)

    def component(
        self, comp: Any, path: str, scope: _PathNode, prefix: tuple[str, ...], full: str, depth: int
    ) -> Field | None:
        if not isinstance(comp, dict):
            self.problem(path, "not_object", _M_COMPONENT_NOT_OBJECT)
            return None
        ctype = comp.get("type")
        if not isinstance(ctype, str) or not ctype:
            self.problem(f"{path}.type", "unknown_type", _M_NO_TYPE)
            return None
        if ctype not in DATA_TYPES and ctype not in LAYOUT_TYPES:
            self.problem(f"{path}.type", "unknown_type", _M_UNKNOWN_TYPE, type=ctype)
            return None
        cid = comp.get("id")
        if isinstance(cid, str) and cid:
            if cid in self.ids:
                self.problem(f"{path}.id", "duplicate_id", _M_DUPLICATE_ID, id=cid)
            self.ids.add(cid)
        label = comp.get("label")
        label = label if isinstance(label, str) else ""
        self.check_feel_strings(comp, path)
        attrs: dict[str, Any] = {
            "type": ctype,
            "label": label,
            "component": comp,
            "id": cid if isinstance(cid, str) else "",
            "schema_path": path,
            "disabled": self.flag(comp, "disabled", path),
            "readonly": self.flag(comp, "readonly", path),
        }
        cond = comp.get("conditional")
        if cond is not None:
            if not isinstance(cond, Mapping):
                self.problem(f"{path}.conditional", "bad_value", _M_BAD_VALIDATE)
            else:
                hide = cond.get("hide")
                if hide is not None and not isinstance(hide, str):
                    self.problem(f"{path}.conditional.hide", "feel", _M_NOT_STRING, name="hide")
                attrs["hide"] = self.feel(hide, f"{path}.conditional.hide")

        if ctype in CONTAINER_TYPES:
            return self.container(comp, ctype, path, scope, prefix, full, depth, attrs)
        if ctype not in DATA_TYPES:
            return Field(key="", **attrs)

        key = comp.get("key")
        if key is None or key == "":
            self.problem(f"{path}.key", "key_missing", _M_KEY_MISSING, type=ctype)
            return None
        if not self.key_ok(key, f"{path}.key"):
            return None
        segments = key.split(".")
        full_key = ".".join([full, key]) if full else key
        if self.claim(scope, segments, "leaf", f"{path}.key", full_key) is None:
            return None
        attrs["key"] = full_key
        attrs["local_path"] = (*prefix, *segments)
        attrs["data"] = True
        self.input_attrs(comp, ctype, path, attrs)
        f = Field(**attrs)
        self.by_key[full_key] = f
        props = comp.get("properties")
        if isinstance(props, Mapping) and props.get("medoa:report") in ("true", True):
            self.reporting.append(full_key)
        return f

    def container(
        self,
        comp: dict[str, Any],
        ctype: str,
        path: str,
        scope: _PathNode,
        prefix: tuple[str, ...],
        full: str,
        depth: int,
        attrs: dict[str, Any],
    ) -> Field | None:
        cpath = comp.get("path")
        repeating = comp.get("isRepeating", ctype == "dynamiclist")
        if not isinstance(repeating, bool):
            self.problem(f"{path}.isRepeating", "bad_value", _M_REPEAT_IN_LIST)
            repeating = True
        repeat = ctype == "dynamiclist" and repeating
        segments: list[str] = []
        if cpath not in (None, ""):
            if self.key_ok(cpath, f"{path}.path"):
                segments = cpath.split(".")
        elif repeat:
            self.problem(f"{path}.path", "key_missing", _M_PATH_MISSING)
        shown = ".".join(filter(None, [full, *segments]))
        if repeat and segments:
            node = self.claim(scope, segments, "list", f"{path}.path", shown)
            if node is None:
                return None
            key = shown
            children = self.components(
                comp.get("components", []), f"{path}.components", node, (), key + "[]", depth + 1
            )
            f = Field(
                key=key, children=children, repeat=True, local_path=(*prefix, *segments), data=True, **attrs
            )
            self.by_key[key] = f
            props = comp.get("properties")
            if isinstance(props, Mapping) and props.get("medoa:report") in ("true", True):
                self.reporting.append(key)
            return f
        node = scope
        if segments:
            claimed = self.claim(scope, segments, "group", f"{path}.path", shown)
            if claimed is None:
                return None
            node = claimed
        children = self.components(
            comp.get("components", []), f"{path}.components", node, (*prefix, *segments), shown, depth + 1
        )
        return Field(
            key=shown if segments else "", children=children, local_path=(*prefix, *segments), **attrs
        )

    def count_value(self, v: dict[str, Any], name: str, path: str) -> int | None:
        value = v.get(name)
        if value is None:
            return None
        if isinstance(value, str) and value.startswith("="):
            self.feel(value, f"{path}.{name}")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
            self.problem(f"{path}.{name}", "bad_validate", _M_NOT_COUNT, name=name)
            return None
        return int(value)

    def bound(self, v: dict[str, Any], name: str, path: str, ctype: str) -> Any:
        value = v.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.startswith("="):
            return self.feel(value, f"{path}.{name}")
        if ctype == "datetime":
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*|\d{2}:\d{2}.*", value):
                return value
            self.problem(f"{path}.{name}", "bad_validate", _M_NOT_DATE, name=name)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f"{path}.{name}", "bad_validate", _M_NOT_NUMBER, name=name)
            return None
        return value

    def input_attrs(self, comp: dict[str, Any], ctype: str, path: str, attrs: dict[str, Any]) -> None:
        v = comp.get("validate")
        if v is None:
            v = {}
        if not isinstance(v, dict):
            self.problem(f"{path}.validate", "bad_validate", _M_BAD_VALIDATE)
            v = {}
        vpath = f"{path}.validate"
        req = v.get("required", False)
        if isinstance(req, str) and req.startswith("="):
            attrs["required"] = self.feel(req, f"{vpath}.required") or False
        elif not isinstance(req, bool):
            self.problem(f"{vpath}.required", "bad_validate", _M_NOT_BOOL, name="required")
        else:
            attrs["required"] = req
        lo = self.count_value(v, "minLength", vpath)
        hi = self.count_value(v, "maxLength", vpath)
        if lo is not None and hi is not None and lo > hi:
            self.problem(
                f"{vpath}.minLength", "bad_validate", _M_MIN_GT_MAX,
                low="minLength", low_value=lo, high="maxLength", high_value=hi,
            )  # fmt: skip
        attrs["min_length"], attrs["max_length"] = lo, hi
        mn = self.bound(v, "min", vpath, ctype)
        mx = self.bound(v, "max", vpath, ctype)
        comparable = (isinstance(mn, (int, float)) and isinstance(mx, (int, float))) or (
            isinstance(mn, str) and isinstance(mx, str)
        )
        if comparable and mn > mx:
            self.problem(
                f"{vpath}.min",
                "bad_validate",
                _M_MIN_GT_MAX,
                low="min",
                low_value=mn,
                high="max",
                high_value=mx,
            )
        attrs["minimum"], attrs["maximum"] = mn, mx
        pattern = v.get("pattern")
        if pattern not in (None, ""):
            if not isinstance(pattern, str):
                self.problem(f"{vpath}.pattern", "bad_pattern", _M_NOT_STRING, name="pattern")
            elif pattern.startswith("="):
                self.feel(pattern, f"{vpath}.pattern")
            else:
                try:
                    if len(pattern) > MAX_PATTERN_LENGTH:
                        raise re.error(f"longer than {MAX_PATTERN_LENGTH} characters")
                    attrs["pattern"] = compile_js_pattern(pattern)
                    attrs["pattern_source"] = pattern
                except re.error as err:
                    self.problem(f"{vpath}.pattern", "bad_pattern", _M_BAD_PATTERN, error=str(err))
        vt = v.get("validationType", "")
        if vt is None:
            vt = ""
        if vt not in VALIDATION_TYPES:
            self.problem(f"{vpath}.validationType", "bad_validate", _M_BAD_VALIDATION_TYPE, value=str(vt))
        else:
            attrs["validation_type"] = vt

        if ctype == "number":
            dd = comp.get("decimalDigits")
            if dd is not None:
                if isinstance(dd, bool) or not isinstance(dd, int) or dd < 0:
                    self.problem(f"{path}.decimalDigits", "bad_value", _M_NOT_COUNT, name="decimalDigits")
                else:
                    attrs["decimal_digits"] = dd
            inc = comp.get("increment")
            if inc not in (None, ""):
                num = inc
                if isinstance(inc, str):
                    try:
                        num = float(inc)
                    except ValueError:
                        num = None
                if isinstance(num, bool) or not isinstance(num, (int, float)) or num <= 0:
                    self.problem(f"{path}.increment", "bad_value", _M_BAD_INCREMENT)
                else:
                    attrs["increment"] = num
            sts = comp.get("serializeToString", False)
            attrs["serialize_to_string"] = sts is True
        if ctype == "datetime":
            sub = comp.get("subtype", "date")
            if sub not in DATETIME_SUBTYPES:
                self.problem(f"{path}.subtype", "bad_value", _M_BAD_SUBTYPE, value=str(sub))
                sub = "date"
            attrs["subtype"] = sub
            dpd = comp.get("disallowPassedDates", False)
            if not isinstance(dpd, bool):
                self.problem(
                    f"{path}.disallowPassedDates", "bad_value", _M_NOT_BOOL, name="disallowPassedDates"
                )
            else:
                attrs["disallow_passed_dates"] = dpd
        if ctype in OPTION_TYPES:
            self.options(comp, path, attrs)
        if ctype == "expression":
            expr = comp.get("expression")
            compiled = self.feel(expr, f"{path}.expression") if isinstance(expr, str) else None
            if compiled is None and not (isinstance(expr, str) and expr.startswith("=")):
                self.problem(f"{path}.expression", "feel", _M_EXPRESSION_MISSING)
            attrs["expression"] = compiled
        if ctype in ("medoa-staff", "medoa-department"):
            attrs["multiple"] = comp.get("multiple") is True
        if ctype == "medoa-attachment":
            attrs["multiple"] = comp.get("multiple", True) is not False
            mf = comp.get("maxFiles")
            if mf is not None:
                if isinstance(mf, bool) or not isinstance(mf, int) or mf < 1:
                    self.problem(f"{path}.maxFiles", "bad_value", _M_NOT_COUNT, name="maxFiles")
                else:
                    attrs["max_files"] = mf
        if ctype == "filepicker":
            attrs["multiple"] = comp.get("multiple") is True
        if "defaultValue" in comp:
            attrs["default"] = comp["defaultValue"]
            attrs["has_default"] = True
        attrs["do_not_submit"] = comp.get("doNotSubmit") is True

    def options(self, comp: dict[str, Any], path: str, attrs: dict[str, Any]) -> None:
        sources = [
            name for name in ("values", "valuesKey", "valuesExpression") if comp.get(name) not in (None, "")
        ]
        if len(sources) > 1 and not (sources[0] == "values" and comp.get("values") == []):
            self.problem(f"{path}.{sources[1]}", "bad_options", _M_OPTION_SOURCES)
        if "valuesExpression" in sources:
            expr = comp["valuesExpression"]
            if not isinstance(expr, str) or not expr.startswith("="):
                self.problem(f"{path}.valuesExpression", "feel", _M_NOT_STRING, name="valuesExpression")
            else:
                attrs["options_expression"] = self.feel(expr, f"{path}.valuesExpression")
            return
        if "valuesKey" in sources:
            vk = comp["valuesKey"]
            if self.key_ok(vk, f"{path}.valuesKey"):
                attrs["options_key"] = vk
            return
        values = comp.get("values", [])
        if not isinstance(values, list):
            self.problem(f"{path}.values", "bad_options", _M_BAD_OPTIONS)
            return
        opts: list[Any] = []
        for i, opt in enumerate(values):
            if not isinstance(opt, Mapping) or "value" not in opt:
                self.problem(f"{path}.values[{i}]", "bad_options", _M_BAD_OPTIONS)
                continue
            if opt["value"] in opts and not isinstance(opt["value"], (dict, list)):
                self.problem(
                    f"{path}.values[{i}].value", "bad_options", _M_DUPLICATE_OPTION, value=repr(opt["value"])
                )
            opts.append(opt["value"])
        attrs["options"] = tuple(opts)


def parse_schema(raw: Any) -> FormSchema:
    """Check and precompile a form-js schema; :class:`SchemaError` lists every problem."""
    p = _Parser()
    if not isinstance(raw, dict):
        raise SchemaError([Problem("", "not_object", lazy_message(_M_NOT_OBJECT))])
    comps = raw.get("components")
    if not isinstance(comps, list):
        raise SchemaError([Problem("components", "no_components", lazy_message(_M_NO_COMPONENTS))])
    root = _PathNode("group", "")
    fields = p.components(comps, "components", root, (), "", 0)
    if p.problems:
        raise SchemaError(p.problems)
    sid = raw.get("id")
    return FormSchema(
        raw=raw,
        id=sid if isinstance(sid, str) else "",
        fields=fields,
        reporting=tuple(p.reporting),
        by_key=p.by_key,
    )
