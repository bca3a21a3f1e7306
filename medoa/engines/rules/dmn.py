"""DMN decision tables, evaluated in MedOA (no SpiffWorkflow: see docs/rules.md for the choice).

:func:`parse_dmn` reads a DMN 1.1–1.5 document (the namespaces that Camunda Modeler, dmn-js,
Flowable and SpiffWorkflow write; ``dmndi``, ``biodi`` and vendor extensions are ignored) into
immutable, compiled :class:`DmnModel` objects; :func:`evaluate_decision` evaluates one decision
of a model with a mapping of inputs, evaluating the decisions it requires first.

What is understood:

* ``decision`` with a ``decisionTable`` or a ``literalExpression``; ``informationRequirement`` /
  ``requiredDecision href="#id"`` between decisions of the same file (a DRD), evaluated
  depth-first, each once per evaluation; ``requiredInput``, ``authorityRequirement``,
  ``inputData``, ``knowledgeSource``, ``itemDefinition``, annotations and diagrams are accepted and
  ignored;
* decision tables: every hit policy of DMN 1.3 — ``UNIQUE`` (more than one match is an error),
  ``FIRST``, ``PRIORITY`` (the match whose outputs come first in the outputs' ``outputValues``
  lists), ``ANY`` (matches must agree), ``COLLECT`` (plain, or with ``SUM``/``MIN``/``MAX``/``COUNT``
  for single-output tables), ``RULE ORDER``, ``OUTPUT ORDER``; several outputs;
  ``defaultOutputEntry`` values when no rule matches;
* input expressions are FEEL (``inputExpression/text``); an empty one reads the variable named by
  the input's label (what SpiffWorkflow does); input entries are S-FEEL unary tests (``-``,
  ``< 5``, ``[1..10]``, ``"A","B"``, ``not("X")``, ``? > 3`` …) through :mod:`.feel`; output entries
  and literal expressions are FEEL expressions;
* ``expressionLanguage`` (on the element or on ``definitions``): FEEL (the default) or our Python-
  syntax expression language (``python``, ``juel``: :mod:`.expressions`, which also understands
  JUEL operators). Where no language is named, a text FEEL refuses but our expression language
  accepts — ``'single quoted'`` strings, ``item['x']`` — is taken in our expression language:
  Camunda 7 and Flowable evaluate input and output expressions in JUEL by default, and
  SpiffWorkflow in Python, so their files write such texts without naming a language.

Anything else — boxed contexts, invocations, relations, business knowledge models, imports, an
unknown hit policy or aggregation, a ``requiredDecision`` that is not in the file, a cycle — is
refused by :class:`DmnInvalid` with every :class:`DmnProblem` found, each naming the element, its
id and its line.

Work is bounded: the file's size, the number of decisions, rules, inputs, outputs and cells, each
FEEL evaluation's own budget (:data:`.feel.MAX_WORK`), and a wall-clock deadline per evaluation.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext, gettext_noop
from lxml import etree

from . import expressions
from .feel import FeelError, FeelUnaryTests, feel_compile, feel_equal, feel_unary_test_compile

__all__ = [
    "AGGREGATIONS",
    "HIT_POLICIES",
    "MAX_CELLS",
    "MAX_DECISIONS",
    "MAX_RULES",
    "MAX_SECONDS",
    "MAX_XML_BYTES",
    "Decision",
    "DecisionResult",
    "DmnEvaluationError",
    "DmnInvalid",
    "DmnModel",
    "DmnProblem",
    "MatchedRule",
    "evaluate_decision",
    "parse_dmn",
    "to_json",
]

MAX_XML_BYTES = 2 * 1024 * 1024
MAX_DECISIONS = 100
MAX_RULES = 2000  # per table
MAX_CLAUSES = 100  # inputs, and outputs, per table
MAX_CELLS = 40_000  # rules × (inputs + outputs), per table
MAX_SECONDS = 1.0  # wall clock per evaluation (a decision and those it requires)

HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
SINGLE_HIT = frozenset({"UNIQUE", "FIRST", "PRIORITY", "ANY"})
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
# DMN 1.1 (as Camunda writes it, and as Flowable does without the .xsd), 1.2, 1.3, 1.4, 1.5
_DMN_NS = re.compile(r"https?://www\.omg\.org/spec/DMN/(\d{8})(?:/dmn\.xsd|/MODEL/?)?")
_FEEL_LANGUAGES = re.compile(r"(?i)(?:s-?feel|feel|https?://www\.omg\.org/spec/(?:DMN|FEEL)/\d{8}/FEEL/?)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OUR_LANGUAGES = re.compile(r"(?i)(?:python|juel|https?://www\.python\.org/?)")

# Elements of a <decision> that describe it without changing what it computes.
_DECISION_IGNORED = frozenset(
    {
        "description",
        "extensionElements",
        "question",
        "allowedAnswers",
        "variable",
        "authorityRequirement",
        "supportedObjective",
        "impactedPerformanceIndicator",
        "decisionMaker",
        "decisionOwner",
        "usingProcess",
        "usingTask",
    }
)
_TOP_IGNORED = frozenset(
    {
        "description",
        "extensionElements",
        "inputData",
        "knowledgeSource",
        "itemDefinition",
        "textAnnotation",
        "association",
        "group",
        "elementCollection",
        "performanceIndicator",
        "organizationUnit",
        "businessContextElement",
    }
)
_EXPRESSION_KINDS = frozenset(
    {
        "context",
        "invocation",
        "relation",
        "list",
        "functionDefinition",
        "conditional",
        "filter",
        "for",
        "every",
        "some",
    }
)


# --- problems and errors --------------------------------------------------------------------------


@dataclass(frozen=True)
class DmnProblem:
    """One thing wrong with a DMN document: an English ``msgid`` with ``params``, and where —
    the element's local name, its id and its 1-based line."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    element_type: str = ""
    element_id: str = ""
    line: int | None = None

    @property
    def message_en(self) -> str:
        return self.msgid % dict(self.params) if self.params else self.msgid

    @property
    def message(self) -> str:
        """The message in the active language."""
        text = gettext(self.msgid)
        return text % dict(self.params) if self.params else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "message_en": self.message_en,
            "element_type": self.element_type,
            "element_id": self.element_id,
            "line": self.line,
        }

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        what = (
            f"{self.element_type} {self.element_id!r}: "
            if self.element_id
            else (f"{self.element_type}: " if self.element_type else "")
        )
        return f"{where}{what}{self.message_en}"


class DmnInvalid(ValueError):
    """The document cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[DmnProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class DmnEvaluationError(ValueError):
    """An evaluation that has no answer (two rules of a UNIQUE table matched, ANY matches disagree,
    a SUM over text, an expression that failed …). ``decision_id`` names the decision,
    ``rule_ids`` the rules concerned."""

    def __init__(
        self,
        msgid: str,
        params: Mapping[str, Any] | None = None,
        *,
        decision_id: str = "",
        rule_ids: Iterable[str] = (),
    ) -> None:
        self.msgid = msgid
        self.params = dict(params or {})
        self.decision_id = decision_id
        self.rule_ids = list(rule_ids)
        self.message_en = msgid % self.params if self.params else msgid
        super().__init__(self.message_en)

    @property
    def message(self) -> str:
        text = gettext(self.msgid)
        return text % self.params if self.params else text


# --- the model ------------------------------------------------------------------------------------

Cell = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class InputClause:
    id: str
    label: str
    expression: str
    type_ref: str
    value_of: Cell
    cell_variable: str  # camunda:inputVariable: the input's value under this name in its entries


@dataclass(frozen=True)
class OutputClause:
    id: str
    name: str
    label: str
    type_ref: str
    values: tuple[Any, ...] | None  # outputValues, in decreasing priority
    default: Cell | None


@dataclass(frozen=True)
class Rule:
    id: str
    number: int  # 1-based, in table order
    description: str
    tests: tuple[FeelUnaryTests | None, ...]  # None: "-" or empty (anything)
    outputs: tuple[Cell | None, ...]  # None: an empty output entry (null)
    texts: tuple[tuple[str, ...], tuple[str, ...]]  # the input and output entry texts, for display


@dataclass(frozen=True)
class DecisionTable:
    id: str
    hit_policy: str
    aggregation: str
    inputs: tuple[InputClause, ...]
    outputs: tuple[OutputClause, ...]
    rules: tuple[Rule, ...]

    @property
    def single_hit(self) -> bool:
        return self.hit_policy in SINGLE_HIT


@dataclass(frozen=True)
class LiteralExpression:
    id: str
    text: str
    value_of: Cell


@dataclass(frozen=True)
class Decision:
    id: str
    name: str
    variable: str  # the name its result is bound to for the decisions that require it
    required: tuple[str, ...]  # ids of the decisions it requires, in document order
    table: DecisionTable | None
    literal: LiteralExpression | None
    line: int | None

    @property
    def kind(self) -> str:
        return "decisionTable" if self.table is not None else "literalExpression"

    @property
    def hit_policy(self) -> str:
        return self.table.hit_policy if self.table is not None else ""

    @property
    def aggregation(self) -> str:
        return self.table.aggregation if self.table is not None else ""


@dataclass(frozen=True)
class DmnModel:
    id: str
    name: str
    namespace: str
    dmn_version: str  # "1.1" … "1.5"
    decisions: Mapping[str, Decision]  # by id, in document order

    def requiring_order(self) -> list[str]:
        """Decision ids, each after the decisions it requires."""
        done: list[str] = []

        def visit(did: str) -> None:
            if did in done:
                return
            for rid in self.decisions[did].required:
                visit(rid)
            done.append(did)

        for did in self.decisions:
            visit(did)
        return done


# --- parsing --------------------------------------------------------------------------------------

_VERSIONS = {"20151101": "1.1", "20180521": "1.2", "20191111": "1.3", "20211108": "1.4", "20230324": "1.5"}


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


class _Parser:
    def __init__(self, root: Any, ns: str) -> None:
        self.root = root
        self.ns = ns
        self.problems: list[DmnProblem] = []
        self.default_language = (root.get("expressionLanguage") or "").strip()

    # helpers

    def problem(self, el: Any, msgid: str, **params: Any) -> None:
        self.problems.append(
            DmnProblem(
                msgid,
                params,
                element_type=_local(el) if el is not None else "",
                element_id=(el.get("id") or "") if el is not None else "",
                line=el.sourceline if el is not None else None,
            )
        )

    def children(self, el: Any, name: str | None = None) -> list[Any]:
        prefix = f"{{{self.ns}}}"
        out = []
        for child in el:
            if not isinstance(child.tag, str) or not child.tag.startswith(prefix):
                continue  # comments, processing instructions, other namespaces (dmndi, vendors)
            if name is None or _local(child) == name:
                out.append(child)
        return out

    def text_of(self, el: Any) -> str:
        texts = self.children(el, "text")
        if not texts:
            return ""
        return (texts[0].text or "").strip()

    def language_of(self, el: Any) -> str:
        """ "feel", "ours", or "auto" (none named: FEEL, else ours when FEEL refuses)."""
        named = (el.get("expressionLanguage") or "").strip() or self.default_language
        if not named:
            return "auto"
        if _FEEL_LANGUAGES.fullmatch(named):
            return "feel"
        if _OUR_LANGUAGES.fullmatch(named):
            return "ours"
        self.problem(
            el,
            gettext_noop("the expression language “%(language)s” is not supported (FEEL or python)"),
            language=named[:100],
        )
        return "feel"

    def expression(self, el: Any, text: str, what: str) -> Cell | None:
        """A FEEL (or our) expression cell; None after recording a problem."""
        language = self.language_of(el)
        feel_error: FeelError | None = None
        if language in ("feel", "auto"):
            try:
                compiled = feel_compile(text)
            except FeelError as exc:
                feel_error = exc
            else:
                return _feel_cell(compiled)
        if language in ("ours", "auto"):
            try:
                parsed = expressions.parse(text)
            except expressions.ExpressionError as exc:
                if language == "ours":
                    self.problem(
                        el,
                        gettext_noop("the %(what)s “%(text)s” does not parse: %(error)s"),
                        what=what,
                        text=text[:200],
                        error=str(exc),
                    )
                    return None
            else:
                return _our_cell(parsed)
        assert feel_error is not None
        self.problem(
            el,
            gettext_noop("the %(what)s “%(text)s” is not valid FEEL: %(error)s"),
            what=what,
            text=text[:200],
            error=feel_error.message,
        )
        return None

    # elements

    def parse(self) -> DmnModel:
        root = self.root
        decision_elements: list[Any] = []
        for child in self.children(root):
            name = _local(child)
            if name == "decision":
                decision_elements.append(child)
            elif name in _TOP_IGNORED:
                continue
            elif name == "import":
                self.problem(child, gettext_noop("imports of other models are not supported"))
            elif name == "businessKnowledgeModel":
                self.problem(child, gettext_noop("business knowledge models are not supported"))
            elif name == "decisionService":
                self.problem(child, gettext_noop("decision services are not supported"))
            else:
                self.problem(child, gettext_noop("the element <%(tag)s> is not supported"), tag=name)
        if not decision_elements:
            self.problem(root, gettext_noop("the file has no decision"))
        if len(decision_elements) > MAX_DECISIONS:
            self.problem(root, gettext_noop("the file has more than %(max)s decisions"), max=MAX_DECISIONS)
            decision_elements = decision_elements[:MAX_DECISIONS]

        decisions: dict[str, Decision] = {}
        elements: dict[str, Any] = {}
        for el in decision_elements:
            did = (el.get("id") or "").strip()
            if not did:
                self.problem(el, gettext_noop("a decision has no id"))
                continue
            if did in decisions or did in elements:
                self.problem(el, gettext_noop("the decision id “%(id)s” is used twice"), id=did)
                continue
            elements[did] = el
            decision = self.decision(el, did)
            if decision is not None:
                decisions[did] = decision
        for did, decision in decisions.items():
            for rid in decision.required:
                if rid not in elements:
                    self.problem(
                        elements[did],
                        gettext_noop("it requires the decision “%(required)s”, which is not in this file"),
                        required=rid,
                    )
        self.check_cycles(decisions, elements)
        if self.problems:
            raise DmnInvalid(self.problems)
        version = _VERSIONS.get(_DMN_NS.fullmatch(self.ns).group(1), "")  # type: ignore[union-attr]
        return DmnModel(
            id=root.get("id") or "",
            name=root.get("name") or "",
            namespace=root.get("namespace") or "",
            dmn_version=version,
            decisions=decisions,
        )

    def check_cycles(self, decisions: Mapping[str, Decision], elements: Mapping[str, Any]) -> None:
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(did: str, path: list[str]) -> bool:
            if state.get(did) == 2 or did not in decisions:
                return False
            if state.get(did) == 1:
                cycle = [*path[path.index(did) :], did]
                self.problem(
                    elements[did],
                    gettext_noop("the decisions require each other in a cycle: %(cycle)s"),
                    cycle=" → ".join(cycle),
                )
                return True
            state[did] = 1
            for rid in decisions[did].required:
                if visit(rid, [*path, did]):
                    return True
            state[did] = 2
            return False

        for did in decisions:
            if visit(did, []):
                return

    def decision(self, el: Any, did: str) -> Decision | None:
        required: list[str] = []
        logic: list[Any] = []
        for child in self.children(el):
            name = _local(child)
            if name == "informationRequirement":
                for req in self.children(child):
                    if _local(req) == "requiredDecision":
                        href = (req.get("href") or "").strip()
                        rid = href.split("#", 1)[1] if "#" in href else href
                        if href and not href.startswith("#"):
                            self.problem(
                                req,
                                gettext_noop("requiredDecision “%(href)s” points outside this file"),
                                href=href[:200],
                            )
                        elif rid and rid not in required:
                            required.append(rid)
            elif name == "knowledgeRequirement":
                self.problem(child, gettext_noop("business knowledge models are not supported"))
            elif name in ("decisionTable", "literalExpression") or name in _EXPRESSION_KINDS:
                logic.append(child)
            elif name not in _DECISION_IGNORED:
                self.problem(child, gettext_noop("the element <%(tag)s> is not supported"), tag=name)
        variables = self.children(el, "variable")
        name = (el.get("name") or "").strip() or did
        variable = ((variables[0].get("name") or "").strip() if variables else "") or name
        if not logic:
            self.problem(el, gettext_noop("the decision has no decision table or literal expression"))
            return None
        body = logic[0]
        kind = _local(body)
        table = literal = None
        if kind == "decisionTable":
            table = self.table(body, did)
        elif kind == "literalExpression":
            literal = self.literal(body)
        else:
            self.problem(
                body,
                gettext_noop(
                    "the boxed expression <%(tag)s> is not supported (decision tables and literal "
                    "expressions are)"
                ),
                tag=kind,
            )
        if table is None and literal is None:
            return None
        return Decision(
            id=did,
            name=name,
            variable=variable,
            required=tuple(required),
            table=table,
            literal=literal,
            line=el.sourceline,
        )

    def literal(self, el: Any) -> LiteralExpression | None:
        text = self.text_of(el)
        if not text:
            if self.children(el, "importedValues"):
                self.problem(el, gettext_noop("imported values are not supported"))
            else:
                self.problem(el, gettext_noop("the literal expression is empty"))
            return None
        cell = self.expression(el, text, gettext_noop("literal expression"))
        if cell is None:
            return None
        return LiteralExpression(id=el.get("id") or "", text=text, value_of=cell)

    def table(self, el: Any, did: str) -> DecisionTable | None:
        before = len(self.problems)
        hit_policy = re.sub(r"\s+", " ", (el.get("hitPolicy") or "UNIQUE").strip().upper())
        aggregation = (el.get("aggregation") or "").strip().upper()
        if hit_policy not in HIT_POLICIES:
            self.problem(
                el,
                gettext_noop("the hit policy “%(policy)s” is not one of %(known)s"),
                policy=hit_policy[:40],
                known=", ".join(HIT_POLICIES),
            )
        if aggregation and aggregation not in AGGREGATIONS:
            self.problem(
                el,
                gettext_noop("the aggregation “%(aggregation)s” is not one of %(known)s"),
                aggregation=aggregation[:40],
                known=", ".join(AGGREGATIONS),
            )
        elif aggregation and hit_policy != "COLLECT":
            self.problem(
                el,
                gettext_noop("an aggregation (%(aggregation)s) needs the hit policy COLLECT, not %(policy)s"),
                aggregation=aggregation,
                policy=hit_policy,
            )

        input_els = self.children(el, "input")
        output_els = self.children(el, "output")
        rule_els = self.children(el, "rule")
        if len(input_els) > MAX_CLAUSES or len(output_els) > MAX_CLAUSES:
            self.problem(
                el,
                gettext_noop("a decision table may have at most %(max)s inputs and as many outputs"),
                max=MAX_CLAUSES,
            )
            return None
        if len(rule_els) > MAX_RULES:
            self.problem(el, gettext_noop("a decision table may have at most %(max)s rules"), max=MAX_RULES)
            return None
        if len(rule_els) * (len(input_els) + len(output_els)) > MAX_CELLS:
            self.problem(el, gettext_noop("the decision table has more than %(max)s cells"), max=MAX_CELLS)
            return None
        if not output_els:
            self.problem(el, gettext_noop("the decision table has no output"))
            return None
        if aggregation and len(output_els) > 1:
            self.problem(
                el,
                gettext_noop("an aggregation (%(aggregation)s) needs a table with one output, not %(count)s"),
                aggregation=aggregation,
                count=len(output_els),
            )
        for child in self.children(el):
            if _local(child) not in (
                "input",
                "output",
                "rule",
                "description",
                "extensionElements",
                "annotation",
            ):
                self.problem(child, gettext_noop("the element <%(tag)s> is not supported"), tag=_local(child))

        inputs = [self.input_clause(i) for i in input_els]
        outputs = [self.output_clause(o, did, len(output_els)) for o in output_els]
        names = [o.name for o in outputs if o is not None]
        for o_el, o in zip(output_els, outputs, strict=True):
            if o is not None and names.count(o.name) > 1:
                self.problem(o_el, gettext_noop("two outputs have the name “%(name)s”"), name=o.name)
                break
        if hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(
            o is not None and o.values for o in outputs
        ):
            self.problem(
                el,
                gettext_noop("the hit policy %(policy)s needs output values (a priority list) on an output"),
                policy=hit_policy,
            )
        rules = [self.rule(r, n, len(input_els), len(output_els)) for n, r in enumerate(rule_els, start=1)]
        if len(self.problems) > before:
            return None
        return DecisionTable(
            id=el.get("id") or "",
            hit_policy=hit_policy,
            aggregation=aggregation,
            inputs=tuple(i for i in inputs if i is not None),
            outputs=tuple(o for o in outputs if o is not None),
            rules=tuple(r for r in rules if r is not None),
        )

    def input_clause(self, el: Any) -> InputClause | None:
        exprs = self.children(el, "inputExpression")
        label = (el.get("label") or "").strip()
        expr_el = exprs[0] if exprs else None
        text = self.text_of(expr_el) if expr_el is not None else ""
        type_ref = (expr_el.get("typeRef") or "").strip() if expr_el is not None else ""
        cell_variable = ""
        for key, value in el.attrib.items():
            if key.endswith("}inputVariable") and value.strip():
                cell_variable = value.strip()
        if not text:
            name = label or (el.get("name") or "").strip()
            if not name:
                self.problem(
                    el, gettext_noop("the input has neither an input expression nor a label to read")
                )
                return None
            return InputClause(
                id=el.get("id") or "",
                label=label,
                expression=name,
                type_ref=type_ref,
                value_of=_name_cell(name),
                cell_variable=cell_variable,
            )
        cell = self.expression(expr_el, text, gettext_noop("input expression"))
        if cell is None:
            return None
        return InputClause(
            id=el.get("id") or "",
            label=label or text,
            expression=text,
            type_ref=type_ref,
            value_of=cell,
            cell_variable=cell_variable,
        )

    def output_clause(self, el: Any, did: str, count: int) -> OutputClause | None:
        name = (el.get("name") or "").strip()
        label = (el.get("label") or "").strip()
        if not name:
            if count > 1:
                self.problem(el, gettext_noop("an output of a table with several outputs needs a name"))
                return None
            name = label or did
        values: tuple[Any, ...] | None = None
        value_els = self.children(el, "outputValues")
        if value_els:
            text = self.text_of(value_els[0])
            if text:
                try:
                    listed = feel_compile(f"[{text}]").evaluate({})
                except FeelError as exc:
                    listed = None
                    self.problem(
                        value_els[0],
                        gettext_noop("the output values “%(text)s” are not a list of FEEL values: %(error)s"),
                        text=text[:200],
                        error=exc.message,
                    )
                if isinstance(listed, list):
                    values = tuple(listed)
        default: Cell | None = None
        default_els = self.children(el, "defaultOutputEntry")
        if default_els:
            text = self.text_of(default_els[0])
            if text:
                default = self.expression(default_els[0], text, gettext_noop("default output entry"))
        return OutputClause(
            id=el.get("id") or "",
            name=name,
            label=label or name,
            type_ref=(el.get("typeRef") or "").strip(),
            values=values,
            default=default,
        )

    def rule(self, el: Any, number: int, n_inputs: int, n_outputs: int) -> Rule | None:
        input_entries = self.children(el, "inputEntry")
        output_entries = self.children(el, "outputEntry")
        rid = el.get("id") or f"#{number}"
        if len(input_entries) != n_inputs or len(output_entries) != n_outputs:
            self.problem(
                el,
                gettext_noop(
                    "rule %(number)s has %(inputs)s input entries and %(outputs)s output entries; "
                    "the table has %(n_inputs)s inputs and %(n_outputs)s outputs"
                ),
                number=number,
                inputs=len(input_entries),
                outputs=len(output_entries),
                n_inputs=n_inputs,
                n_outputs=n_outputs,
            )
            return None
        tests: list[FeelUnaryTests | None] = []
        in_texts: list[str] = []
        ok = True
        for entry in input_entries:
            text = self.text_of(entry)
            in_texts.append(text or "-")
            language = (entry.get("expressionLanguage") or "").strip()
            if language and not _FEEL_LANGUAGES.fullmatch(language):
                self.problem(
                    entry,
                    gettext_noop(
                        "input entries are S-FEEL unary tests; the language “%(language)s” is not supported"
                    ),
                    language=language[:100],
                )
                ok = False
                continue
            if not text or text == "-":
                tests.append(None)
                continue
            try:
                tests.append(feel_unary_test_compile(text))
            except FeelError as exc:
                self.problem(
                    entry,
                    gettext_noop(
                        "the input entry “%(text)s” of rule %(number)s is not a valid unary test: %(error)s"
                    ),
                    text=text[:200],
                    number=number,
                    error=exc.message,
                )
                ok = False
        outputs: list[Cell | None] = []
        out_texts: list[str] = []
        for entry in output_entries:
            text = self.text_of(entry)
            out_texts.append(text)
            if not text:
                outputs.append(None)
                continue
            cell = self.expression(entry, text, gettext_noop("output entry"))
            if cell is None:
                ok = False
            outputs.append(cell)
        if not ok:
            return None
        descriptions = self.children(el, "description")
        return Rule(
            id=rid,
            number=number,
            description=(descriptions[0].text or "").strip() if descriptions else "",
            tests=tuple(tests),
            outputs=tuple(outputs),
            texts=(tuple(in_texts), tuple(out_texts)),
        )


def parse_dmn(xml: bytes | str) -> DmnModel:
    """Parse and compile a DMN document; raises :class:`DmnInvalid` listing every problem."""
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    if len(data) > MAX_XML_BYTES:
        raise DmnInvalid(
            [
                DmnProblem(
                    gettext_noop("the DMN file is larger than %(max)s MB"), {"max": MAX_XML_BYTES // 2**20}
                )
            ]
        )
    if not data.strip():
        raise DmnInvalid([DmnProblem(gettext_noop("the DMN file is empty"))])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DmnInvalid(
            [DmnProblem(gettext_noop("malformed XML: %(detail)s"), {"detail": exc.msg}, line=exc.lineno)]
        ) from None
    ns = etree.QName(root).namespace or ""
    if _local(root) != "definitions" or not _DMN_NS.fullmatch(ns):
        raise DmnInvalid(
            [
                DmnProblem(
                    gettext_noop(
                        "not a DMN document (the root element must be the definitions of DMN 1.1 to 1.5)"
                    ),
                    element_type=_local(root),
                    line=root.sourceline,
                )
            ]
        )
    return _Parser(root, ns).parse()


# --- cells ----------------------------------------------------------------------------------------


class _CellError(Exception):
    def __init__(self, msgid: str, params: Mapping[str, Any]) -> None:
        self.msgid = msgid
        self.params = dict(params)
        super().__init__(msgid % self.params)


def _feel_cell(compiled: Any) -> Cell:
    def cell(context: Mapping[str, Any]) -> Any:
        try:
            return compiled.evaluate(context)
        except FeelError as exc:
            raise _CellError(exc.msgid, exc.params) from None

    return cell


def _our_cell(parsed: expressions.Expression) -> Cell:
    def cell(context: Mapping[str, Any]) -> Any:
        try:
            return parsed.evaluate(context)
        except expressions.ExpressionError as exc:
            raise _CellError(
                gettext_noop("%(error)s (in “%(text)s”)"), {"error": str(exc), "text": parsed.source}
            ) from None

    return cell


def _name_cell(name: str) -> Cell:
    return lambda context: context.get(name)


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchedRule:
    id: str
    number: int
    outputs: dict[str, Any]


@dataclass
class DecisionResult:
    """What one decision gave: ``value`` is the API's answer — a dict of outputs (single-hit
    policies and literal expressions; ``None`` when no rule matched and there are no defaults), a
    list of dicts (COLLECT, RULE ORDER, OUTPUT ORDER) or a dict with the aggregate (COLLECT with an
    aggregation). ``matched`` lists every rule that matched, in table order; ``selected`` the rule
    numbers the hit policy used, in result order; ``required`` the results of the decisions it
    required."""

    decision_id: str
    decision_name: str
    hit_policy: str
    aggregation: str
    value: Any
    inputs: dict[str, Any]  # input label → the value the table saw
    matched: list[MatchedRule]
    selected: list[int]
    default_used: bool = False
    required: dict[str, DecisionResult] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision_id,
            "name": self.decision_name,
            "hit_policy": self.hit_policy,
            "aggregation": self.aggregation,
            "outputs": to_json(self.value),
            "inputs": to_json(self.inputs),
            "matched_rules": [
                {"id": m.id, "number": m.number, "outputs": to_json(m.outputs)} for m in self.matched
            ],
            "selected_rules": list(self.selected),
            "default_used": self.default_used,
            "required": {k: v.as_dict() for k, v in self.required.items()},
        }


class _Run:
    def __init__(self, model: DmnModel, inputs: Mapping[str, Any]) -> None:
        self.model = model
        self.inputs = dict(inputs)
        self.results: dict[str, DecisionResult] = {}
        self.deadline = time.monotonic() + MAX_SECONDS

    def check_time(self, decision: Decision) -> None:
        if time.monotonic() > self.deadline:
            raise DmnEvaluationError(
                gettext_noop("the evaluation took longer than %(max)s s"),
                {"max": MAX_SECONDS},
                decision_id=decision.id,
            )

    def decide(self, did: str) -> DecisionResult:
        done = self.results.get(did)
        if done is not None:
            return done
        decision = self.model.decisions[did]
        context = dict(self.inputs)
        required: dict[str, DecisionResult] = {}
        for rid in decision.required:
            result = self.decide(rid)
            required[rid] = result
            _bind(context, self.model.decisions[rid], result)
        if decision.literal is not None:
            value = self.cell(decision, decision.literal.value_of, context, "", ())
            result = DecisionResult(
                decision_id=did,
                decision_name=decision.name,
                hit_policy="",
                aggregation="",
                value={decision.variable: value},
                inputs={},
                matched=[],
                selected=[],
            )
        else:
            assert decision.table is not None
            result = self.table(decision, decision.table, context)
        result.required = required
        self.results[did] = result
        return result

    def cell(
        self, decision: Decision, cell: Cell, context: Mapping[str, Any], where: str, rule_ids: Iterable[str]
    ) -> Any:
        try:
            return _plain(cell(context))
        except _CellError as exc:
            raise DmnEvaluationError(
                gettext_noop("%(where)s%(error)s"),
                {"where": where, "error": exc.msgid % exc.params if exc.params else exc.msgid},
                decision_id=decision.id,
                rule_ids=rule_ids,
            ) from None

    def table(self, decision: Decision, table: DecisionTable, context: dict[str, Any]) -> DecisionResult:
        values = [
            _typed(
                self.cell(decision, clause.value_of, context, f"input “{clause.label}”: ", ()),
                clause.type_ref,
            )
            for clause in table.inputs
        ]
        for clause, value in zip(table.inputs, values, strict=True):
            # a date sent as text is a date for the output entries too
            if _IDENTIFIER.fullmatch(clause.expression) and isinstance(context.get(clause.expression), str):
                context[clause.expression] = value
        contexts = []
        for clause, value in zip(table.inputs, values, strict=True):
            if clause.cell_variable:
                contexts.append({**context, clause.cell_variable: value})
            else:
                contexts.append(context)
        matched_rules: list[Rule] = []
        first_only = table.hit_policy == "FIRST"
        for n, rule in enumerate(table.rules):
            if n % 64 == 63:
                self.check_time(decision)
            for test, value, ctx in zip(rule.tests, values, contexts, strict=True):
                if test is None:
                    continue
                try:
                    if not test.test(value, ctx):
                        break
                except FeelError as exc:
                    raise DmnEvaluationError(
                        gettext_noop("rule %(number)s: %(error)s"),
                        {"number": rule.number, "error": exc.message},
                        decision_id=decision.id,
                        rule_ids=[rule.id],
                    ) from None
            else:
                matched_rules.append(rule)
                if first_only:
                    break
        matched = [
            MatchedRule(
                id=rule.id,
                number=rule.number,
                outputs={
                    o.name: (
                        None
                        if cell is None
                        else self.cell(
                            decision, cell, context, f"rule {rule.number}, output “{o.name}”: ", [rule.id]
                        )
                    )
                    for o, cell in zip(table.outputs, rule.outputs, strict=True)
                },
            )
            for rule in matched_rules
        ]
        result = DecisionResult(
            decision_id=decision.id,
            decision_name=decision.name,
            hit_policy=table.hit_policy,
            aggregation=table.aggregation,
            value=None,
            inputs={c.label: v for c, v in zip(table.inputs, values, strict=True)},
            matched=matched,
            selected=[],
        )
        self.apply_hit_policy(decision, table, context, result)
        return result

    def defaults(
        self, decision: Decision, table: DecisionTable, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if not any(o.default is not None for o in table.outputs):
            return None
        return {
            o.name: (
                None
                if o.default is None
                else self.cell(decision, o.default, context, f"default of output “{o.name}”: ", ())
            )
            for o in table.outputs
        }

    def apply_hit_policy(
        self, decision: Decision, table: DecisionTable, context: Mapping[str, Any], result: DecisionResult
    ) -> None:
        matched = result.matched
        policy = table.hit_policy
        if not matched:
            defaults = self.defaults(decision, table, context)
            result.default_used = defaults is not None
            if table.aggregation:
                output = table.outputs[0].name
                if table.aggregation == "COUNT":
                    result.value = {output: 0}
                else:
                    result.value = {output: None if defaults is None else defaults[output]}
            elif table.single_hit:
                result.value = defaults
            else:
                result.value = [] if defaults is None else [defaults]
            return
        if policy == "UNIQUE":
            if len(matched) > 1:
                raise DmnEvaluationError(
                    gettext_noop(
                        "the hit policy UNIQUE allows one matching rule, but rules %(rules)s matched"
                    ),
                    {"rules": ", ".join(str(m.number) for m in matched)},
                    decision_id=decision.id,
                    rule_ids=[m.id for m in matched],
                )
            chosen = [matched[0]]
        elif policy == "FIRST":
            chosen = [matched[0]]
        elif policy == "ANY":
            first = matched[0]
            for other in matched[1:]:
                if not _same_outputs(first.outputs, other.outputs):
                    raise DmnEvaluationError(
                        gettext_noop(
                            "the hit policy ANY needs matching rules to agree, but rules %(a)s and "
                            "%(b)s give different outputs"
                        ),
                        {"a": first.number, "b": other.number},
                        decision_id=decision.id,
                        rule_ids=[first.id, other.id],
                    )
            chosen = [first]
        elif policy in ("PRIORITY", "OUTPUT ORDER"):
            keyed = [(self.priority(decision, table, m), m) for m in matched]
            keyed.sort(key=lambda pair: pair[0])  # stable: equal priorities stay in rule order
            chosen = [m for _key, m in keyed]
            if policy == "PRIORITY":
                chosen = chosen[:1]
        else:  # COLLECT, RULE ORDER
            chosen = list(matched)
        result.selected = [m.number for m in chosen]
        if table.single_hit:
            result.value = dict(chosen[0].outputs)
        elif table.aggregation:
            output = table.outputs[0].name
            result.value = {output: self.aggregate(decision, table.aggregation, chosen, output)}
        else:
            result.value = [dict(m.outputs) for m in chosen]

    def priority(self, decision: Decision, table: DecisionTable, rule: MatchedRule) -> tuple[int, ...]:
        key = []
        for output in table.outputs:
            if not output.values:
                continue
            value = rule.outputs[output.name]
            for index, allowed in enumerate(output.values):
                if feel_equal(value, allowed) is True:
                    key.append(index)
                    break
            else:
                raise DmnEvaluationError(
                    gettext_noop(
                        "rule %(number)s gives %(value)s for the output “%(output)s”, which is not among "
                        "its output values (the priority list of %(policy)s)"
                    ),
                    {
                        "number": rule.number,
                        "value": _show(value),
                        "output": output.name,
                        "policy": table.hit_policy,
                    },
                    decision_id=decision.id,
                    rule_ids=[rule.id],
                )
        return tuple(key)

    def aggregate(self, decision: Decision, aggregation: str, chosen: list[MatchedRule], output: str) -> Any:
        if aggregation == "COUNT":
            return len(chosen)
        values = [m.outputs[output] for m in chosen if m.outputs[output] is not None]
        if not values:
            return None
        if aggregation == "SUM":
            bad = next(
                (v for v in values if isinstance(v, bool) or not isinstance(v, int | float | Decimal)), None
            )
            if bad is not None:
                raise DmnEvaluationError(
                    gettext_noop("SUM needs numbers, but an output is %(value)s"),
                    {"value": _show(bad)},
                    decision_id=decision.id,
                    rule_ids=[m.id for m in chosen],
                )
            total: Any = 0
            for v in values:
                total += v
            return total
        kinds = {_order_kind(v) for v in values}
        if len(kinds) != 1 or None in kinds:
            raise DmnEvaluationError(
                gettext_noop(
                    "%(aggregation)s needs values of one comparable kind (numbers, text or dates), got "
                    "%(values)s"
                ),
                {"aggregation": aggregation, "values": ", ".join(_show(v) for v in values[:5])},
                decision_id=decision.id,
                rule_ids=[m.id for m in chosen],
            )
        return min(values) if aggregation == "MIN" else max(values)


def _order_kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float | Decimal):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, dt.datetime):
        return "datetime"
    if isinstance(v, dt.date):
        return "date"
    if isinstance(v, dt.timedelta):
        return "duration"
    return None


def _same_outputs(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(feel_equal(a[k], b[k]) is True for k in a)


def _show(value: Any) -> str:
    text = repr(to_json(value)) if not isinstance(value, str) else f"“{value}”"
    return text[:100]


def _plain(value: Any) -> Any:
    """FEEL results into plain values (a range or a function is not an output)."""
    if value is None or isinstance(
        value, bool | int | float | str | Decimal | dt.date | dt.time | dt.timedelta
    ):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _typed(value: Any, type_ref: str) -> Any:
    """An input value as its typeRef says, where JSON cannot: dates and times sent as text."""
    if not isinstance(value, str):
        return value
    kind = type_ref.lower().replace(" ", "")
    try:
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind in ("datetime", "dateandtime"):
            return dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return value


def _bind(context: dict[str, Any], decision: Decision, result: DecisionResult) -> None:
    """What a required decision gives to the one that requires it: its value under the decision's
    variable name (DMN), and — as Camunda does — each output under its own name (a list of the
    values for multi-hit results)."""
    value = result.value
    if isinstance(value, dict):
        context.update(value)
        context[decision.variable] = next(iter(value.values())) if len(value) == 1 else dict(value)
    elif isinstance(value, list):
        names: list[str] = []
        for row in value:
            for name in row:
                if name not in names:
                    names.append(name)
        for name in names:
            context[name] = [row.get(name) for row in value]
        context[decision.variable] = [next(iter(row.values())) if len(row) == 1 else row for row in value]
    else:
        context[decision.variable] = None


def evaluate_decision(model: DmnModel, decision_id: str, inputs: Mapping[str, Any]) -> DecisionResult:
    """Evaluate ``decision_id`` of ``model`` with ``inputs`` (after the decisions it requires).

    Raises :class:`KeyError` for an unknown decision and :class:`DmnEvaluationError` when the
    decision has no answer."""
    if decision_id not in model.decisions:
        raise KeyError(decision_id)
    return _Run(model, inputs).decide(decision_id)


# --- JSON -----------------------------------------------------------------------------------------


def _duration_iso(d: dt.timedelta) -> str:
    total = d.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P"
    if days:
        out += f"{int(days)}D"
    time_part = ""
    if hours:
        time_part += f"{int(hours)}H"
    if minutes:
        time_part += f"{int(minutes)}M"
    if seconds or not (days or hours or minutes):
        time_part += f"{seconds:g}S"
    return out + (f"T{time_part}" if time_part else "")


def to_json(value: Any) -> Any:
    """A result as JSON values: dates and times in ISO 8601, durations as ISO durations."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration_iso(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)
