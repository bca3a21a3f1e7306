"""audit_record and audit_chain_verify: linking, canonical hashing, concurrency."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from medoa.core.audit import guard
from medoa.core.audit.choices import Outcome
from medoa.core.audit.models import AuditChainHead, AuditEntry
from medoa.core.audit.services import (
    GENESIS_HASH,
    ChainCheck,
    audit_chain_verify,
    audit_record,
    entry_digest,
)
from medoa.core.context import client_address

pytestmark = pytest.mark.django_db


def test_entries_link_to_their_predecessor(append: Any) -> None:
    # given / when
    first, second, third = append(3)

    # then
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (3, third.entry_hash)
    assert audit_chain_verify() == ChainCheck(True, 3)


def test_record_describes_actor_target_and_address(auditor: Any) -> None:
    # given
    token = client_address.set("2001:0db8:0000:0000:0000:0000:0000:0001")
    try:
        # when
        entry = audit_record(actor=auditor, action="test.described", target=auditor, details={"a": 1})
    finally:
        client_address.reset(token)

    # then
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert stored.actor_id == auditor.pk
    assert stored.actor_name == "auditor"
    assert (stored.target_type, stored.target_id, stored.target_repr) == (
        "access.user",
        str(auditor.pk),
        "auditor",
    )
    assert stored.client_address == "2001:db8::1"
    assert stored.outcome == Outcome.SUCCESS
    assert entry_digest(stored, stored.prev_hash) == stored.entry_hash


def test_record_keeps_an_explicit_actor_name_and_cuts_it_to_the_column() -> None:
    # when
    entry = audit_record(actor=None, actor_name="x" * 200, action="test.long", target=("t", 1, "y" * 300))

    # then
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert stored.actor_name == "x" * 150
    assert stored.target_repr == "y" * 200
    assert audit_chain_verify().ok


def test_record_refuses_a_bad_action_or_outcome_and_writes_nothing() -> None:
    # when / then
    with pytest.raises(ValueError, match="audit action"):
        audit_record(actor=None, action="")
    with pytest.raises(ValueError, match="audit action"):
        audit_record(actor=None, action="a" * 101)
    with pytest.raises(ValueError):
        audit_record(actor=None, action="test.outcome", outcome="maybe")
    assert AuditEntry.objects.count() == 0


def test_an_address_that_is_not_an_ip_is_left_out() -> None:
    # when
    entry = audit_record(actor=None, action="test.address", client_address="not-an-ip, 10.0.0.1")

    # then
    assert AuditEntry.objects.get(seq=entry.seq).client_address is None


def test_awkward_details_verify_after_the_database_round_trip() -> None:
    # given: values that JSON, jsonb or text columns like to change
    details = {
        "when": datetime.datetime(2026, 1, 5, 8, 30, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 1, 5),
        "amount": Decimal("12.50"),
        "float_whole": 2.0,
        "float_big": 1e20,
        "float_small": 1.5e-7,
        "float_plain": 0.1,
        "int_big": 10**30,
        "nan": float("nan"),
        "nul": "a\x00b",
        "chinese": "心血管内科",
        "nested": [{"b": 1, "a": [1, 2.5, None, True]}],
        "tuple": (1, 2),
        "set": {3, 1, 2},
        7: "int key",
    }

    # when
    entry = audit_record(actor=None, action="test.awkward", details=details)

    # then
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert stored.details["when"] == "2026-01-05T08:30:00+00:00"
    assert stored.details["amount"] == "12.50"
    assert stored.details["nan"] == "nan"
    assert stored.details["nul"] == "a\ufffdb"
    assert stored.details["set"] == [1, 2, 3]
    assert stored.details["7"] == "int key"
    assert entry_digest(stored, stored.prev_hash) == stored.entry_hash
    assert audit_chain_verify() == ChainCheck(True, 1)


def test_a_nul_character_in_a_user_name_does_not_break_the_change(doctor: Any) -> None:
    # when: a login form may send anything as the user name
    entry = audit_record(actor=None, actor_name="ev\x00il", action="test.nul")

    # then
    assert AuditEntry.objects.get(seq=entry.seq).actor_name == "ev\ufffdil"
    assert audit_chain_verify().ok


def test_the_hash_covers_every_field(append: Any) -> None:
    # given
    (entry,) = append(1, client_address="10.0.0.1")
    original = entry.entry_hash

    # then: changing any one field changes the digest
    changes = {
        "seq": 2,
        "at": entry.at + datetime.timedelta(microseconds=1),
        "actor_id": 99,
        "actor_name": "someone",
        "action": "test.other",
        "target_type": "x",
        "target_id": "1",
        "target_repr": "y",
        "client_address": "10.0.0.2",
        "outcome": Outcome.DENIED,
        "details": {"n": 1},
    }
    for name, value in changes.items():
        copy = AuditEntry.objects.get(pk=entry.pk)
        setattr(copy, name, value)
        assert entry_digest(copy, copy.prev_hash) != original, name
    assert entry_digest(entry, "f" * 64) != original


def test_the_hash_does_not_depend_on_the_time_zone_of_the_timestamp(append: Any) -> None:
    # given
    (entry,) = append(1)
    shanghai = entry.at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))

    # when
    entry.at = shanghai

    # then
    assert entry_digest(entry, entry.prev_hash) == entry.entry_hash


def test_the_record_rolls_back_with_the_change_it_records() -> None:
    # when
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action="test.rolled_back")
        raise RuntimeError("the change failed")

    # then
    assert AuditEntry.objects.count() == 0
    assert audit_chain_verify() == ChainCheck(True, 0)
    assert audit_record(actor=None, action="test.next").seq == 1


def test_verify_reports_a_missing_tail_through_the_chain_head(append: Any) -> None:
    # given: the last two entries are deleted (the guard dropped first, as an attacker would)
    append(5)
    guard.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq >= 4")

    # when
    result = audit_chain_verify()

    # then
    assert result == ChainCheck(
        False,
        3,
        4,
        "entries after #%(seq)s are missing (the chain head is at #%(head)s)",
        {"seq": 3, "head": 5},
    )
    assert result.reason_text == "entries after #3 are missing (the chain head is at #5)"


def test_verify_reports_a_missing_chain_head(append: Any) -> None:
    # given
    append(2)
    guard.uninstall(connection)
    AuditChainHead.objects.all().delete()

    # when
    result = audit_chain_verify()

    # then
    assert (result.ok, result.broken_seq, result.reason_text) == (False, 2, "the chain head is missing")


def test_verify_reports_entries_beyond_a_rolled_back_head(append: Any) -> None:
    # given: the head is set back by one entry
    entries = append(3)
    guard.uninstall(connection)
    AuditChainHead.objects.filter(pk=1).update(last_seq=2, last_hash=entries[1].entry_hash)

    # when
    result = audit_chain_verify()

    # then
    assert (result.ok, result.broken_seq, result.reason_text) == (
        False,
        3,
        "entries continue after the chain head #2",
    )


def test_verify_reports_a_head_that_does_not_match_the_last_entry(append: Any) -> None:
    # given
    append(2)
    guard.uninstall(connection)
    AuditChainHead.objects.filter(pk=1).update(last_hash="e" * 64)

    # when
    result = audit_chain_verify()

    # then
    assert (result.ok, result.broken_seq, result.reason_text) == (
        False,
        2,
        "the chain head does not match the last entry",
    )


def test_verify_of_an_empty_log_is_ok() -> None:
    assert audit_chain_verify() == ChainCheck(True, 0)


def test_verify_reads_the_chain_in_batches(append: Any) -> None:
    # given
    append(7)

    # then
    assert audit_chain_verify(batch_size=2) == ChainCheck(True, 7)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_separate_connections_never_fork_the_chain() -> None:
    # given
    if connection.vendor != "postgresql":
        pytest.skip("the locking test needs PostgreSQL")
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    backends: set[int] = set()

    def write(n: int) -> None:
        try:
            backends.add(connection.cursor().connection.info.backend_pid)
            barrier.wait(timeout=30)
            for i in range(per_writer):
                audit_record(actor=None, actor_name=f"writer{n}", action="test.concurrent", details={"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then
    assert errors == []
    assert len(backends) == writers
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, writers * per_writer + 1)
    )
    for n in range(writers):
        mine = AuditEntry.objects.filter(actor_name=f"writer{n}").order_by("seq")
        assert [e.details["i"] for e in mine] == list(range(per_writer))
    assert audit_chain_verify() == ChainCheck(True, writers * per_writer)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lone_writer_appends_with_one_statement_and_falls_back_when_another_moved_the_head() -> None:
    # given: a connection whose last entries nobody else followed
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement append is PostgreSQL's")

    def statements_of_one_entry(name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            audit_record(actor=None, actor_name=name, action="test.lone")
        return len([q for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")])

    def elsewhere() -> None:
        try:
            audit_record(actor=None, actor_name="other", action="test.other")
        finally:
            connections.close_all()

    for _ in range(2):
        audit_record(actor=None, actor_name="lone", action="test.lone")

    # when / then: alone, one statement per entry
    assert statements_of_one_entry("lone") == 1
    assert statements_of_one_entry("lone") == 1
    # another connection appends: the guess misses, the locked way links after its entry
    other = threading.Thread(target=elsewhere)
    other.start()
    other.join(timeout=60)
    assert statements_of_one_entry("lone") == 3  # the missed guess, the locked read, insert + move
    assert statements_of_one_entry("lone") == 2  # not trusted yet: read locked, found where it left it
    assert statements_of_one_entry("lone") == 1
    entries = list(AuditEntry.objects.order_by("seq").values_list("actor_name", flat=True))
    assert entries == ["lone"] * 4 + ["other"] + ["lone"] * 3
    assert audit_chain_verify() == ChainCheck(True, 8)
