"""Deploy-time parsing: ``parse_definition`` (all problems or a ParsedDefinition) and the
per-version cache of parsed specs (``cached_definition``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from typing import Any

from django.utils.translation import gettext_noop
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

from .parser import (
    CAMUNDA_NAMESPACES,
    MedoaParser,
    camunda_attr,
    decision_ref_parts,
    multi_instance_parts,
    split_list,
)
from .specs import DecisionTask
from .types import (
    CountersignInfo,
    DecisionTaskInfo,
    DefinitionInvalid,
    ParsedDefinition,
    Problem,
    UserTaskInfo,
)
from .validate import (
    B,
    DecisionLookup,
    FormCheck,
    _XmlProblem,
    collect_problems,
    executable_processes,
    flow_nodes,
    local,
    parse_xml,
    service_function,
    timer_start_value,
    xsd_problems,
)


def _always(_key: str) -> bool:
    return True


def parse_definition(
    xml: bytes | str,
    *,
    called: Mapping[str, bytes | str] | None = None,
    form_exists: Callable[[str], bool] = _always,
    functions: Collection[str] = (),
    form_check: FormCheck | None = None,
    decisions: DecisionLookup | None = None,
) -> ParsedDefinition:
    """Check a BPMN document and parse it; raise :class:`DefinitionInvalid` with ALL problems.

    ``called`` maps the ids of processes this one may call (call activities) to their BPMN XML;
    ``form_exists(key)`` says whether a ``camunda:formKey`` names a form; ``functions`` are the
    registered function names a script task may name. ``form_check(key, properties, kind)``, when
    given, replaces ``form_exists``: it returns the problems of a start event's or user task's form
    key and its ``camunda:properties`` (the services check ``medoa:form:`` keys and field
    permissions with it). ``decisions(key, version)`` looks up a deployed DMN decision for the
    business-rule tasks: each must name one, and a ``latest`` binding is pinned to the latest
    version now (``decision_tasks`` and ``metadata['decision_tasks']`` record the version; keep it
    and hand it back to :func:`cached_definition`). Without it the decisions are not checked and
    ``latest`` stays unpinned (evaluated at its latest version at run time).
    """
    return _build(
        xml,
        called or {},
        form_exists=form_exists,
        functions=functions,
        form_check=form_check,
        decisions=decisions,
    )


def _build(
    xml: bytes | str,
    called: Mapping[str, bytes | str],
    *,
    form_exists: Callable[[str], bool] | None,
    functions: Collection[str] | None,
    trusted: bool = False,
    form_check: FormCheck | None = None,
    decisions: DecisionLookup | None = None,
    decision_versions: Mapping[str, int] | None = None,
) -> ParsedDefinition:
    """``trusted``: a version that passed the deploy checks already (the cache reloading it);
    ``decision_versions`` then gives the decision versions its business-rule tasks were pinned to
    at deploy (by step id)."""
    try:
        root = parse_xml(xml)
    except _XmlProblem as exc:
        raise DefinitionInvalid([exc.problem]) from None

    called_roots: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for key, text in called.items():
        try:
            called_roots.append((key, parse_xml(text)))
        except _XmlProblem as exc:
            problems.append(
                Problem(
                    gettext_noop("called process '%(key)s': %(problem)s"),
                    {"key": key, "problem": exc.problem.text},
                    key,
                    "callActivity",
                )
            )

    called_ids = {p.get("id") for _key, r in called_roots for p in r.iter(f"{B}process") if p.get("id")}
    if not trusted:
        problems += xsd_problems(root)
        problems += collect_problems(
            root,
            called_ids=called_ids,
            form_exists=form_exists,
            functions=functions,
            form_check=form_check,
            decisions=decisions,
        )
    if problems:
        raise DefinitionInvalid(problems)

    main = _main_process(root)
    process_id = main.get("id")
    ids = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    parser = MedoaParser()
    try:
        parser.add_bpmn_xml(root, filename="definition.bpmn")
        known = set(parser.process_parsers)
        for key, called_root in called_roots:
            defined = {p.get("id") for p in called_root.iter(f"{B}process")}
            if defined & known:
                continue  # already available (the file itself, or an earlier called file)
            parser.add_bpmn_xml(called_root, filename=f"{key}.bpmn")
            known |= defined
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        el = ids.get(exc.id) if exc.id else None
        message = str(exc).strip() or type(exc).__name__
        raise DefinitionInvalid(
            [
                Problem(  # SpiffWorkflow's own words stay English inside a translated wrapper
                    gettext_noop("SpiffWorkflow cannot parse this element: %(detail)s"),
                    {"detail": message.splitlines()[0]},
                    exc.id or "",
                    local(el) if el is not None else (exc.tag or "").split(":")[-1],
                    el.sourceline if el is not None else None,
                )
            ]
        ) from None
    except Exception as exc:  # raw KeyError/TypeError from SpiffWorkflow's parser internals
        raise DefinitionInvalid(
            [
                Problem(
                    gettext_noop("the process cannot be parsed: %(detail)s"),
                    {"detail": f"{type(exc).__name__}: {exc}"},
                )
            ]
        ) from None

    problems = _unreached(main, spec, subprocess_specs)
    if problems:
        raise DefinitionInvalid(problems)
    _freeze(spec, subprocess_specs)
    _pin_decisions(spec, subprocess_specs, decisions, decision_versions or {})

    processes = [
        main,
        *[p for p in root.iter(f"{B}process") if p is not main and p.get("id") in subprocess_specs],
    ]
    for _key, called_root in called_roots:
        processes += [p for p in called_root.iter(f"{B}process") if p.get("id") in subprocess_specs]
    return _describe(main, processes, spec, subprocess_specs)


def _main_process(root: Any) -> Any:
    candidates = executable_processes(root)
    marked = [p for p in candidates if p.get("isExecutable") == "true"]
    return (marked or candidates)[0]


def _unreached(main: Any, spec: Any, subprocess_specs: Mapping[str, Any]) -> list[Problem]:
    """Flow nodes SpiffWorkflow never reached from a start event (it ignores them silently)."""
    names = set(spec.task_specs)
    for sub in subprocess_specs.values():
        if sub is not None:
            names |= set(sub.task_specs)
    return [
        Problem(
            gettext_noop("not reachable from a start event (SpiffWorkflow would ignore it)"),
            {},
            el.get("id"),
            local(el),
            el.sourceline,
        )
        for el in flow_nodes(main)
        if el.get("id") not in names
    ]


def _freeze(spec: Any, subprocess_specs: Mapping[str, Any]) -> None:
    """Connect the multi-instance merge hooks once, here, instead of on first use at run time.

    SpiffWorkflow connects them lazily (check, then connect) on the shared spec; two threads running
    the first instance of a version at once could connect twice and count every vote twice.
    """
    for process in [spec, *subprocess_specs.values()]:
        if process is None:
            continue
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, LoopTask):
                child = process.task_specs[task_spec.task_spec]
                if not child.completed_event.is_connected(task_spec.merge_child):
                    child.completed_event.connect(task_spec.merge_child)


def _pin_decisions(
    spec: Any,
    subprocess_specs: Mapping[str, Any],
    decisions: DecisionLookup | None,
    pinned: Mapping[str, int],
) -> None:
    """Give every business-rule task the decision version it evaluates: its explicit version, the
    one pinned at deploy (``pinned``), or — at deploy — the latest one now (looked up)."""
    for process in [spec, *subprocess_specs.values()]:
        if process is None:
            continue
        for task_spec in process.task_specs.values():
            if not isinstance(task_spec, DecisionTask) or task_spec.binding != "latest":
                continue
            step = str(task_spec.bpmn_id)
            if step in pinned:
                task_spec.version = int(pinned[step])
            elif decisions is not None:
                facts = decisions(task_spec.decision_ref, None)
                task_spec.version = facts.version if facts is not None else None


def _decision_versions(spec: Any, subprocess_specs: Mapping[str, Any]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for process in [spec, *subprocess_specs.values()]:
        if process is None:
            continue
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, DecisionTask):
                out[str(task_spec.bpmn_id)] = task_spec.version
    return out


def _describe(
    main: Any, processes: list[Any], spec: Any, subprocess_specs: dict[str, Any]
) -> ParsedDefinition:
    user_tasks: dict[str, UserTaskInfo] = {}
    service_tasks: dict[str, str] = {}
    decision_tasks: dict[str, DecisionTaskInfo] = {}
    versions = _decision_versions(spec, subprocess_specs)
    steps: dict[str, dict[str, str]] = {}
    owners: dict[str, str] = {}
    message_catches: set[str] = set()
    problems: list[Problem] = []
    messages: dict[str, str] = {}
    for process in processes:
        for m in process.getroottree().getroot().iter(f"{B}message"):
            if m.get("id") and m.get("name"):
                messages.setdefault(m.get("id"), m.get("name"))

    for process in processes:
        pid = process.get("id")
        for el in flow_nodes(process):
            step_id, kind = el.get("id"), local(el)
            if step_id in owners and owners[step_id] != pid:
                problems.append(
                    Problem(
                        gettext_noop(
                            "step id '%(step)s' is used both here and in process '%(process)s'; "
                            "step ids must be unique across a process and the processes it calls"
                        ),
                        {"step": step_id, "process": owners[step_id]},
                        step_id,
                        kind,
                        el.sourceline if process is main else None,
                    )
                )
                continue
            owners[step_id] = pid
            steps[step_id] = {"name": (el.get("name") or step_id).strip(), "type": kind, "process_id": pid}
            if kind == "userTask":
                user_tasks[step_id] = _user_task(el, pid)
            elif kind == "serviceTask":
                service_tasks[step_id] = service_function(el)
            elif kind == "businessRuleTask":
                parts = decision_ref_parts(el)
                decision_tasks[step_id] = DecisionTaskInfo(
                    id=step_id,
                    name=steps[step_id]["name"],
                    decision=parts["decision"],
                    binding=parts["binding"],
                    version=versions.get(step_id),
                    result_variable=parts["result_variable"],
                    mapping=parts["mapping"],
                    process_id=pid,
                )
            if kind in ("intermediateCatchEvent", "boundaryEvent", "receiveTask") or (
                kind == "startEvent" and not (process is main and el.getparent() is main)
            ):
                message_catches |= _message_names(el, messages)
    if problems:
        raise DefinitionInvalid(problems)

    starts = [el for el in main if local(el) == "startEvent"]
    start_form_key = next((camunda_attr(el, "formKey") for el in starts if camunda_attr(el, "formKey")), None)
    initiator = next((camunda_attr(el, "initiator") for el in starts if camunda_attr(el, "initiator")), None)
    timer_start = None
    message_starts: set[str] = set()
    for el in starts:
        timer = el.find(f"{B}timerEventDefinition")
        if timer is not None and timer_start is None:
            timer_start = timer_start_value(timer)
        message_starts |= _message_names(el, messages)
    called_processes = {el.get("calledElement") for el in main.iter(f"{B}callActivity")}
    called_processes |= {
        el.get("calledElement")
        for p in processes[1:]
        for el in p.iter(f"{B}callActivity")
        if el.get("calledElement")
    }
    name = (main.get("name") or main.get("id")).strip()
    metadata: dict[str, Any] = {
        "process_id": main.get("id"),
        "name": name,
        "user_tasks": {k: v.as_dict() for k, v in user_tasks.items()},
        "start_form_key": start_form_key,
        "initiator_variable": initiator,
        "service_tasks": dict(service_tasks),
        "decision_tasks": {k: v.as_dict() for k, v in decision_tasks.items()},
        "called_processes": sorted(c for c in called_processes if c),
        "timer_start": timer_start,
        "message_starts": sorted(message_starts),
        "message_catches": sorted(message_catches),
        "steps": steps,
    }
    flows: dict[tuple[str, str], list[str]] = {}
    for process in processes:
        for el in process.iter(f"{B}sequenceFlow"):
            if el.get("id") and el.get("sourceRef") and el.get("targetRef"):
                flows.setdefault((el.get("sourceRef"), el.get("targetRef")), []).append(el.get("id"))
    return ParsedDefinition(
        process_id=main.get("id"),
        name=name,
        user_tasks=user_tasks,
        start_form_key=start_form_key,
        initiator_variable=initiator,
        service_tasks=service_tasks,
        called_processes={c for c in called_processes if c},
        timer_start=timer_start,
        message_starts=message_starts,
        message_catches=message_catches,
        metadata=metadata,
        decision_tasks=decision_tasks,
        _spec=spec,
        _subprocess_specs=subprocess_specs,
        _flows=flows,
    )


def _user_task(el: Any, process_id: str) -> UserTaskInfo:
    properties: dict[str, str] = {}
    for ns in CAMUNDA_NAMESPACES:
        for prop in el.findall(f"{B}extensionElements/{{{ns}}}properties/{{{ns}}}property"):
            if prop.get("name"):
                properties.setdefault(prop.get("name"), prop.get("value") or "")
    loop = el.find(f"{B}multiInstanceLoopCharacteristics")
    countersign = None
    if loop is not None:
        parts = multi_instance_parts(loop)
        countersign = CountersignInfo(
            collection=parts["collection"],
            element_variable=parts["element_variable"],
            completion_condition=parts["completion_condition"],
            sequential=parts["sequential"],
            cardinality=parts["cardinality"],
        )
    return UserTaskInfo(
        id=el.get("id"),
        name=(el.get("name") or el.get("id")).strip(),
        assignee=(camunda_attr(el, "assignee") or "").strip() or None,
        candidate_users=split_list(camunda_attr(el, "candidateUsers")),
        candidate_groups=split_list(camunda_attr(el, "candidateGroups")),
        form_key=(camunda_attr(el, "formKey") or "").strip() or None,
        due_date=(camunda_attr(el, "dueDate") or "").strip() or None,
        countersign=countersign,
        properties=properties,
        process_id=process_id,
    )


def _message_names(el: Any, messages: Mapping[str, str]) -> set[str]:
    names = set()
    refs = [el.get("messageRef")] + [d.get("messageRef") for d in el.iter(f"{B}messageEventDefinition")]
    for ref in refs:
        if ref and ref in messages:
            names.add(messages[ref])
    return names


# ------------------------------------------------------------------------------------------ the cache

CACHE_SIZE = 256
_cache: OrderedDict[tuple[int, str], ParsedDefinition] = OrderedDict()
_cache_lock = threading.Lock()


def cached_definition(
    version_id: int,
    checksum: str,
    loader: Callable[[], tuple[bytes | str, Mapping[str, bytes | str]]],
    *,
    decision_versions: Mapping[str, int] | None = None,
) -> ParsedDefinition:
    """The parsed definition of a deployed version, from an in-process LRU (256 versions).

    The key is ``(version_id, checksum)``: an id alone is not enough, because SQLite gives the id
    of a rolled-back row to the next row (another document under the same id must not find the
    old spec). ``checksum`` identifies the XML ``loader()`` returns, i.e. ``(xml, called)`` for a
    cold entry. A deployed version passed the deploy checks, so they are not run again here
    (SpiffWorkflow still parses the XML). The specs are shared by every caller and must be treated
    as read-only. ``decision_versions`` are the decision versions the version's business-rule tasks
    were pinned to at deploy (``metadata['decision_tasks']``), by step id.
    """
    key = (version_id, checksum)
    with _cache_lock:
        parsed = _cache.get(key)
        if parsed is not None:
            _cache.move_to_end(key)
            return parsed
    xml, called = loader()
    parsed = _build(
        xml, called, form_exists=None, functions=None, trusted=True, decision_versions=decision_versions
    )
    with _cache_lock:
        existing = _cache.get(key)
        if existing is not None:
            _cache.move_to_end(key)
            return existing
        _cache[key] = parsed
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return parsed


def clear_definition_cache() -> None:
    """Forget every cached definition (tests; a process that redeploys by hand)."""
    with _cache_lock:
        _cache.clear()
