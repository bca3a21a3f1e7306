"""The discharge loop end to end, through the real MLLP socket: the demo HIS's HL7 (built and
framed by the resources module's simulator, sent over TCP) → the listener stores and acknowledges
→ the processor thread maps it into clinical records and events → the dispatcher thread runs the
bed board's subscriber → the bed and the cleaning process (flow) follow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.clinical.models import CodeMapping
from medoa.core.events.dispatcher import running_dispatcher
from medoa.core.org.tests.factories import staff_with_roles
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessInstance
from medoa.integration.hl7.mllp import MllpServer
from medoa.integration.hl7.models import Sender
from medoa.integration.hl7.processing import ProcessorThread
from medoa.integration.hl7.receive import forget_allow_list
from medoa.modules.resources.beds_choices import BedStatus, CleaningStatus
from medoa.modules.resources.models import Bed, BedCleaning, Room
from medoa.modules.resources.services import cleaning_finish, cleaning_process_install, cleaning_start
from medoa.modules.resources.simulate import (
    FACILITY,
    MllpClient,
    Target,
    ack_code,
    adt_a03,
    adt_a13,
    adt_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


def adt(trigger: str, target: Target, control: str) -> str:
    return adt_message(trigger, target, control=control, name="张^三")[1]


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def loop(department_factory: Any) -> Iterator[Any]:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", kind="hospital")
    card = department_factory(code="CARD", name_zh="心血管内科", parent=root)
    ward = department_factory(code="CARD-W1", name_zh="心内一病区", kind="ward", parent=card)
    logi = department_factory(code="LOGI", name_zh="后勤保障处", parent=root)
    admin = staff_with_roles("it", department=logi, root=root, user__username="itadmin")
    cleaner = staff_with_roles("housekeeping", department=logi, root=root, user__username="cleaner1")
    staff_with_roles("head_nurse", department=ward, root=root, user__username="hn")
    staff_with_roles("doctor", department=card, root=root, user__username="doc1", employee_no="E1001")
    CodeMapping.objects.create(kind="ward", facility=FACILITY, external_code="BQ01", internal_code="CARD-W1")
    room = Room.objects.create(ward=ward, code="301")
    beds = [Bed.objects.create(ward=ward, room=room, code=f"{n:02d}") for n in (1, 2)]
    cleaning_process_install(actor=admin.user)
    forget_allow_list()
    Sender.objects.create(name="loopback", address="127.0.0.1", facility="*", scopes=["hl7:*"])
    server = MllpServer(host="127.0.0.1", port=0)
    server.start_in_thread()
    processor = ProcessorThread(worker_id="test")
    processor.start()
    try:
        with running_dispatcher():
            yield type("Loop", (), {"server": server, "beds": beds, "cleaner": cleaner})
    finally:
        processor.stop()
        server.stop()
        forget_allow_list()


def target(bed: str = "01", visit: str = "ZY1") -> Target:
    return Target(0, "D0000001", visit, "BQ01", "301", bed, "E1001", "doc1")


def test_a01_a03_cleaning_then_available_and_a13(loop: Any) -> None:
    bed1 = loop.beds[0]
    with MllpClient("127.0.0.1", loop.server.port) as his:
        assert ack_code(his.send(adt("A01", target(), "c1"))) == "AA"
        wait_for(lambda: Bed.objects.get(pk=bed1.pk).status == BedStatus.OCCUPIED)
        bed1.refresh_from_db()
        assert (bed1.patient_initials, bed1.visit_number, bed1.attending) == ("张*", "ZY1", "doc1")
        # A03: the bed is to clean and a cleaning task waits for the housekeeper
        _c, text = adt_a03(target(), control="c2")
        assert ack_code(his.send(text)) == "AA"
        cleaning = wait_for(
            lambda: BedCleaning.objects.filter(bed=bed1, process_instance_id__isnull=False).first()
        )
        assert Bed.objects.get(pk=bed1.pk).status == BedStatus.TO_CLEAN
        task = HumanTask.objects.get(instance_id=cleaning.process_instance_id, status=TaskStatus.OPEN)
        assert task.assignee_id == loop.cleaner.pk
        cleaning_start(actor=loop.cleaner.user, cleaning=cleaning)
        assert Bed.objects.get(pk=bed1.pk).status == BedStatus.CLEANING
        cleaning_finish(actor=loop.cleaner.user, cleaning=cleaning)
        assert Bed.objects.get(pk=bed1.pk).status == BedStatus.AVAILABLE
        assert ProcessInstance.objects.get(pk=cleaning.process_instance_id).status == "completed"
        # a second stay: A01 to bed 02, A03, then A13 cancels the discharge and the cleaning
        assert ack_code(his.send(adt("A01", target("02", "ZY2"), "c3"))) == "AA"
        wait_for(lambda: Bed.objects.get(pk=loop.beds[1].pk).status == BedStatus.OCCUPIED)
        _c, text = adt_a03(target("02", "ZY2"), control="c4")
        his.send(text)
        second = wait_for(
            lambda: BedCleaning.objects.filter(bed=loop.beds[1], process_instance_id__isnull=False).first()
        )
        _c, text = adt_a13(target("02", "ZY2"), control="c5")
        assert ack_code(his.send(text)) == "AA"
        wait_for(lambda: Bed.objects.get(pk=loop.beds[1].pk).status == BedStatus.OCCUPIED)
        second.refresh_from_db()
        assert second.status == CleaningStatus.CANCELLED
        assert not HumanTask.objects.filter(
            instance_id=second.process_instance_id, status=TaskStatus.OPEN
        ).exists()
        # A11 cancels the admission: the bed is free
        assert ack_code(his.send(adt("A11", target("02", "ZY2"), "c6"))) == "AA"
        wait_for(lambda: Bed.objects.get(pk=loop.beds[1].pk).status == BedStatus.AVAILABLE)
        # A02 moves a patient from bed 01 to 02
        his.send(adt("A01", target("01", "ZY3"), "c7"))
        wait_for(lambda: Bed.objects.get(pk=bed1.pk).status == BedStatus.OCCUPIED)
        his.send(adt("A02", target("02", "ZY3"), "c8"))
        wait_for(lambda: Bed.objects.get(pk=loop.beds[1].pk).status == BedStatus.OCCUPIED)
        assert Bed.objects.get(pk=bed1.pk).status == BedStatus.AVAILABLE


@pytest.mark.browser
def test_the_bed_board_changes_while_a_discharge_arrives(loop: Any, browser: Any, live_server: Any) -> None:
    from medoa.core.org.tests.factories import TEST_PASSWORD

    bed1 = loop.beds[0]
    with MllpClient("127.0.0.1", loop.server.port) as his:
        his.send(adt("A01", target(), "b1"))
        wait_for(lambda: Bed.objects.get(pk=bed1.pk).status == BedStatus.OCCUPIED)
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill('input[name="username"]', "hn")
            page.fill('input[name="password"]', TEST_PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{live_server.url}/resources/beds/?ward=CARD-W1")
            cell = page.locator(f'[data-bed="{bed1.pk}"]')
            assert cell.get_attribute("data-status") == "occupied"
            assert cell.locator(".bed-initials").inner_text() == "张*"
            assert "张三" not in page.content()
            # the HIS discharges the patient: the open board changes without a reload
            _c, text = adt_a03(target(), control="b2")
            assert ack_code(his.send(text)) == "AA"
            page.wait_for_selector(f'[data-bed="{bed1.pk}"][data-status="to_clean"]')
            assert cell.locator(".bed-state").inner_text() == "待清洁"
            assert cell.locator(".bed-initials").inner_text() == ""
            # the drawer shows the bed's history
            cell.click()
            page.wait_for_selector("#bed-drawer:not([hidden]) .bed-history li")
            assert "待清洁" in page.locator("#bed-drawer").inner_text()
            # the cleaner finishes: the board turns green
            cleaning = wait_for(lambda: BedCleaning.objects.filter(bed=bed1).first())
            cleaning_finish(actor=loop.cleaner.user, cleaning=cleaning)
            page.wait_for_selector(f'[data-bed="{bed1.pk}"][data-status="available"]')
            assert errors == []
        finally:
            context.close()
