"""Every operation of the process engine through the service layer, on the BPMN models in bpmn/."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone, translation

from medoa.core.audit.models import AuditEntry
from medoa.core.notify.models import Notification
from medoa.core.org.tests.factories import DelegationFactory
from medoa.engines.flow import attachments, services
from medoa.engines.flow.choices import InstanceStatus
from medoa.engines.flow.errors import FlowConflict, FlowInputError, FlowNotFound, FlowPermissionDenied
from medoa.engines.flow.models import (
    HumanTask,
    ProcessAttachment,
    ProcessDefinition,
    ProcessDraft,
    ProcessEvent,
    ProcessInstance,
    ProcessVersion,
    TaskCopy,
    TimerStartSchedule,
)
from medoa.engines.flow.spiff import DefinitionInvalid, clear_definition_cache

from . import files
from .conftest import bpmn, kinds, open_steps, open_task, snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def act(staff: Any, task: HumanTask, action: str, **kw: Any) -> HumanTask:
    return services.task_act(actor=staff.user, task=task, action=action, **kw)


def refreshed(instance: ProcessInstance) -> ProcessInstance:
    instance.refresh_from_db()
    return instance


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


@pytest.fixture
def leave(deploy: Any, start: Any, people: SimpleNamespace) -> Any:
    """A leave request of ``days`` days by the nurse, submitted (waiting for the department head)."""
    deploy("svc_leave")

    def make(days: int = 5) -> ProcessInstance:
        instance = start("svc_leave", days=days)
        act(people.nurse, open_task(instance, "submit"), "complete", variables={"reason": "flu"})
        return instance

    return make


# --- deploy --------------------------------------------------------------------------------------


def test_deploy_makes_a_new_version_per_deploy(deploy: Any, people: SimpleNamespace) -> None:
    first = deploy("svc_review")
    second = deploy("svc_review_v2", key="svc_review")

    definition = ProcessDefinition.objects.get(key="svc_review")
    assert (first.version, second.version) == (1, 2)
    assert definition.latest_version == second
    assert definition.name == "Two-step review"
    assert second.metadata["user_tasks"]["hr_record"]["candidate_groups"] == ["hr"]
    assert len(second.checksum) == 64
    assert audit_actions() == ["flow.definition.deployed", "flow.definition.deployed"]


def test_a_version_id_reused_after_a_rollback_does_not_get_the_old_spec(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    # given a version deployed and started (its spec cached), then rolled back
    with pytest.raises(_RolledBack), transaction.atomic():
        rolled_back = deploy("svc_review")
        start("svc_review", topic="new bed")
        raise _RolledBack
    # when another model is deployed (SQLite hands out the same id again)
    version = deploy("svc_leave")
    if connection.vendor == "sqlite":
        assert version.pk == rolled_back.pk

    # then its instances run on its own spec
    instance = start("svc_leave", days=2)
    assert open_steps(instance) == [("submit", "nurse")]


class _RolledBack(Exception):
    pass


def test_deploy_refuses_bad_xml_and_writes_nothing(people: SimpleNamespace) -> None:
    with pytest.raises(DefinitionInvalid) as err:
        services.definition_deploy(actor=people.admin.user, xml=b"<bpmn:definitions")

    assert err.value.problems
    assert (
        ProcessDefinition.objects.count(),
        ProcessVersion.objects.count(),
        AuditEntry.objects.count(),
    ) == (0, 0, 0)


def test_deploy_refuses_a_key_that_is_not_a_slug(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        services.definition_deploy(actor=people.admin.user, xml=bpmn("svc_review"), key="两步 审核")

    assert err.value.field == "key"
    assert ProcessDefinition.objects.count() == 0


def test_deploy_needs_the_design_permission(people: SimpleNamespace) -> None:
    with pytest.raises(FlowPermissionDenied):
        services.definition_deploy(actor=people.nurse.user, xml=bpmn("svc_review"))

    assert ProcessDefinition.objects.count() == 0


def test_deploy_of_a_timer_start_schedules_it(deploy: Any) -> None:
    before = timezone.now()
    version = deploy("svc_timer_start")

    schedule = TimerStartSchedule.objects.get()
    assert (schedule.version, schedule.period, schedule.remaining) == (version, "PT1H", 2)
    assert schedule.next_fire_at is not None
    assert (
        before + datetime.timedelta(hours=1)
        <= schedule.next_fire_at
        <= timezone.now() + datetime.timedelta(hours=1)
    )


def test_draft_save_keeps_one_draft_per_key(people: SimpleNamespace) -> None:
    services.draft_save(actor=people.admin.user, key="leave", xml="<a/>", name="请假")
    services.draft_save(actor=people.admin.user, key="leave", xml="<b/>")

    assert list(ProcessDraft.objects.values_list("key", "bpmn_xml")) == [("leave", "<b/>")]
    with pytest.raises(FlowPermissionDenied):
        services.draft_save(actor=people.nurse.user, key="leave", xml="<c/>")


# --- start and the happy paths -------------------------------------------------------------------


def test_start_creates_the_first_task_history_and_audit(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_leave")

    instance = start("svc_leave", days=5)

    instance = refreshed(instance)
    assert (instance.status, instance.initiator, instance.initiator_department) == (
        InstanceStatus.RUNNING,
        people.nurse,
        people.nurse.department,
    )
    assert instance.variables == {"days": 5, "initiator": "nurse", "applicant": "nurse"}
    assert instance.revision == 1
    assert instance.title == f"Leave request · {people.nurse.name}"
    assert open_steps(instance) == [("submit", "nurse")]
    assert kinds(instance) == ["started", "task_created"]
    assert audit_actions() == ["flow.definition.deployed", "flow.instance.started"]
    assert Notification.objects.filter(recipient=people.nurse.user, kind="flow.task").count() == 1


def test_start_refuses_bad_variables_and_unknown_keys(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_leave")

    with pytest.raises(FlowInputError) as err:
        services.instance_start(actor=people.nurse.user, definition_key="svc_leave", variables={"1bad": 1})
    assert err.value.field == "variables.1bad"
    with pytest.raises(FlowInputError):
        services.instance_start(actor=people.nurse.user, definition_key="svc_leave", variables=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(FlowNotFound):
        services.instance_start(actor=people.nurse.user, definition_key="nope", variables={})
    assert ProcessInstance.objects.count() == 0


def test_start_of_an_inactive_definition_is_a_conflict(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_leave")
    ProcessDefinition.objects.update(is_active=False)

    with pytest.raises(FlowConflict):
        services.instance_start(actor=people.nurse.user, definition_key="svc_leave", variables={})


def test_a_gateway_error_is_an_input_error_and_nothing_changes(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_leave")
    instance = start("svc_leave")  # no "days": the gateway after the head cannot decide
    act(people.nurse, open_task(instance), "complete")
    task = open_task(instance)
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "approve")

    assert "head_approve" in str(err.value.message) or "gw" in str(err.value.message)
    assert snapshot() == before


def test_leave_approved_by_head_and_vice_dean(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=5)

    act(people.head, open_task(instance), "approve", comment="同意")
    assert open_steps(instance) == [("vice_approve", "vice")]
    act(people.vice, open_task(instance), "approve")

    instance = refreshed(instance)
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, "approved")
    assert instance.ended_at is not None and instance.next_due_at is None
    assert instance.variables["approved"] is True and instance.variables["reason"] == "flu"
    assert kinds(instance) == [
        "started",
        "task_created",
        "completed",
        "task_created",
        "approved",
        "task_created",
        "approved",
        "ended",
    ]
    approved = ProcessEvent.objects.filter(instance=instance, kind="approved").order_by("id").first()
    assert approved is not None
    assert (approved.actor, approved.comment, approved.step_id) == (people.head, "同意", "head_approve")
    assert approved.duration_seconds is not None and approved.duration_seconds >= 0
    head_task = HumanTask.objects.get(instance=instance, task_def_id="head_approve")
    assert (head_task.status, head_task.outcome, head_task.completed_by) == (
        "completed",
        "approved",
        people.head,
    )
    assert audit_actions()[-3:] == ["flow.task.completed", "flow.task.approved", "flow.task.approved"]


def test_short_leave_ends_after_the_head(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)

    act(people.head, open_task(instance), "approve")

    assert refreshed(instance).outcome == "approved"
    assert open_steps(instance) == []


def test_reject_sets_approved_false_and_the_model_decides(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=5)

    act(people.head, open_task(instance), "reject", comment="人手不足")

    instance = refreshed(instance)
    assert (instance.status, instance.outcome, instance.variables["approved"]) == (
        "completed",
        "rejected",
        False,
    )
    assert instance.variables["comment"] == "人手不足"


def test_comment_attachments_are_kept_with_the_history(
    leave: Any, people: SimpleNamespace, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    instance = leave()
    upload = SimpleUploadedFile("证明.pdf", b"%PDF-1.4 test", content_type="application/pdf")

    act(people.head, open_task(instance), "approve", comment="见附件", attachments=[upload])

    attachment = ProcessAttachment.objects.get()
    assert (attachment.name, attachment.size, attachment.content_type) == ("证明.pdf", 13, "application/pdf")
    assert (attachment.event.kind, attachment.event.comment, attachment.uploaded_by) == (
        "approved",
        "见附件",
        people.head,
    )
    # stored under MEDIA_ROOT with a random name; the person's name is only in the row
    stored = Path(attachment.file.path)
    assert stored.is_relative_to(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", stored.name)
    assert stored.read_bytes() == b"%PDF-1.4 test"


@pytest.mark.parametrize("extension", sorted(files.GOOD))
def test_every_allowed_kind_of_file_can_be_attached(
    leave: Any, people: SimpleNamespace, settings: Any, tmp_path: Any, extension: str
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    instance = leave()

    act(people.head, open_task(instance), "approve", attachments=[files.good(extension, "../../etc/意见")])

    attachment = ProcessAttachment.objects.get()
    assert attachment.name == f"意见.{extension}"
    assert attachment.content_type == attachments.CONTENT_TYPES[extension]
    assert Path(attachment.file.path).read_bytes() == files.GOOD[extension]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "tool.exe",
            b"MZ\x90",
            "“tool.exe” cannot be attached: only PDF, PNG, JPG, DOCX, XLSX, DOC, XLS and TXT files can.",
        ),
        (
            "noext",
            b"%PDF-1.4",
            "“noext” cannot be attached: only PDF, PNG, JPG, DOCX, XLSX, DOC, XLS and TXT files can.",
        ),
        (
            "page.pdf",
            b"<html>",
            "“page.pdf” is not a real PDF file: its content does not match its extension.",
        ),
        (
            "photo.png",
            files.JPEG,
            "“photo.png” is not a real PNG file: its content does not match its extension.",
        ),
        (
            "photo.jpg",
            files.PNG,
            "“photo.jpg” is not a real JPG file: its content does not match its extension.",
        ),
        (
            "sheet.xlsx",
            files.DOCX,
            "“sheet.xlsx” is not a real XLSX file: its content does not match its extension.",
        ),
        (
            "letter.docx",
            b"PK\x03\x04 not a zip",
            "“letter.docx” is not a real DOCX file: its content does not match its extension.",
        ),
        ("old.doc", files.PDF, "“old.doc” is not a real DOC file: its content does not match its extension."),
        (
            "old.xls",
            files.DOCX,
            "“old.xls” is not a real XLS file: its content does not match its extension.",
        ),
        (
            "notes.txt",
            "备注".encode("gbk"),
            "“notes.txt” is not a real TXT file: its content does not match its extension.",
        ),
        ("empty.txt", b"", "“empty.txt” is empty."),
        ("big.txt", b"a" * (10 * 1024 * 1024 + 1), "“big.txt” is larger than 10 MB."),
    ],
)
def test_attachments_are_checked_by_the_service_and_nothing_changes(
    leave: Any, people: SimpleNamespace, settings: Any, tmp_path: Any, name: str, content: bytes, message: str
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    instance = leave()
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        act(people.head, open_task(instance), "approve", attachments=[files.upload(name, content)])

    assert (err.value.field, str(err.value.message)) == ("attachments", message)
    assert [(f, str(m)) for f, m in err.value.errors] == [("attachments", message)]
    assert snapshot() == before
    assert ProcessAttachment.objects.count() == 0
    assert list(tmp_path.rglob("*.*")) == []


def test_at_most_ten_attachments(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        act(
            people.head,
            open_task(instance),
            "approve",
            attachments=[files.good("txt", f"n{i}") for i in range(11)],
        )

    assert str(err.value.message) == "At most 10 attachments per comment."
    assert snapshot() == before


# --- who may act: denials change nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["approve", "reject", "complete", "return", "transfer", "add_signer", "unclaim"]
)
def test_someone_else_cannot_handle_the_task(leave: Any, people: SimpleNamespace, action: str) -> None:
    instance = leave()
    task = open_task(instance)
    before = snapshot()

    with pytest.raises(FlowPermissionDenied):
        act(people.outsider, task, action, to_user="dean", position="before")

    assert snapshot() == before


def test_second_approval_of_a_finished_task_is_a_conflict(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=5)
    task = open_task(instance)
    act(people.head, task, "approve")
    before = snapshot()

    with pytest.raises(FlowConflict) as err:
        act(people.head, task, "approve")

    assert str(err.value.message) == "This task was already handled by someone else."
    assert snapshot() == before


def test_unknown_action_and_bad_input_change_nothing(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()
    task = open_task(instance)
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "explode")
    assert err.value.field == "action"
    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "approve", comment="x" * 5000)
    assert err.value.field == "comment"
    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "transfer", to_user="ghost")
    assert err.value.field == "to_user"
    with pytest.raises(FlowNotFound):
        services.task_act(actor=people.head.user, task=999999, action="approve")
    assert snapshot() == before


# --- candidates: claim and unclaim ---------------------------------------------------------------


def test_candidate_task_must_be_claimed_before_a_transfer(
    deploy: Any, start: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    second = person("medical_affairs", department=hospital.ma, username="ma2")
    deploy("svc_message_start")
    result = services.message_correlate(actor=people.admin.user, name="referral", variables={"patient": "P1"})
    instance = result.started[0]
    task = open_task(instance)
    assert task.assignee is None
    assert sorted(task.candidates.values_list("staff__user__username", flat=True)) == ["ma", "ma2"]
    before = snapshot()

    with pytest.raises(FlowPermissionDenied) as err:
        act(people.ma, task, "transfer", to_user="ma2")
    assert str(err.value.message) == "Claim this task before acting on it."
    assert snapshot() == before

    act(people.ma, task, "claim")
    with pytest.raises(FlowConflict) as conflict:
        act(second, task, "claim")
    assert str(conflict.value.message) == "Someone else has already claimed this task."
    with pytest.raises(FlowPermissionDenied):
        act(people.outsider, task, "claim")

    act(people.ma, task, "unclaim")
    task.refresh_from_db()
    assert task.assignee is None
    act(second, task, "claim")
    act(second, task, "complete")
    assert refreshed(instance).status == "completed"
    assert kinds(instance)[-5:] == ["claimed", "unclaimed", "claimed", "completed", "ended"]


def test_a_candidate_approves_an_unclaimed_task_and_claims_it_on_the_way(
    deploy: Any, start: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    # given a referral task waiting for either of two medical-affairs officers
    second = person("medical_affairs", department=hospital.ma, username="ma2")
    deploy("svc_message_start")
    instance = services.message_correlate(actor=None, name="referral", variables={}).started[0]
    task = open_task(instance)
    assert task.assignee is None

    # when one of them completes it without claiming
    act(people.ma, task, "complete", comment="已安排")

    # then the task was claimed by them and completed, both in the history, in one transaction
    task.refresh_from_db()
    assert (task.assignee, task.completed_by, task.status) == (people.ma, people.ma, "completed")
    claimed = ProcessEvent.objects.get(instance=instance, kind="claimed")
    assert (claimed.actor, claimed.task, claimed.data) == (people.ma, task, {"implicit": True})
    assert kinds(instance)[-3:] == ["claimed", "completed", "ended"]
    assert audit_actions()[-1] == "flow.task.completed"
    assert AuditEntry.objects.order_by("seq").last().details["claimed"] is True
    # and the other candidate finds it handled
    before = snapshot()
    with pytest.raises(FlowConflict):
        act(second, task, "complete")
    assert snapshot() == before


def test_a_candidate_may_not_return_an_unclaimed_task(
    deploy: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    person("medical_affairs", department=hospital.ma, username="ma2")
    deploy("svc_message_start")
    instance = services.message_correlate(actor=None, name="referral", variables={}).started[0]
    before = snapshot()

    with pytest.raises(FlowPermissionDenied) as err:
        act(people.ma, open_task(instance), "return")

    assert str(err.value.message) == "Claim this task before acting on it."
    assert snapshot() == before


def test_batch_approve_claims_candidate_tasks(
    leave: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    # given two long leave requests waiting for either of two vice deans
    person("vice_dean", department=hospital.root, username="vice2")
    first, second = leave(days=5), leave(days=5)
    for instance in (first, second):
        act(people.head, open_task(instance), "approve")
    tasks = [open_task(first, "vice_approve"), open_task(second, "vice_approve")]
    assert [t.assignee for t in tasks] == [None, None]

    # when one vice dean approves both at once
    results = services.tasks_batch_approve(actor=people.vice.user, task_ids=[t.pk for t in tasks])

    # then both succeed, each claimed by them
    assert [(r.task_id, r.ok) for r in results] == [(tasks[0].pk, True), (tasks[1].pk, True)]
    for instance in (first, second):
        assert refreshed(instance).outcome == "approved"
        assert kinds(instance)[-3:] == ["claimed", "approved", "ended"]
    assert HumanTask.objects.filter(pk__in=[t.pk for t in tasks], assignee=people.vice).count() == 2


def test_an_assigned_task_cannot_be_unclaimed(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()

    with pytest.raises(FlowInputError):
        act(people.head, open_task(instance), "unclaim")


# --- return (退回) -------------------------------------------------------------------------------


def test_return_to_a_completed_step_gives_it_back_to_its_assignee(
    leave: Any, people: SimpleNamespace
) -> None:
    instance = leave(days=5)
    act(people.head, open_task(instance), "approve", variables={"note": "ok"})
    vice_task = open_task(instance)

    act(people.vice, vice_task, "return", to_step="head_approve", comment="请补充材料")

    vice_task.refresh_from_db()
    assert (vice_task.status, vice_task.completed_by) == ("returned", people.vice)
    again = open_task(instance)
    assert (again.task_def_id, again.assignee, again.round) == ("head_approve", people.head, 2)
    variables = refreshed(instance).variables
    assert (
        variables["reason"],
        variables["note"],
        variables["returned_from"],
        variables["return_comment"],
    ) == (
        "flu",
        "ok",
        "vice_approve",
        "请补充材料",
    )
    assert audit_actions()[-1] == "flow.task.returned"
    act(people.head, again, "approve")
    assert open_steps(instance) == [("vice_approve", "vice")]


def test_return_to_the_initiator_goes_back_to_the_submit_step(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()
    head_task = open_task(instance)

    act(people.head, head_task, "return")

    back = open_task(instance)
    assert (back.task_def_id, back.assignee, back.round) == ("submit", people.nurse, 2)
    act(people.nurse, back, "complete", variables={"reason": "flu, with a note"})
    assert open_steps(instance) == [("head_approve", "head")]
    assert refreshed(instance).variables["reason"] == "flu, with a note"


def test_return_to_a_step_that_is_not_completed_is_refused(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=5)
    task = open_task(instance)
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "return", to_step="vice_approve")

    assert err.value.field == "to_step"
    assert snapshot() == before


def test_return_to_the_initiator_without_a_submit_step_makes_a_resubmit_task(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_review")
    instance = start("svc_review", topic="new bed")
    act(people.head_nurse, open_task(instance), "approve")
    second = open_task(instance)

    act(people.head, second, "return", comment="再想想")

    resubmit = open_task(instance)
    assert (resubmit.signer_position, resubmit.assignee, resubmit.task_def_id) == (
        "resubmit",
        people.nurse,
        "first_review",
    )
    second.refresh_from_db()
    assert second.status == "returned"
    with pytest.raises(FlowInputError):
        act(people.nurse, resubmit, "return")

    act(people.nurse, resubmit, "complete", variables={"topic": "two beds"})

    first = open_task(instance)
    assert (first.task_def_id, first.assignee, first.round) == ("first_review", people.head_nurse, 2)
    assert refreshed(instance).variables["topic"] == "two beds"


def test_return_from_the_first_step_to_the_initiator_carries_the_resubmitted_data(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_review")
    instance = start("svc_review", topic="new bed")

    act(people.head_nurse, open_task(instance), "return")
    act(people.nurse, open_task(instance), "complete", variables={"topic": "two beds"})
    first = open_task(instance)
    assert (first.task_def_id, first.round, first.data["carry"]["topic"]) == ("first_review", 2, "two beds")
    act(people.head_nurse, first, "approve")

    assert refreshed(instance).variables["topic"] == "two beds"
    assert open_steps(instance) == [("second_review", "head")]


# --- withdraw (撤回) -----------------------------------------------------------------------------


def test_withdraw_goes_back_to_the_initiators_step_while_untouched(
    leave: Any, people: SimpleNamespace
) -> None:
    instance = leave()
    head_task = open_task(instance)

    act(people.nurse, head_task, "withdraw", comment="写错了")

    head_task.refresh_from_db()
    assert head_task.status == "withdrawn"
    assert open_steps(instance) == [("submit", "nurse")]
    assert refreshed(instance).status == "running"
    assert audit_actions()[-1] == "flow.instance.withdrawn"


def test_withdraw_is_refused_once_the_next_step_acted(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=5)
    act(people.head, open_task(instance), "approve")
    before = snapshot()

    with pytest.raises(FlowConflict):
        act(people.nurse, open_task(instance), "withdraw")
    with pytest.raises(FlowPermissionDenied):
        act(people.head, open_task(instance), "withdraw")
    assert snapshot() == before


def test_withdraw_without_an_initiator_step_ends_the_instance(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_review")
    instance = start("svc_review")

    act(people.nurse, open_task(instance), "withdraw")

    instance = refreshed(instance)
    assert (instance.status, instance.ended_at is not None) == ("withdrawn", True)
    assert HumanTask.objects.get(instance=instance).status == "withdrawn"


# --- transfer (转办) -----------------------------------------------------------------------------


def test_transfer_hands_the_task_to_someone_else_with_history(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)

    new = act(people.head, task, "transfer", to_user="dean", comment="院长定")

    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("transferred", people.head)
    assert (new.assignee, new.round, new.spiff_task_id) == (people.dean, 2, task.spiff_task_id)
    event = ProcessEvent.objects.get(instance=instance, kind="transferred")
    assert (event.actor, event.comment, event.data["to"]) == (people.head, "院长定", people.dean.name)
    with pytest.raises(FlowPermissionDenied):
        act(people.head, new, "approve")
    act(people.dean, new, "approve")
    assert refreshed(instance).outcome == "approved"


def test_transfer_to_oneself_is_refused(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()

    with pytest.raises(FlowInputError):
        act(people.head, open_task(instance), "transfer", to_user="head")


# --- add signer (加签) ---------------------------------------------------------------------------


def test_signer_before_me_blocks_me_until_they_act(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)

    act(people.head, task, "add_signer", to_user="head_nurse", position="before")

    assert open_steps(instance) == [("head_approve", "head"), ("head_approve", "head_nurse")]
    with pytest.raises(FlowConflict) as err:
        act(people.head, task, "approve")
    assert str(err.value.message) == "Wait until the signers added before you have acted."
    signer = HumanTask.objects.get(instance=instance, signer_position="before")
    with pytest.raises(FlowInputError):
        act(people.head_nurse, signer, "return")

    act(people.head_nurse, signer, "reject", comment="我不同意")
    assert refreshed(instance).status == "running"  # an opinion: the head still decides
    act(people.head, task, "approve")
    assert refreshed(instance).outcome == "approved"


def test_signer_after_me_decides_the_step(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)

    act(people.head, task, "add_signer", to_user="dean", position="after")
    assert open_steps(instance) == [("head_approve", "head")]
    act(people.head, task, "approve")

    after = open_task(instance)
    assert (after.signer_position, after.assignee, after.added_for) == ("after", people.dean, task)
    assert refreshed(instance).status == "running"
    act(people.dean, after, "reject")

    assert refreshed(instance).outcome == "rejected"


def test_signer_alongside_must_also_approve(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)

    act(people.head, task, "add_signer", to_user="dean", position="alongside")
    act(people.head, task, "approve")
    assert refreshed(instance).status == "running"
    alongside = open_task(instance)
    assert (alongside.signer_position, alongside.assignee) == ("alongside", people.dean)

    act(people.dean, alongside, "approve")

    assert refreshed(instance).outcome == "approved"


def test_a_rejection_alongside_rejects_the_step_at_once(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)
    act(people.head, task, "add_signer", to_user="dean", position="alongside")

    act(people.dean, HumanTask.objects.get(signer_position="alongside"), "reject")

    task.refresh_from_db()
    assert task.status == "cancelled"
    assert refreshed(instance).outcome == "rejected"


def test_bad_signer_position_is_refused(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()

    with pytest.raises(FlowInputError) as err:
        act(people.head, open_task(instance), "add_signer", to_user="dean", position="sideways")

    assert err.value.field == "position"


# --- countersign (会签) --------------------------------------------------------------------------


def test_countersign_two_of_three_approves(deploy: Any, start: Any, people: SimpleNamespace) -> None:
    deploy("svc_countersign")
    instance = start("svc_countersign", signers=["head", "vice", "dean"])
    assert open_steps(instance) == [("sign", "dean"), ("sign", "head"), ("sign", "vice")]
    shares = {
        t.assignee.user.username: t
        for t in HumanTask.objects.filter(instance=instance).select_related("assignee__user")
    }
    assert all(t.is_countersign for t in shares.values())

    act(people.head, shares["head"], "approve")
    act(people.vice, shares["vice"], "approve")

    instance = refreshed(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    shares["dean"].refresh_from_db()
    assert shares["dean"].status == "cancelled"
    assert instance.variables["nr_approved"] == 2


def test_countersign_one_rejection_ends_it(deploy: Any, start: Any, people: SimpleNamespace) -> None:
    deploy("svc_countersign")
    instance = start("svc_countersign", signers=["head", "vice", "dean"])

    act(people.vice, HumanTask.objects.get(assignee=people.vice), "reject")

    assert refreshed(instance).outcome == "rejected"
    assert open_steps(instance) == []


def test_countersign_signer_added_alongside_gets_a_share(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_countersign")
    instance = start("svc_countersign", signers=["head", "vice"])

    act(
        people.head,
        HumanTask.objects.get(assignee=people.head),
        "add_signer",
        to_user="dean",
        position="alongside",
    )

    assert open_steps(instance) == [("sign", "dean"), ("sign", "head"), ("sign", "vice")]
    act(people.head, HumanTask.objects.get(assignee=people.head), "approve")
    act(people.vice, HumanTask.objects.get(assignee=people.vice), "approve")
    assert refreshed(instance).status == "completed"  # 2 of 3 ≥ 2/3


# --- urge (催办) and copy (抄送) ------------------------------------------------------------------


def test_urge_notifies_the_assignee_at_most_every_ten_minutes(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()
    task = open_task(instance)

    act(people.nurse, task, "urge", comment="急")

    note = Notification.objects.get(recipient=people.head.user, kind="flow.urge")
    assert (note.title, note.body, note.link) == (
        "Please handle: Department head approves",
        "急",
        f"/flow/tasks/{task.pk}/",
    )
    before = snapshot()
    with pytest.raises(FlowConflict):
        act(people.nurse, task, "urge")
    with pytest.raises(FlowPermissionDenied):
        act(people.outsider, task, "urge")
    assert snapshot() == before
    HumanTask.objects.filter(pk=task.pk).update(last_urged_at=timezone.now() - datetime.timedelta(minutes=11))
    act(people.nurse, task, "urge")
    assert Notification.objects.filter(recipient=people.head.user, kind="flow.urge").count() == 2


def test_copy_to_people_once_each(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()
    task = open_task(instance)

    act(people.head, task, "cc", to_users=["ma", "dean"], comment="请知悉")
    act(people.nurse, task, "cc", to_user="ma")

    assert sorted(TaskCopy.objects.values_list("recipient__user__username", "sent_by__user__username")) == [
        ("dean", "head"),
        ("ma", "head"),
    ]
    assert Notification.objects.filter(kind="flow.cc").count() == 2
    with pytest.raises(FlowPermissionDenied):
        act(people.outsider, task, "cc", to_user="ma")
    with pytest.raises(FlowInputError):
        act(people.head, task, "cc", to_users=["ghost"])


# --- audit of the other operations --------------------------------------------------------------


def _last_audit() -> tuple[str, Any, str, dict[str, Any]]:
    entry = AuditEntry.objects.order_by("seq").last()
    assert entry is not None
    return (entry.action, entry.actor, entry.target_id, entry.details)


def test_add_signer_urge_and_cc_are_audited(leave: Any, people: SimpleNamespace) -> None:
    # given the department head's task
    instance = leave()
    task = open_task(instance)
    step = {"instance": instance.pk, "step": "head_approve"}

    # when the head adds a signer, the nurse urges and the head copies the instance
    act(people.head, task, "add_signer", to_user="dean", position="before")
    signer_added = _last_audit()
    act(people.nurse, task, "urge", comment="急")
    urged = _last_audit()
    act(people.head, task, "cc", to_users=["ma", "dean", "ma"])
    copied = _last_audit()

    # then each is in the audit log, last in its transaction
    assert signer_added == (
        "flow.task.signer_added",
        people.head.user,
        str(task.pk),
        {**step, "signer": people.dean.pk, "position": "before"},
    )
    assert urged == ("flow.task.urged", people.nurse.user, str(task.pk), step)
    assert copied == ("flow.task.copied", people.head.user, str(task.pk), {**step, "to": ["ma", "dean"]})
    assert audit_actions()[-3:] == ["flow.task.signer_added", "flow.task.urged", "flow.task.copied"]


def test_refused_operations_write_no_audit_entry(leave: Any, people: SimpleNamespace) -> None:
    task = open_task(leave())
    before = audit_actions()

    with pytest.raises(FlowInputError):
        act(people.head, task, "add_signer", to_user="dean", position="sideways")
    with pytest.raises(FlowInputError):
        act(people.head, task, "cc", to_users=["ghost"])
    with pytest.raises(FlowPermissionDenied):
        act(people.outsider, task, "urge")

    assert audit_actions() == before


def test_claim_and_unclaim_are_audited(
    deploy: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    # given a task offered to the two people of the medical affairs office
    person("medical_affairs", department=hospital.ma, username="ma2")
    deploy("svc_message_start")
    instance = services.message_correlate(
        actor=people.admin.user, name="referral", variables={"patient": "P1"}
    ).started[0]
    task = open_task(instance)
    step = {"instance": instance.pk, "step": task.task_def_id}

    # when a candidate claims it and gives it back
    act(people.ma, task, "claim")
    claimed = _last_audit()
    act(people.ma, task, "unclaim")
    unclaimed = _last_audit()

    # then both are audited
    assert claimed == ("flow.task.claimed", people.ma.user, str(task.pk), step)
    assert unclaimed == ("flow.task.unclaimed", people.ma.user, str(task.pk), step)


# --- batch approval ------------------------------------------------------------------------------


def test_batch_approve_each_task_on_its_own(leave: Any, people: SimpleNamespace) -> None:
    first, second = leave(days=1), leave(days=1)
    other = leave(days=1)
    mine = [open_task(first).pk, open_task(second).pk]
    transferred = act(people.head, open_task(other), "transfer", to_user="dean")

    results = services.tasks_batch_approve(actor=people.head.user, task_ids=[*mine, transferred.pk, 424242])

    assert [(r.task_id, r.ok) for r in results] == [
        (mine[0], True),
        (mine[1], True),
        (transferred.pk, False),
        (424242, False),
    ]
    assert str(results[2].message) == "This task is not yours to handle."
    assert refreshed(first).outcome == "approved" and refreshed(second).outcome == "approved"
    assert refreshed(other).status == "running"


# --- cancel, suspend, resume, migrate ------------------------------------------------------------


def test_initiator_cancels_before_anyone_acted(leave: Any, people: SimpleNamespace) -> None:
    instance = leave()

    services.instance_cancel(actor=people.nurse.user, instance=instance, reason="不请了")

    instance = refreshed(instance)
    assert (instance.status, instance.outcome) == ("cancelled", "")
    assert open_steps(instance) == []
    assert audit_actions()[-1] == "flow.instance.cancelled"


def test_initiator_cannot_cancel_after_others_acted_but_admin_can(
    leave: Any, people: SimpleNamespace
) -> None:
    instance = leave(days=5)
    act(people.head, open_task(instance), "approve")
    before = snapshot()

    with pytest.raises(FlowConflict):
        services.instance_cancel(actor=people.nurse.user, instance=instance)
    with pytest.raises(FlowPermissionDenied):
        services.instance_cancel(actor=people.outsider.user, instance=instance)
    assert snapshot() == before

    services.instance_cancel(actor=people.admin.user, instance=instance, reason="重复申请")
    assert refreshed(instance).status == "cancelled"
    with pytest.raises(FlowConflict):
        services.instance_cancel(actor=people.admin.user, instance=instance)


def test_suspended_instance_refuses_actions_until_resumed(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)

    services.instance_suspend(actor=people.admin.user, instance=instance, reason="审计")
    with pytest.raises(FlowConflict) as err:
        act(people.head, task, "approve")
    assert (
        str(err.value.message) == "This process is suspended; nothing can be done on it until it is resumed."
    )
    with pytest.raises(FlowPermissionDenied):
        services.instance_resume(actor=people.nurse.user, instance=instance)
    with pytest.raises(FlowPermissionDenied):
        services.instance_suspend(actor=people.head.user, instance=instance)

    services.instance_resume(actor=people.admin.user, instance=instance)
    act(people.head, task, "approve")
    assert refreshed(instance).outcome == "approved"
    assert audit_actions().count("flow.instance.suspended") == 1
    assert audit_actions().count("flow.instance.resumed") == 1


def test_migrate_a_running_instance_to_the_next_version(
    deploy: Any, start: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    hr = person("hr", department=hospital.ma, username="hr")
    deploy("svc_review")
    instance = start("svc_review")
    act(people.head_nurse, open_task(instance), "approve")
    v2 = deploy("svc_review_v2", key="svc_review")
    with pytest.raises(FlowPermissionDenied):
        services.instance_migrate(actor=people.head.user, instance=instance, version=v2)

    services.instance_migrate(actor=people.admin.user, instance=instance, version=v2)

    assert refreshed(instance).version == v2
    act(people.head, open_task(instance), "approve")
    assert open_steps(instance) == [("hr_record", "hr")]
    act(hr, open_task(instance), "complete")
    assert refreshed(instance).status == "completed"
    assert "migrated" in kinds(instance)


def test_migrate_refuses_a_version_without_the_active_step(
    deploy: Any, start: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    person("hr", department=hospital.ma, username="hr")
    deploy("svc_review_v2", key="svc_review")
    instance = start("svc_review")
    act(people.head_nurse, open_task(instance), "approve")
    act(people.head, open_task(instance), "approve")  # now at hr_record … which v1 lacks
    # v1 of the same key is version 2 here
    v_without = services.definition_deploy(actor=people.admin.user, xml=bpmn("svc_review"), key="svc_review")
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        services.instance_migrate(actor=people.admin.user, instance=instance, version=v_without)

    assert "hr_record" in str(err.value.message)
    assert snapshot() == before


# --- messages ------------------------------------------------------------------------------------


def test_message_reaches_the_instance_waiting_under_its_business_key(
    deploy: Any, people: SimpleNamespace
) -> None:
    deploy("svc_message")
    waiting = services.instance_start(
        actor=people.nurse.user, definition_key="svc_message", variables={}, business_key="LAB-1"
    )
    other = services.instance_start(
        actor=people.nurse.user, definition_key="svc_message", variables={}, business_key="LAB-2"
    )
    assert open_steps(waiting) == []

    result = services.message_correlate(
        actor=people.admin.user, name="lab_result", business_key="LAB-1", variables={"potassium": 6.1}
    )

    assert [i.pk for i in result.correlated] == [waiting.pk] and result.started == []
    assert open_steps(waiting) == [("read_result", "nurse")]
    assert refreshed(waiting).variables["potassium"] == 6.1
    assert open_steps(other) == []
    assert "message_received" in kinds(waiting)
    none = services.message_correlate(
        actor=people.admin.user, name="lab_result", business_key="LAB-1", variables={}
    )
    assert list(none) == []


def test_message_start_starts_a_new_instance(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_message_start")

    result = services.message_correlate(
        actor=None, name="referral", business_key="REF-9", variables={"patient": "P1"}
    )

    [instance] = result.started
    instance = refreshed(instance)
    assert (instance.business_key, instance.initiator, instance.variables["patient"]) == ("REF-9", None, "P1")
    assert open_steps(instance) == [("triage", "ma")]


def test_a_thrown_message_reaches_the_instance_waiting_under_the_same_business_key(
    deploy: Any, people: SimpleNamespace
) -> None:
    # given two instances waiting for the lab result, and a lab order under LAB-1
    deploy("svc_message")
    deploy("svc_lab_order")
    waiting, other = (
        services.instance_start(
            actor=people.nurse.user, definition_key="svc_message", variables={}, business_key=key
        )
        for key in ("LAB-1", "LAB-2")
    )
    order = services.instance_start(
        actor=people.nurse2.user, definition_key="svc_lab_order", variables={}, business_key="LAB-1"
    )

    # when the order's step completes and the process throws the result
    act(people.nurse2, open_task(order), "complete", variables={"potassium": 6.1})

    # then in the same change the waiting instance under LAB-1 received it (and only that one)
    assert refreshed(order).status == "completed"
    assert open_steps(waiting) == [("read_result", "nurse")]
    assert refreshed(waiting).variables["potassium"] == 6.1
    assert open_steps(other) == [] and refreshed(other).status == "running"
    sent = ProcessEvent.objects.get(instance=order, kind="message_sent")
    assert sent.data == {"message": "lab_result", "correlated": [waiting.pk], "started": []}
    received = ProcessEvent.objects.get(instance=waiting, kind="message_received")
    assert received.data == {"message": "lab_result", "from_instance": order.pk}
    # and the message is gone from the order's saved state
    assert refreshed(order).state["bpmn_events"] == []


def test_a_thrown_message_starts_a_process_for_the_same_initiator(
    deploy: Any, people: SimpleNamespace
) -> None:
    deploy("svc_message_start")
    deploy("svc_refer")
    referral = services.instance_start(
        actor=people.nurse.user, definition_key="svc_refer", variables={"patient": "P7"}, business_key="REF-7"
    )

    act(people.nurse, open_task(referral), "complete")

    started = ProcessInstance.objects.get(definition__key="svc_message_start")
    assert (started.initiator, started.business_key, started.variables["patient"]) == (
        people.nurse,
        "REF-7",
        "P7",
    )
    assert open_steps(started) == [("triage", "ma")]
    start_event = ProcessEvent.objects.get(instance=started, kind="started")
    assert start_event.data == {"version": 1, "message": "referral", "from_instance": referral.pk}
    assert ProcessEvent.objects.get(instance=referral, kind="message_sent").data["started"] == [started.pk]


def test_a_thrown_message_the_receiver_cannot_take_undoes_the_whole_change(
    deploy: Any, people: SimpleNamespace
) -> None:
    # given a waiting instance whose next step goes to its initiator, who has left since
    deploy("svc_message")
    deploy("svc_lab_order")
    waiting = services.instance_start(
        actor=people.relief.user, definition_key="svc_message", variables={}, business_key="LAB-1"
    )
    order = services.instance_start(
        actor=people.nurse2.user, definition_key="svc_lab_order", variables={}, business_key="LAB-1"
    )
    people.relief.user.is_active = False
    people.relief.user.save(update_fields=["is_active"])
    before = snapshot()

    # when the order completes, the receiver cannot go on: nothing of either change stays
    with pytest.raises(FlowInputError) as err:
        act(people.nurse2, open_task(order), "complete", variables={"potassium": 6.1})

    assert "read_result" in str(err.value.message) or "Read the result" in str(err.value.message)
    assert snapshot() == before
    assert (refreshed(order).status, refreshed(waiting).status) == ("running", "running")
    assert not ProcessEvent.objects.filter(kind__in=("message_sent", "message_received")).exists()


def test_messages_going_round_in_circles_are_stopped(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_echo")

    with pytest.raises(FlowInputError) as err:
        services.message_correlate(actor=None, name="ping", variables={})

    assert (
        str(err.value.message)
        == "Messages between processes went round more than 10 times; nothing was changed."
    )


def test_message_input_is_checked(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        services.message_correlate(actor=people.admin.user, name="", variables={})
    assert err.value.field == "name"


# --- bad input: a precise refusal, nothing changed ----------------------------------------------


def test_an_engine_failure_names_the_step_and_leaves_no_file_behind(
    leave: Any, people: SimpleNamespace, settings: Any, tmp_path: Any
) -> None:
    # given a leave whose days are text, so the gateway after the head's step cannot compare them
    settings.MEDIA_ROOT = str(tmp_path)
    instance = leave(days="five")  # type: ignore[arg-type]
    task = open_task(instance)
    before = snapshot()

    # when the head approves with a file attached
    with pytest.raises(FlowInputError) as err:
        act(people.head, task, "approve", comment="同意", attachments=[files.good("pdf")])

    # then the refusal names the step and the reason, and neither rows nor files remain
    assert str(err.value.message) == (
        "Step “gw” could not run: the expression '${approved and days > 3}' failed: "
        "cannot compare str and int"
    )
    assert snapshot() == before
    assert ProcessAttachment.objects.count() == 0
    assert list(tmp_path.rglob("*.*")) == []


def _nested(levels: int) -> Any:
    value: Any = 1
    for _level in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("variables", "field", "message"),
    [
        ({"days": float("nan")}, "variables.days", "“days” must be a finite number."),
        ({"note": "a\x00b"}, "variables.note", "“note” must not contain NUL characters."),
        (
            {"who": object()},
            "variables.who",
            "“who” holds a value that cannot be kept (object); use text, numbers, dates, lists or objects.",
        ),
        ({"deep": _nested(16)}, "variables.deep", "“deep” is nested too deeply (at most 16 levels)."),
        ({"map": {1: "x"}}, "variables.map", "“map” has a key that is not text."),
        ({"big": "x" * 70_000}, "variables", "The variables are too large (at most 64 KB)."),
        (
            {"1st": 1},
            "variables.1st",
            "“1st” is not a valid variable name (letters, digits and _; no leading digit).",
        ),
    ],
)
def test_variables_that_cannot_be_kept_are_refused(
    deploy: Any, people: SimpleNamespace, variables: dict[str, Any], field: str, message: str
) -> None:
    deploy("svc_leave")
    before = snapshot()

    with pytest.raises(FlowInputError) as err:
        services.instance_start(actor=people.nurse.user, definition_key="svc_leave", variables=variables)

    assert (err.value.field, str(err.value.message)) == (field, message)
    assert snapshot() == before and ProcessInstance.objects.count() == 0


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (
            lambda p: services.instance_start(
                actor=p.nurse.user, definition_key="svc_leave", variables={}, business_key="K\x00"
            ),
            "business_key",
            "Must not contain NUL characters.",
        ),
        (
            lambda p: services.instance_start(
                actor=p.nurse.user, definition_key="svc_leave", variables={}, title=["t"]
            ),
            "title",
            "“title” must be text.",
        ),
        (
            lambda p: services.message_correlate(actor=p.admin.user, name="lab\x00", variables={}),
            "name",
            "Must not contain NUL characters.",
        ),
        (
            lambda p: services.definition_deploy(actor=p.admin.user, xml=bpmn("svc_review"), name="评审\x00"),
            "name",
            "Must not contain NUL characters.",
        ),
        (
            lambda p: services.definition_deploy(actor=p.admin.user, xml=None),
            "xml",
            "Send the BPMN XML as text or as a file.",
        ),
        (
            lambda p: services.draft_save(actor=p.admin.user, key="svc_x", xml="<a>\x00</a>"),
            "xml",
            "The drawing must be BPMN XML text.",
        ),
        (
            lambda p: services.draft_save(actor=p.admin.user, key="svc_x\n", xml="<a/>"),
            "key",
            "The key may only hold letters, digits, _ and - (at most 64 characters).",
        ),
    ],
)
def test_text_inputs_are_checked_before_anything_is_written(
    deploy: Any, people: SimpleNamespace, call: Any, field: str, message: str
) -> None:
    deploy("svc_leave")
    before = (snapshot(), ProcessDefinition.objects.count(), ProcessDraft.objects.count())

    with pytest.raises(FlowInputError) as err:
        call(people)

    assert (err.value.field, str(err.value.message)) == (field, message)
    assert (snapshot(), ProcessDefinition.objects.count(), ProcessDraft.objects.count()) == before


def test_unknown_people_and_steps_in_an_action_are_named(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)
    before = snapshot()

    with pytest.raises(FlowInputError) as unknown:
        act(people.head, task, "transfer", to_user="ghost\x00")
    with pytest.raises(FlowInputError) as nul_step:
        act(people.head, task, "return", to_step="submit\x00")
    with pytest.raises(FlowInputError) as undone:
        act(people.head, task, "return", to_step="vice_approve")

    assert (unknown.value.field, str(unknown.value.message)) == (
        "to_user",
        "There is no active staff member “ghost”.",
    )
    assert nul_step.value.field == "to_step"
    assert (undone.value.field, str(undone.value.message)) == (
        "to_step",
        "This task cannot be returned to “vice_approve”; choose a completed step before it.",
    )
    assert snapshot() == before


def test_starting_an_unknown_or_impossible_key_is_not_found(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_leave")
    for key in ("nope", "svc_leave\n", "a\x00b", None):
        with pytest.raises(FlowNotFound):
            services.instance_start(actor=people.nurse.user, definition_key=key, variables={})  # type: ignore[arg-type]
    assert ProcessInstance.objects.count() == 0


# --- messages in Chinese -------------------------------------------------------------------------


def test_errors_speak_chinese_by_default(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    task = open_task(instance)
    act(people.head, task, "approve")

    with translation.override("zh-hans"), pytest.raises(FlowConflict) as err:
        act(people.head, task, "approve")

    with translation.override("zh-hans"):
        assert str(err.value.message) == "此任务已被他人处理。"
    with translation.override("en"):
        assert str(err.value.message) == "This task was already handled by someone else."


def test_sending_messages_needs_the_permission(deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_message_start")
    before = snapshot()

    with pytest.raises(FlowPermissionDenied):
        services.message_correlate(actor=people.nurse.user, name="referral", variables={})

    assert snapshot() == before
    assert ProcessInstance.objects.count() == 0


# --- call activities -----------------------------------------------------------------------------


def test_call_activity_runs_the_latest_deployed_called_process(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    called = deploy("svc_review")
    main = deploy("svc_call")
    assert main.metadata["called_versions"] == {"svc_review": called.pk}
    assert main.metadata["called_checksums"] == {"svc_review": called.checksum}

    instance = start("svc_call", item="monitor")
    assert open_steps(instance) == [("first_review", "head_nurse")]
    clear_definition_cache()  # the next load parses the stored XML (and the called one) again
    act(people.head_nurse, open_task(instance), "approve")
    act(people.head, open_task(instance), "approve")
    act(people.nurse, open_task(instance), "complete")

    assert refreshed(instance).status == "completed"


def test_deploy_refuses_a_call_to_a_process_that_is_not_deployed(people: SimpleNamespace) -> None:
    with pytest.raises(DefinitionInvalid) as err:
        services.definition_deploy(actor=people.admin.user, xml=bpmn("svc_call"))

    assert any("svc_review" in p.message_en for p in err.value.problems)
    assert ProcessDefinition.objects.count() == 0


# --- delegations made after the task was assigned ------------------------------------------------


def test_a_delegate_acts_on_a_task_assigned_before_the_delegation(
    leave: Any, people: SimpleNamespace
) -> None:
    instance = leave(days=2)
    task = open_task(instance)
    assert task.assignee == people.head
    before = snapshot()
    with pytest.raises(FlowPermissionDenied):
        act(people.relief, task, "approve")
    assert snapshot() == before

    DelegationFactory(delegator=people.head, delegate=people.relief)
    act(people.relief, task, "approve", comment="代批")

    event = ProcessEvent.objects.get(instance=instance, kind="approved")
    assert (event.actor, event.on_behalf_of) == (people.relief, people.head)
    task.refresh_from_db()
    assert task.completed_by == people.relief


def test_a_delegate_of_a_candidate_claims_on_their_behalf(
    deploy: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    person("medical_affairs", department=hospital.ma, username="ma2")
    deploy("svc_message_start")
    instance = services.message_correlate(actor=None, name="referral", variables={}).started[0]
    task = open_task(instance)
    DelegationFactory(delegator=people.ma, delegate=people.relief)

    act(people.relief, task, "claim")

    task.refresh_from_db()
    assert (task.assignee, task.on_behalf_of) == (people.relief, people.ma)
    act(people.relief, task, "complete")
    event = ProcessEvent.objects.get(instance=instance, kind="completed")
    assert (event.actor, event.on_behalf_of) == (people.relief, people.ma)
