"""Process-engine benchmark: SpiffWorkflow alone, our facade, and the service layer on SQLite and
PostgreSQL; then the to-do inbox query on PostgreSQL with 10k, 100k and 1M task rows.

    .venv/bin/python bench/flow.py [--quick] [--strict] [--keep-db]

Two processes, both in ``bench/flow_models/``:

* ``leave`` — submit (the applicant) → department head → vice dean when ``days > 3``; half the
  instances ask for 2 days (2 user-task actions after the start), half for 5 days (3 actions);
* ``countersign`` — a parallel multi-instance user task over five signers, all must approve
  (5 actions after the start).

Layers, each driving every instance from start to end, one instance after the other:

1. **SpiffWorkflow alone** — stock ``CamundaParser`` + ``BpmnWorkflow`` with its Python script
   engine (the models' ``camunda:collection="${signers}"`` is read as ``signers``, which is all
   stock SpiffWorkflow understands); the baseline;
2. **MedOA facade** — ``medoa.engines.flow.spiff``: ``Workflow.start`` / ``complete_user_task``
   (our specs, our safe expression language);
3. **facade + state** — the same, plus what the service layer does around every step: the state is
   dumped (``Workflow.dump``), turned into JSON text and back, and loaded again (``Workflow.load``);
4. **MedOA services** — ``medoa.engines.flow.services``: ``instance_start`` and ``task_act``
   (``complete`` for the submit step, ``approve`` for the others) as the person the task is
   assigned to, on a migrated SQLite file database (WAL, the embedded default) and on PostgreSQL
   (a database of its own, ``medoa_bench_flow``, created and dropped). Everything the services do
   is included: row locks, the human-task projection, history events, notifications, audit records.
   Each database runs twice: one instance after the other on one connection, then the same number
   of instances spread over ``--workers`` forked processes (default 2, one per core) with a
   connection each — the throughput a 2-core server could reach.

Figures: instances completed per second (end to end: the start, finding the next open task of the
instance — one indexed query — and every task action; the total wall time divided by the
instances), p50/p95 of the start and of one task action (ms), the queries of one instance, and
the share of the serial run's wall time spent inside ``cursor.execute`` (the rest is Python), and
the bench process's CPU time per instance in the serial run (the comparable figure on a shared
machine: the database server's CPU is not in it, and wall-time rates depend on the other load).
People act through the same user objects all along, so their permission principal is cached as it
is in a server process (``MEDOA_ACCESS_CACHE_SECONDS``, 5 s in production; the test profile sets
0, the bench sets it back to 5).

Then, on PostgreSQL, the to-do inbox: ``selectors.task_inbox(user=…, box="todo")[:20]`` evaluated
(and ``selectors.inbox_counts``) for one person with ~100 open tasks assigned to them and ~20
they may claim, while the table grows to 10k, 100k and 1M ``HumanTask`` rows (COPY in batches of
10k over ~2k instances and ~500 staff; 5 % of the other rows open, a tenth of those unassigned
with three candidates each; VACUUM ANALYZE after each step). The EXPLAIN ANALYZE of the to-do
query at the largest size is printed, with whether it uses ``flow_task_todo_idx`` and an index of
the candidates on ``staff_id`` (``flow_candidate_unique`` or the foreign key's own index).

Goals (issue 3, stated for 2 cores): at least 100 leave instances per second end to end on
PostgreSQL (the better of the serial and the parallel run); the to-do inbox p95 under 20 ms at 1M
rows, and flat from 10k to 1M (here: the p95 at the largest size at most twice the p95 at 10k, or
at most 2 ms above it). ``--quick`` uses fewer instances and stops at 100k rows (the inbox goals
are then judged at 100k and say so).

Every phase runs in a child process of its own (``--phase``; Django is set up once per process,
with ``MEDOA_ENV=test`` keys, a temporary ``MEDOA_DATA_DIR`` and, for PostgreSQL,
``DATABASE_URL``); the parent prints the one table. Figures depend on what else runs on the
machine: the load average is printed, check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import SpiffWorkflow
from psycopg.types.json import Jsonb
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

sys.path[:] = [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]  # bench/hl7.py would shadow python-hl7

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(__file__).resolve().parent / "flow_models"
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/medoa_bench_flow"
LEAVE_GOAL = 100.0  # leave instances per second on PostgreSQL
INBOX_P95_GOAL_MS = 20.0
FLAT_RATIO = 2.0
FLAT_SLACK_MS = 2.0
SIGNERS = 5
INBOX_MINE_ASSIGNED = 100
INBOX_MINE_CLAIMABLE = 20
INBOX_STAFF = 500
INBOX_INSTANCES = 2000
BATCH = 10_000

FULL = {"spiff": 2000, "leave": 600, "countersign": 200, "rows": [10_000, 100_000, 1_000_000], "reps": 400}
QUICK = {"spiff": 300, "leave": 100, "countersign": 30, "rows": [10_000, 100_000], "reps": 100}
# Indexes of HumanTaskCandidate that start with staff_id: the unique (staff, task) constraint and
# the foreign key's own index on staff_id (the planner may take either).
CANDIDATE_INDEXES = ("flow_candidate_unique", "flow_humantaskcandidate_staff_id")


# --- figures -------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of seconds, in ms (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


@dataclass
class Run:
    """One layer driving one process: wall time and the per-call latencies (seconds)."""

    layer: str
    process: str
    instances: int = 0
    seconds: float = 0.0
    starts: list[float] = field(default_factory=list)
    actions: list[float] = field(default_factory=list)
    queries: int | None = None  # queries of one instance (start + its actions)
    db_seconds: float | None = None  # of ``seconds``, the time spent in cursor.execute
    cpu_seconds: float | None = None  # this process's CPU time over the run (serial runs only)

    def row(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "process": self.process,
            "instances": self.instances,
            "per_second": self.instances / self.seconds if self.seconds else float("nan"),
            "actions": len(self.actions),
            "start_p50": percentile(self.starts, 50),
            "start_p95": percentile(self.starts, 95),
            "action_p50": percentile(self.actions, 50),
            "action_p95": percentile(self.actions, 95),
            "queries": self.queries,
            "db_share": self.db_seconds / self.seconds if self.db_seconds is not None else None,
            "cpu_ms": self.cpu_seconds / self.instances * 1000 if self.cpu_seconds is not None else None,
        }


def leave_days(i: int) -> int:
    """Half the leave requests ask for 2 days (no vice dean), half for 5."""
    return 2 if i % 2 == 0 else 5


def model_xml(name: str) -> str:
    return (MODELS / f"{name}.bpmn").read_text(encoding="utf-8")


def setup_django(data_dir: str, db_url: str | None) -> None:
    os.environ["MEDOA_ENV"] = "test"
    os.environ["MEDOA_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    os.environ.pop("MEDOA_KEY_FILE", None)
    if db_url:
        os.environ["DATABASE_URL"] = db_url
    else:
        os.environ.pop("DATABASE_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.MEDOA_ACCESS_CACHE_SECONDS = 5  # the production default (the test profile turns it off)


def timed(fn: Callable[[], Any], into: list[float]) -> Any:
    """``fn()``, its duration appended to ``into`` (seconds)."""
    started = time.perf_counter()
    result = fn()
    into.append(time.perf_counter() - started)
    return result


def timed_loop(n: int) -> Iterator[int]:
    """range(n), after a full garbage collection (so that the previous layer's garbage is not
    collected on this one's clock)."""
    gc.collect()
    yield from range(n)


# --- phase: SpiffWorkflow and the facade in memory ----------------------------------------------


def phase_spiff(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    setup_django(data_dir, None)
    from medoa.engines.flow.spiff import Workflow, parse_definition

    n = args.spiff_instances
    signers = [f"signer{i + 1}" for i in range(SIGNERS)]
    runs: list[Run] = []

    # 1. stock SpiffWorkflow
    def stock_spec(name: str, process_id: str) -> Any:
        parser = CamundaParser()
        # Stock SpiffWorkflow evaluates the collection attribute as a Python expression.
        parser.add_bpmn_str(model_xml(name).replace("${signers}", "signers").encode())
        return parser.get_spec(process_id)

    stock = {
        "leave": stock_spec("leave", "bench_leave"),
        "countersign": stock_spec("countersign", "bench_countersign"),
    }

    def stock_instance(process: str, i: int, run: Run | None) -> None:
        starts: list[float] = run.starts if run else []
        actions: list[float] = run.actions if run else []
        variables: dict[str, Any] = (
            {"days": leave_days(i), "initiator": "applicant", "applicant": "applicant"}
            if process == "leave"
            else {"signers": signers, "initiator": "applicant"}
        )

        def start() -> Any:
            wf = BpmnWorkflow(stock[process], {})
            wf.get_next_task(state=TaskState.READY).data.update(variables)
            wf.do_engine_steps()
            return wf

        wf = timed(start, starts)
        while not wf.completed:
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]

            def act(task: Any = task, wf: Any = wf) -> None:
                task.data.update(approved=True, comment="ok")
                task.run()
                wf.do_engine_steps()

            timed(act, actions)

    # 2./3. the facade, with and without the state round trip
    parsed = {
        "leave": parse_definition(model_xml("leave")),
        "countersign": parse_definition(model_xml("countersign")),
    }

    def facade_instance(process: str, i: int, run: Run | None, persist: bool) -> None:
        """With ``persist``, every step does what the service layer does around the engine: load
        the state (JSON text → dict → ``Workflow.load``), act, read the ready tasks, dump."""
        starts: list[float] = run.starts if run else []
        actions: list[float] = run.actions if run else []
        definition = parsed[process]
        variables: dict[str, Any] = (
            {"days": leave_days(i), "initiator": "applicant", "applicant": "applicant"}
            if process == "leave"
            else {"signers": signers, "initiator": "applicant"}
        )

        def settle(wf: Any) -> tuple[Any, list[Any]]:
            ready = wf.ready_user_tasks()
            return (json.dumps(wf.dump()) if persist else wf), ready

        saved, ready = timed(lambda: settle(Workflow.start(definition, variables)), starts)
        while ready:

            def act(spiff_id: Any = ready[0].spiff_id, saved: Any = saved) -> tuple[Any, list[Any]]:
                wf = Workflow.load(definition, json.loads(saved)) if persist else saved
                wf.complete_user_task(spiff_id, {"approved": True, "comment": "ok"})
                return settle(wf)

            saved, ready = timed(act, actions)
        wf = Workflow.load(definition, json.loads(saved)) if persist else saved
        if not wf.completed:
            raise SystemExit(f"facade {process}: the instance did not complete")

    layers: list[tuple[str, Callable[[str, int, Run | None], None]]] = [
        ("SpiffWorkflow alone, in memory", stock_instance),
        ("MedOA facade, in memory", lambda p, i, r: facade_instance(p, i, r, False)),
        ("MedOA facade + state dump/load (JSON)", lambda p, i, r: facade_instance(p, i, r, True)),
    ]
    for label, drive in layers:
        for process, count in (("leave", n), ("countersign", max(1, n // 2))):
            for i in range(20):  # warm-up
                drive(process, i, None)
            run = Run(label, process, count)
            started = time.perf_counter()
            for i in timed_loop(count):
                drive(process, i, run)
            run.seconds = time.perf_counter() - started
            runs.append(run)
    return {"runs": [r.row() for r in runs]}


# --- phase: the service layer on a database ------------------------------------------------------


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or "bench" not in name:
        raise SystemExit(f"refusing to drop a database called {name!r} (its name must contain 'bench')")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Hospital:
    admin: Any
    applicants: list[Any]
    head: Any
    vice: Any
    signers: list[Any]
    root: Any
    dept: Any


def make_hospital() -> Hospital:
    """A hospital with one clinical department: a department head, a vice dean at the hospital,
    ten applicants and five signers in the department, an administrator who deploys."""
    from medoa.core.access.policy import forget_principal
    from medoa.core.org.choices import RoleScope
    from medoa.core.org.models import Role, RoleAssignment
    from medoa.core.org.tests.factories import DepartmentFactory, StaffFactory

    root: Any = DepartmentFactory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    dept: Any = DepartmentFactory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=root)

    def person(username: str, *roles: str, at: Any = dept) -> Any:
        staff: Any = StaffFactory(user__username=username, name=username, department=at)
        for code in roles:
            role = Role.objects.get(code=code)
            RoleAssignment.objects.create(
                staff=staff,
                role=role,
                department=staff.department if role.scope == RoleScope.DEPARTMENT else root,
            )
        forget_principal(staff.user)
        return staff

    return Hospital(
        admin=person("bench_admin", "sys_admin", at=root),
        applicants=[person(f"applicant{i + 1}", "nurse") for i in range(10)],
        head=person("head", "dept_head"),
        vice=person("vice", "vice_dean", at=root),
        signers=[person(f"signer{i + 1}", "doctor") for i in range(SIGNERS)],
        root=root,
        dept=dept,
    )


def services_bench(args: argparse.Namespace, label: str) -> tuple[list[Run], Hospital]:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from medoa.engines.flow import services
    from medoa.engines.flow.choices import InstanceStatus, TaskStatus
    from medoa.engines.flow.models import HumanTask, ProcessInstance

    call_command("migrate", interactive=False, verbosity=0)
    hospital = make_hospital()
    services.definition_deploy(actor=hospital.admin.user, xml=model_xml("leave"))
    services.definition_deploy(actor=hospital.admin.user, xml=model_xml("countersign"))
    users = {s.pk: s.user for s in [hospital.head, hospital.vice, *hospital.applicants, *hospital.signers]}
    signer_names = [s.user.username for s in hospital.signers]

    lookups = [0]
    # The instance's open tasks, oldest first: the one indexed query a client needs to find the next
    # task. Written out, so that the figures hold the engine's work and not the ORM building this
    # query (about a fifth of the bench process's CPU time per leave when it did).
    quote = connection.ops.quote_name
    next_task_sql = (
        "SELECT {id}, {assignee}, {step} FROM {table} WHERE {instance} = %s AND {status} = %s ORDER BY {id}"
    ).format(
        table=quote(HumanTask._meta.db_table),
        id=quote("id"),
        assignee=quote("assignee_id"),
        step=quote("task_def_id"),
        instance=quote("instance_id"),
        status=quote("status"),
    )

    def drive(process: str, i: int, run: Run | None) -> int:
        """One instance from start to end; returns its id."""
        applicant = hospital.applicants[i % len(hospital.applicants)]
        key, variables = (
            ("bench_leave", {"days": leave_days(i)})
            if process == "leave"
            else ("bench_countersign", {"signers": signer_names})
        )
        starts: list[float] = run.starts if run else []
        actions: list[float] = run.actions if run else []
        instance = timed(
            lambda: services.instance_start(actor=applicant.user, definition_key=key, variables=variables),
            starts,
        )
        while True:
            lookups[0] += 1
            with connection.cursor() as cursor:
                cursor.execute(next_task_sql, [instance.pk, TaskStatus.OPEN])
                open_tasks = cursor.fetchall()
            if not open_tasks:
                return int(instance.pk)
            task_id, assignee_id, step = open_tasks[0]
            action = "complete" if step == "submit" else "approve"
            actor = users[assignee_id]

            def act(actor: Any = actor, task_id: int = task_id, action: str = action) -> Any:
                return services.task_act(actor=actor, task=task_id, action=action, comment="同意")

            timed(act, actions)

    db_time = [0.0]

    def count_db_time(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db_time[0] += time.perf_counter() - started

    def check_completed(process: str, ids: list[int]) -> None:
        done = ProcessInstance.objects.filter(pk__in=ids, status=InstanceStatus.COMPLETED).count()
        if done != len(ids):
            raise SystemExit(f"{label} {process}: {done} of {len(ids)} instances completed")

    def in_parallel(process: str, count: int, workers: int) -> Run:
        """``count`` instances driven by ``workers`` forked processes (a connection each)."""
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        connection.close()  # never share the parent's connection with the children

        def work(k: int) -> None:
            share = Run(label, process)
            ids = [drive(process, i, share) for i in range(k, count, workers)]
            connection.close()
            queue.put((share.starts, share.actions, ids))

        run = Run(f"{label}, {workers} processes", process, count)
        started = time.perf_counter()
        children = [context.Process(target=work, args=(k,)) for k in range(workers)]
        for child in children:
            child.start()
        ids: list[int] = []
        for _ in children:
            starts, actions, done = queue.get(timeout=3600)
            run.starts += starts
            run.actions += actions
            ids += done
        run.seconds = time.perf_counter() - started
        for child in children:
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"{label} {process}: a worker process failed (exit code {child.exitcode})")
        check_completed(process, ids)
        return run

    runs: list[Run] = []
    for process, count in (("leave", args.leave), ("countersign", args.countersign)):
        for i in range(5):  # warm-up: caches, first queries
            drive(process, i, None)
        lookups[0] = 0
        with CaptureQueriesContext(connection) as captured:
            check_completed(process, [drive(process, 1, None)])  # a 5-day leave (the vice dean path)
        run = Run(label, process, count, queries=len(captured.captured_queries) - lookups[0])
        db_time[0] = 0.0
        with connection.execute_wrapper(count_db_time):
            started, cpu_started = time.perf_counter(), time.process_time()
            ids = [drive(process, i, run) for i in timed_loop(count)]
            run.seconds = time.perf_counter() - started
            run.cpu_seconds = time.process_time() - cpu_started
        run.db_seconds = db_time[0]
        check_completed(process, ids)
        runs.append(run)
        if args.workers > 1:
            runs.append(in_parallel(process, count, args.workers))
    return runs, hospital


def phase_sqlite(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    setup_django(data_dir, None)
    from django.db import connection

    runs, _ = services_bench(args, "MedOA services, SQLite file (WAL)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
    if mode != "wal":
        raise SystemExit(f"the SQLite database is in {mode!r} mode, not WAL")
    return {"runs": [r.row() for r in runs], "sqlite": connection.settings_dict["NAME"]}


# --- phase: PostgreSQL, then the inbox -----------------------------------------------------------


def phase_postgres(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    setup_django(data_dir, args.db_url)
    from django.db import connection

    runs, hospital = services_bench(args, "MedOA services, PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    inbox = inbox_bench(args, hospital)
    return {"runs": [r.row() for r in runs], "pg_version": version, "inbox": inbox}


def inbox_bench(args: argparse.Namespace, hospital: Hospital) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from medoa.core.org.models import Staff
    from medoa.engines.flow import selectors
    from medoa.engines.flow.choices import InstanceStatus, TaskStatus
    from medoa.engines.flow.models import (
        HumanTask,
        HumanTaskCandidate,
        ProcessDefinition,
        ProcessInstance,
    )

    rng = random.Random(20260)
    now = datetime.now(UTC)
    user_model = get_user_model()

    # ~500 staff (bulk: no password hashing), the measured person among them
    existing = Staff.objects.count()
    new_users = [
        user_model(username=f"inbox{i:04d}", password="!unusable") for i in range(INBOX_STAFF - existing)
    ]
    user_model.objects.bulk_create(new_users, batch_size=1000)
    created_users = list(user_model.objects.filter(username__startswith="inbox").order_by("id"))
    Staff.objects.bulk_create(
        [
            Staff(
                user=u, employee_no=f"IB{i:05d}", name=f"职工{i}", department=hospital.dept, title="attending"
            )
            for i, u in enumerate(created_users)
        ],
        batch_size=1000,
    )
    staff_ids = list(Staff.objects.values_list("pk", flat=True))
    me = Staff.objects.select_related("user").get(user__username="inbox0000")
    others = [s for s in staff_ids if s != me.pk]

    # ~2k instances
    definitions = {d.key: d for d in ProcessDefinition.objects.select_related("latest_version")}
    leave = definitions["bench_leave"]
    missing = INBOX_INSTANCES - ProcessInstance.objects.count()
    ProcessInstance.objects.bulk_create(
        [
            ProcessInstance(
                definition=leave,
                version=leave.latest_version,
                title=f"请假 · 职工{i}",
                initiator_id=rng.choice(others),
                initiator_department=hospital.dept,
                status=InstanceStatus.RUNNING if i % 3 else InstanceStatus.COMPLETED,
                state={},
                variables={},
            )
            for i in range(max(0, missing))
        ],
        batch_size=1000,
    )
    instance_ids = list(ProcessInstance.objects.values_list("pk", flat=True))

    fields = [f for f in HumanTask._meta.concrete_fields if f.column != "id"]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.null:
            defaults[str(f.column)] = None
        elif f.get_internal_type() == "JSONField":
            defaults[str(f.column)] = Jsonb(f.get_default())
        else:
            defaults[str(f.column)] = f.get_default()

    def task_row(*, assignee: int | None, open_: bool) -> list[Any]:
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        row = dict(defaults)
        step = rng.choice(("head_approve", "vice_approve", "submit"))
        row.update(
            instance_id=rng.choice(instance_ids),
            spiff_task_id=uuid.uuid4(),
            round=1,
            task_def_id=step,
            name={"head_approve": "科主任审批", "vice_approve": "分管院长审批", "submit": "提交"}[step],
            status=TaskStatus.OPEN if open_ else TaskStatus.COMPLETED,
            outcome="" if open_ else "approved",
            assignee_id=assignee,
            created_at=created,
        )
        if not open_:
            row.update(completed_at=created + timedelta(hours=4), completed_by_id=assignee)
        return [row[str(f.column)] for f in fields]

    def copy_rows(rows: list[list[Any]]) -> None:
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as cursor, cursor.copy(f"COPY flow_humantask ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def add_claimable(count: int, mine: bool) -> None:
        tasks = HumanTask.objects.bulk_create(
            [
                HumanTask(
                    instance_id=rng.choice(instance_ids),
                    spiff_task_id=uuid.uuid4(),
                    task_def_id="head_approve",
                    name="科主任审批",
                    status=TaskStatus.OPEN,
                )
                for _ in range(count)
            ],
            batch_size=1000,
        )
        with connection.cursor() as cursor:  # auto_now_add stamped them all "now": spread them out
            cursor.execute(
                "UPDATE flow_humantask SET created_at = now() - random() * interval '30 days' "
                "WHERE id = ANY(%s)",
                [[t.pk for t in tasks]],
            )
        candidates = []
        for task in tasks:
            people = rng.sample(others, 3 if not mine else 2)
            if mine:
                people.append(me.pk)
            candidates += [HumanTaskCandidate(task_id=task.pk, staff_id=p) for p in people]
        HumanTaskCandidate.objects.bulk_create(candidates, batch_size=BATCH)

    # the measured person's own work (the same at every size)
    copy_rows([task_row(assignee=me.pk, open_=True) for _ in range(INBOX_MINE_ASSIGNED)])
    add_claimable(INBOX_MINE_CLAIMABLE, mine=True)

    results: list[dict[str, Any]] = []
    explain = ""
    for target in args.rows:
        load_started = time.perf_counter()
        while (have := HumanTask.objects.count()) < target:
            batch = min(BATCH, target - have)
            open_count = batch // 20  # 5 % of the rows are open tasks
            claimable = open_count // 10  # a tenth of those are unassigned, with three candidates
            rows = [task_row(assignee=rng.choice(others), open_=True) for _ in range(open_count - claimable)]
            rows += [task_row(assignee=rng.choice(others), open_=False) for _ in range(batch - open_count)]
            copy_rows(rows)
            if claimable:
                add_claimable(claimable, mine=False)
        with connection.cursor() as cursor:
            # VACUUM too: what autovacuum would soon do after a bulk load anyway, so that it does
            # not do it in the middle of the measurement. Then fresh statistics everywhere.
            cursor.execute("VACUUM (ANALYZE) flow_humantask, flow_humantaskcandidate")
            cursor.execute("ANALYZE")
            cursor.execute("SELECT pg_total_relation_size('flow_humantask')")
            size = cursor.fetchone()[0]
        load_seconds = time.perf_counter() - load_started

        user = user_model.objects.get(pk=me.user_id)  # a fresh object: its principal loads once
        todo: list[float] = []
        counts: list[float] = []
        for _ in range(20):  # warm-up
            list(selectors.task_inbox(user=user, box="todo")[:20])
            selectors.inbox_counts(user=user)
        with CaptureQueriesContext(connection) as captured:
            page = list(selectors.task_inbox(user=user, box="todo")[:20])
        todo_queries = len(captured.captured_queries)
        with CaptureQueriesContext(connection) as captured:
            numbers = selectors.inbox_counts(user=user)
        counts_queries = len(captured.captured_queries)
        expected_page = sorted(
            HumanTask.objects.filter(selectors.todo_q(me.pk)).values_list("created_at", "id"), reverse=True
        )[:20]
        if [(t.created_at, t.pk) for t in page] != expected_page:
            raise SystemExit("the to-do page is not the newest 20 open tasks of the person")

        def todo_page(user: Any = user) -> list[Any]:
            return list(selectors.task_inbox(user=user, box="todo")[:20])

        def counts_of(user: Any = user) -> dict[str, int]:
            return selectors.inbox_counts(user=user)

        for _ in timed_loop(args.reps):
            timed(todo_page, todo)
            timed(counts_of, counts)
        results.append(
            {
                "rows": HumanTask.objects.count(),
                "open": HumanTask.objects.filter(status=TaskStatus.OPEN).count(),
                "candidates": HumanTaskCandidate.objects.count(),
                "instances": len(instance_ids),
                "staff": len(staff_ids),
                "mine": numbers["todo"],
                "page": len(page),
                "load_seconds": load_seconds,
                "size_mb": size / 2**20,
                "todo_p50": percentile(todo, 50),
                "todo_p95": percentile(todo, 95),
                "todo_queries": todo_queries,
                "counts_p50": percentile(counts, 50),
                "counts_p95": percentile(counts, 95),
                "counts_queries": counts_queries,
            }
        )
        explain = selectors.task_inbox(user=user, box="todo")[:20].explain(analyze=True, buffers=True)
    return {"levels": results, "explain": explain}


# --- the parent: run the phases, print the table ------------------------------------------------


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all CPUs; /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return float("nan")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_phase(name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix=f"medoa-bench-flow-{name}-")
    out = Path(data_dir) / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--data-dir", data_dir]
    argv += ["--out", str(out), *extra]
    started = time.monotonic()
    busy, own = machine_busy_seconds(), children_cpu_seconds()
    print(f"  {name} … (load average {load_average()})", flush=True)
    try:
        result = subprocess.run(argv, env=env, cwd=ROOT, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the {name} phase failed (exit code {result.returncode})")
        data: dict[str, Any] = json.loads(out.read_text())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    seconds = time.monotonic() - started
    data["cpu"] = {
        "seconds": seconds,
        "machine": (machine_busy_seconds() - busy) / seconds,
        "bench": (children_cpu_seconds() - own) / seconds,
    }
    print(f"  {name}: {seconds:.0f} s", flush=True)
    return data


def fmt_ms(value: float) -> str:
    return "—" if value != value else f"{value:.2f}"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, load_before: str) -> bool:
    runs = [r for phase in ("spiff", "sqlite", "postgres") for r in results[phase]["runs"]]
    pg = results["postgres"]
    print()
    print(
        f"MedOA process-engine benchmark — SpiffWorkflow {getattr(SpiffWorkflow, '__version__', '?')}, "
        f"Python {platform.python_version()}, PostgreSQL {pg['pg_version']}, {os.cpu_count()} CPUs; "
        f"{'--quick' if args.quick else 'full run'}; load average {load_before} at the start, "
        f"{load_average()} at the end"
    )
    cpu = ", ".join(
        f"{phase} {used['machine']:.2f} ({used['bench']:.2f} the bench's Python)"
        for phase, used in ((phase, results[phase]["cpu"]) for phase in ("spiff", "sqlite", "postgres"))
    )
    print(
        f"CPUs busy during each phase, of {os.cpu_count()}: {cpu}; the rest is PostgreSQL and anything else"
    )
    print(
        "Leave: submit → head → vice dean when days > 3 (half 2 days: 2 actions, half 5 days: 3 actions); "
        f"countersign: {SIGNERS} parallel shares, all approve (5 actions)."
    )
    print()
    width = max(len(r["layer"]) for r in runs) + 2
    header = (
        f"{'layer':<{width}}{'process':<13}{'inst':>6}{'inst/s':>9}{'actions':>9}"
        f"{'start p50':>11}{'p95':>8}{'action p50':>12}{'p95':>8}{'queries':>9}{'in db':>7}{'CPU ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for process in ("leave", "countersign"):
        for r in (r for r in runs if r["process"] == process):
            queries = "" if r["queries"] is None else str(r["queries"])
            share = "" if r["db_share"] is None else f"{r['db_share']:.0%}"
            cpu = "" if r.get("cpu_ms") is None else f"{r['cpu_ms']:.1f}"
            print(
                f"{r['layer']:<{width}}{r['process']:<13}{r['instances']:>6}{r['per_second']:>9.1f}"
                f"{r['actions']:>9}{fmt_ms(r['start_p50']):>11}{fmt_ms(r['start_p95']):>8}"
                f"{fmt_ms(r['action_p50']):>12}{fmt_ms(r['action_p95']):>8}{queries:>9}{share:>7}{cpu:>8}"
            )
        print()
    print(
        "  times in ms. inst/s: end to end (start + finding the instance's open task + every action), "
        "one instance after the other on one\n  connection, or spread over N forked processes with a "
        "connection each. queries: one 5-day leave / one countersign\n  (start + actions, without the "
        "bench's look-ups). in db: share of the wall time spent inside cursor.execute (round\n  trips "
        "and the server's work); the rest is Python (Django ORM, services, SpiffWorkflow). CPU ms: the\n  "
        "bench process's own CPU time per instance in the serial run (the database server's is not in it)."
    )
    print()
    levels = pg["inbox"]["levels"]
    print(
        'To-do inbox on PostgreSQL: list(task_inbox(user=me, box="todo")[:20]) and inbox_counts(user=me), '
        f"{args.reps} calls each"
    )
    header = (
        f"{'task rows':>10}{'open':>9}{'cand.':>8}{'inst':>6}{'staff':>6}{'my todo':>8}{'MB':>7}"
        f"{'todo p50':>10}{'p95':>8}{'q':>3}{'counts p50':>12}{'p95':>8}{'q':>3}{'load s':>8}"
    )
    print(header)
    print("-" * len(header))
    for lv in levels:
        print(
            f"{lv['rows']:>10,}{lv['open']:>9,}{lv['candidates']:>8,}{lv['instances']:>6}{lv['staff']:>6}"
            f"{lv['mine']:>8}{lv['size_mb']:>7.0f}{fmt_ms(lv['todo_p50']):>10}{fmt_ms(lv['todo_p95']):>8}"
            f"{lv['todo_queries']:>3}{fmt_ms(lv['counts_p50']):>12}{fmt_ms(lv['counts_p95']):>8}"
            f"{lv['counts_queries']:>3}{lv['load_seconds']:>8.1f}"
        )
    explain = pg["inbox"]["explain"]
    print()
    print(f"EXPLAIN (ANALYZE, BUFFERS) of the to-do page at {levels[-1]['rows']:,} rows:")
    for line in explain.splitlines():
        print(f"  {line}")

    verdict = {True: "PASS", False: "FAIL"}
    checks: list[bool] = []
    print()
    print("Goals (issue 3, stated for 2 cores):")
    leave_pg = max((r for r in pg["runs"] if r["process"] == "leave"), key=lambda r: r["per_second"])
    ok = leave_pg["per_second"] >= LEAVE_GOAL
    checks.append(ok)
    print(
        f"  ≥ {LEAVE_GOAL:.0f} leave instances/s end to end on PostgreSQL: "
        f"{leave_pg['per_second']:.1f}/s ({leave_pg['layer']})  {verdict[ok]}"
    )
    first, last = levels[0], levels[-1]
    judged = f"at {last['rows']:,} rows" + (" (--quick: not 1M)" if last["rows"] < 1_000_000 else "")
    ok = last["todo_p95"] < INBOX_P95_GOAL_MS
    checks.append(ok)
    print(
        f"  to-do inbox p95 < {INBOX_P95_GOAL_MS:.0f} ms {judged}: {last['todo_p95']:.2f} ms  {verdict[ok]}"
    )
    trend = " → ".join(f"{lv['todo_p95']:.2f}" for lv in levels)
    limit = max(first["todo_p95"] * FLAT_RATIO, first["todo_p95"] + FLAT_SLACK_MS)
    ok = last["todo_p95"] <= limit
    checks.append(ok)
    print(
        f"  flat from {first['rows']:,} to {last['rows']:,} rows (p95 ≤ max(×{FLAT_RATIO:g}, "
        f"+{FLAT_SLACK_MS:g} ms) of {first['todo_p95']:.2f} ms = {limit:.2f} ms): "
        f"{trend} ms  {verdict[ok]}"
    )
    uses_todo = "flow_task_todo_idx" in explain
    used = [name for name in CANDIDATE_INDEXES if name in explain]
    ok = uses_todo and bool(used)
    checks.append(ok)
    print(
        f"  the plan uses flow_task_todo_idx ({'yes' if uses_todo else 'NO'}) and an index of the "
        f"candidates on staff_id ({', '.join(used) or 'NO'})  {verdict[ok]}"
    )
    claimable = re.search(
        r"Bitmap Heap Scan on flow_humantask u0_1.*?actual time=\S+ rows=(\d+)", explain, re.S
    )
    if claimable:
        print(
            f"  note: the claimable half reads every open unassigned task ({int(claimable.group(1)):,} rows "
            "here) and hash-joins them with the person's candidate rows; that part grows with the table"
        )
    return all(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer instances, at most 100k task rows")
    parser.add_argument("--spiff-instances", type=int, help="leave instances per in-memory layer")
    parser.add_argument("--leave", type=int, help="leave instances per database")
    parser.add_argument("--countersign", type=int, help="countersign instances per database")
    parser.add_argument("--rows", help="comma-separated HumanTask table sizes (default 10000,100000,1000000)")
    parser.add_argument("--reps", type=int, help="inbox calls measured per size")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes of the parallel service runs (default 2; 1: none)"
    )
    parser.add_argument(
        "--db-url", default=DEFAULT_DB_URL, help=f"database to recreate (default {DEFAULT_DB_URL})"
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the PostgreSQL database in place")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--phase", choices=["spiff", "sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    args.spiff_instances = args.spiff_instances or preset["spiff"]
    args.leave = args.leave or preset["leave"]
    args.countersign = args.countersign or preset["countersign"]
    args.rows = [int(x) for x in args.rows.split(",")] if args.rows else preset["rows"]
    args.reps = args.reps or preset["reps"]

    if args.phase:
        phase = {"spiff": phase_spiff, "sqlite": phase_sqlite, "postgres": phase_postgres}[args.phase]
        data = phase(args, args.data_dir)
        Path(args.out).write_text(json.dumps(data))
        return 0

    extra = [f"--spiff-instances={args.spiff_instances}", f"--leave={args.leave}"]
    extra += [f"--countersign={args.countersign}", f"--rows={','.join(map(str, args.rows))}"]
    extra += [f"--reps={args.reps}", f"--db-url={args.db_url}", f"--workers={args.workers}"]
    load_before = load_average()
    print(f"MedOA flow benchmark (load average {load_before}) …", flush=True)
    results: dict[str, dict[str, Any]] = {}
    results["spiff"] = run_phase("spiff", args, extra)
    results["sqlite"] = run_phase("sqlite", args, extra)
    recreate_database(args.db_url)
    try:
        results["postgres"] = run_phase("postgres", args, extra)
    finally:
        if not args.keep_db:
            recreate_database(args.db_url, drop_only=True)
    passed = report(results, args, load_before)
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
