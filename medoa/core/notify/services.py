"""Sending, reading and acknowledging notifications; the worker's channel dispatch and escalation.

``notification_send`` runs inside every process step, so it stays one bulk insert: no query per
recipient, no preferences read, nothing sent outside. After the caller's transaction commits, the
open browsers of the recipients hear about it (``push.announce``: PostgreSQL NOTIFY, or the web
processes' own look at the table on SQLite), and the worker — never the request — hands it to
the outside channels (``notifications_dispatch`` then ``deliveries_send``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from medoa.core.audit.services import audit_record
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Department, RoleAssignment, Staff
from medoa.core.org.selectors import role_holders

from . import conf, push
from .channels import ChannelError, channel_for, recipient_addresses
from .models import (
    DeliveryStatus,
    MessageTemplate,
    Notification,
    NotificationDelivery,
    NotificationPreference,
)
from .templating import MessageTemplateSpec, language_of, message_templates

log = logging.getLogger("medoa.notify")

# Seconds before the n-th retry of an outside delivery; after the last one it is failed.
RETRY_BACKOFF = (30, 120, 600, 1800, 3600)
# While one worker sends a delivery, others leave it alone this long.
SEND_LEASE_SECONDS = 120
ESCALATION_KIND = "alert"


def _escalation_target(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if not value:
        return {}
    out: dict[str, Any] = {}
    users = [int(u) for u in value.get("users", []) or []]
    if users:
        out["users"] = users
    if value.get("role"):
        out["role"] = str(value["role"])
        if value.get("department"):
            out["department"] = int(value["department"])
    return out


@transaction.atomic(savepoint=False)  # one bulk insert: it succeeds or fails the caller's change
def notification_send(
    *,
    recipients: Iterable[Any],
    title: str,
    body: str = "",
    link: str = "",
    kind: str = "info",
    data: dict[str, Any] | None = None,
    urgent: bool = False,
    requires_ack: bool = False,
    ack_by: dt.datetime | None = None,
    escalate_to: Mapping[str, Any] | None = None,
    per_recipient: Mapping[int, tuple[str, str]] | None = None,
) -> list[Notification]:
    """Put one notification in each recipient's inbox (duplicates in ``recipients`` collapse).

    ``link`` should be a path on this site (``/approvals/12/``); the inbox shows no other link.
    ``urgent`` ones reach the outside channels even in quiet hours. ``requires_ack`` asks for a
    确认收到 by ``ack_by``; when none comes, the escalation job notifies ``escalate_to``
    (``{"users": [user ids]}`` and/or ``{"role": code, "department": id}``) once.
    ``per_recipient`` maps a user id to its own (title, body) (templated messages).
    """
    if ack_by is not None and not requires_ack:
        raise ValueError("ack_by needs requires_ack")
    pending = bool(conf.enabled_channels())
    target = _escalation_target(escalate_to)
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        t, b = per_recipient.get(user.pk, (title, body)) if per_recipient else (title, body)
        rows.append(
            Notification(
                recipient=user,
                kind=kind,
                title=t[:200],
                body=b,
                link=link[:500],
                data=data or {},
                urgent=urgent,
                requires_ack=requires_ack,
                ack_by=ack_by,
                escalate_to=target,
                dispatch_pending=pending,
            )
        )
    if connection.vendor == "postgresql" and rows:
        _insert_and_notify(rows)
        push.announce(rows[0].pk, rows[-1].pk, notified=True)
        return rows
    created = Notification.objects.bulk_create(rows)
    ids = [n.pk for n in created if n.pk is not None]
    if ids:
        first, last = min(ids), max(ids)
        push.announce(first, last)
    return created


# PostgreSQL: the rows and their NOTIFY go in one written-out statement (every process step sends
# notifications; the ORM's insert cost more than the database's work, and the NOTIFY was a round
# trip of its own). Values go through the fields' own ``pre_save`` / ``get_db_prep_save``, as in
# ``bulk_create``; notifications have no signals and no ``save()`` of their own.


@lru_cache(maxsize=1)
def _insert_fields() -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in Notification._meta.concrete_fields if not f.primary_key)


@lru_cache(maxsize=32)
def _insert_sql(rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _insert_fields()
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    insert = _INSERT_SQL.format(
        table=quote(Notification._meta.db_table),
        columns=", ".join(quote(f.column or f.attname) for f in fields),
        values=", ".join([one] * rows),
    )
    return push.notify_statement(insert)


_INSERT_SQL = "INSERT INTO {table} ({columns}) VALUES {values} RETURNING id"


def _insert_and_notify(rows: list[Notification]) -> None:
    fields = _insert_fields()
    batch = 100
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [f.get_db_prep_save(f.pre_save(n, True), connection) for n in chunk for f in fields]
            cursor.execute(_insert_sql(len(chunk)), params)
            ids = cursor.fetchone()[0]
            for n, pk in zip(chunk, ids, strict=True):
                n.pk = pk
                n._state.adding = False
                n._state.db = connection.alias


def template_get(key: str) -> MessageTemplateSpec:
    """The template ``key``: the ``MessageTemplate`` row when there is one, else the one registered
    in code; ``KeyError`` when neither exists."""
    row = MessageTemplate.objects.filter(key=key).first()
    if row is not None:
        return MessageTemplateSpec(
            key=row.key,
            kind=row.kind,
            title_zh=row.title_zh,
            body_zh=row.body_zh,
            title_en=row.title_en,
            body_en=row.body_en,
        )
    return message_templates.get(key)


def notification_send_template(
    *,
    template_key: str,
    recipients: Iterable[Any],
    variables: Mapping[str, Any],
    link: str = "",
    kind: str | None = None,
    data: dict[str, Any] | None = None,
    urgent: bool = False,
    requires_ack: bool = False,
    ack_by: dt.datetime | None = None,
    escalate_to: Mapping[str, Any] | None = None,
) -> list[Notification]:
    """``notification_send`` with the template ``template_key`` rendered in each recipient's own
    language (their notification preference; Chinese when they have none). Two queries (the
    template row, the recipients' languages) before the insert. A missing variable raises
    ``TemplateVariableError`` naming it, and nothing is sent."""
    spec = template_get(template_key)
    people = [u for u in recipients if u is not None]
    languages = dict(
        NotificationPreference.objects.filter(user__in=[u.pk for u in people]).values_list(
            "user_id", "language"
        )
    )
    rendered = {lang: spec.render(lang, variables) for lang in ("zh", "en")}
    per = {u.pk: rendered[language_of(languages.get(u.pk))] for u in people}
    title, body = rendered["zh"]
    return notification_send(
        recipients=people,
        title=title,
        body=body,
        link=link,
        kind=kind or spec.kind,
        data={**(data or {}), "template": template_key},
        urgent=urgent,
        requires_ack=requires_ack,
        ack_by=ack_by,
        escalate_to=escalate_to,
        per_recipient=per,
    )


@transaction.atomic
def notification_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read (all of them when ``ids`` is ``None``).

    Only the user's own notifications change, whatever ids are given; returns how many changed.
    """
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[int(i) for i in ids])
    return qs.update(read_at=timezone.now())


class AckRefused(Exception):
    """The notification does not ask for an acknowledgement."""


@transaction.atomic
def notification_ack(*, user: Any, notification: Notification) -> Notification:
    """确认收到: the recipient acknowledges (and thereby reads) one of their own notifications.

    Idempotent: a second acknowledgement keeps the first time. Audited once.
    """
    if notification.recipient_id != user.pk:
        raise Notification.DoesNotExist
    if not notification.requires_ack:
        raise AckRefused
    now = timezone.now()
    changed = Notification.objects.filter(pk=notification.pk, acked_at__isnull=True).update(
        acked_at=now, read_at=now
    )
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
    notification.refresh_from_db(fields=["acked_at", "read_at"])
    if changed:
        late = notification.ack_by is not None and now > notification.ack_by
        audit_record(
            actor=user,
            action="notify.notification.acknowledged",
            target=notification,
            details={"kind": notification.kind, "late": late},
        )
    return notification


@transaction.atomic
def preference_update(
    *,
    user: Any,
    channels: Mapping[str, Iterable[str]],
    quiet_start: dt.time | None,
    quiet_end: dt.time | None,
    language: str,
) -> NotificationPreference:
    """Save the user's own notification preferences (channels per kind, quiet hours, language).

    Channels the deployment does not offer are dropped; quiet hours need both ends or neither.
    """
    if (quiet_start is None) != (quiet_end is None):
        raise ValueError("quiet hours need a start and an end")
    offered = set(conf.enabled_channels())
    clean = {
        str(kind): [c for c in conf.OUTSIDE_CHANNELS if c in set(chs) and c in offered]
        for kind, chs in channels.items()
    }
    pref, _created = NotificationPreference.objects.update_or_create(
        user=user,
        defaults={
            "channels": clean,
            "quiet_start": quiet_start,
            "quiet_end": quiet_end,
            "language": language,
        },
    )
    return pref


# --- the worker ----------------------------------------------------------------------------------


def channels_for(
    notification: Notification, pref: NotificationPreference | None, offered: tuple[str, ...]
) -> list[str]:
    """The outside channels ``notification`` goes out on: the recipient's choice for its kind (or
    their ``"*"`` choice), else — with no choice made — every offered channel for urgent
    notifications and none for the rest."""
    chosen: Iterable[str] | None = None
    if pref is not None:
        chosen = pref.channels.get(notification.kind, pref.channels.get("*"))
    if chosen is None:
        chosen = offered if notification.urgent else ()
    wanted = set(chosen)
    return [c for c in offered if c in wanted]


def quiet_until(pref: NotificationPreference | None, now: dt.datetime) -> dt.datetime | None:
    """The end of the recipient's quiet hours when ``now`` falls inside them, else ``None``."""
    if (
        pref is None
        or pref.quiet_start is None
        or pref.quiet_end is None
        or pref.quiet_start == pref.quiet_end
    ):
        return None
    local = timezone.localtime(now)
    t = local.time().replace(tzinfo=None)
    start, end = pref.quiet_start, pref.quiet_end
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += dt.timedelta(days=1)
    return end_at


def notifications_dispatch(limit: int = 500) -> int:
    """Worker job: turn new notifications into outside-channel deliveries, after commit.

    Reads the recipients' preferences here (never in the request), holds a delivery back until
    the end of the recipient's quiet hours unless the notification is urgent. Two queries for a
    batch of notifications and their preferences, one bulk insert and one update.
    """
    offered = conf.enabled_channels()
    with transaction.atomic():
        qs = Notification.objects.filter(dispatch_pending=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        batch = list(qs[:limit])
        if not batch:
            return 0
        prefs = {
            p.user_id: p
            for p in NotificationPreference.objects.filter(user_id__in={n.recipient_id for n in batch})
        }
        now = timezone.now()
        deliveries = []
        for n in batch:
            pref = prefs.get(n.recipient_id)
            chosen = channels_for(n, pref, offered)
            when = (None if n.urgent else quiet_until(pref, now)) or now
            deliveries += [
                NotificationDelivery(notification=n, channel=c, next_attempt_at=when) for c in chosen
            ]
        NotificationDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Notification.objects.filter(pk__in=[n.pk for n in batch]).update(dispatch_pending=False)
    return len(batch)


def _claim_due(limit: int) -> list[NotificationDelivery]:
    with transaction.atomic():
        now = timezone.now()
        qs = NotificationDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        claimed = list(qs[:limit])
        if claimed:
            NotificationDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
                next_attempt_at=now + dt.timedelta(seconds=SEND_LEASE_SECONDS)
            )
    return claimed


def deliveries_send(limit: int = 100) -> int:
    """Worker job: send the due outside deliveries; a failure is logged and retried with backoff
    (``RETRY_BACKOFF``), then marked failed. The in-app copy is never touched."""
    claimed = _claim_due(limit)
    if not claimed:
        return 0
    notifications = {
        n.pk: n
        for n in Notification.objects.filter(pk__in={d.notification_id for d in claimed}).select_related(
            "recipient"
        )
    }
    addresses = recipient_addresses([n.recipient for n in notifications.values()])
    for delivery in claimed:
        n = notifications[delivery.notification_id]
        attempts = delivery.attempts + 1
        try:
            channel_for(delivery.channel).send(
                notification=n, address=addresses.get((n.recipient_id, delivery.channel), "")
            )
        except ChannelError as exc:
            error = str(exc)[:2000]
            final = attempts > len(RETRY_BACKOFF)
            log.log(
                logging.ERROR if final else logging.WARNING,
                "notification %s via %s failed (attempt %s%s): %s",
                n.pk,
                delivery.channel,
                attempts,
                ", giving up" if final else "",
                error,
            )
            update: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if final or exc.permanent:
                update["status"] = DeliveryStatus.FAILED
            else:
                update["next_attempt_at"] = timezone.now() + dt.timedelta(seconds=RETRY_BACKOFF[attempts - 1])
            NotificationDelivery.objects.filter(pk=delivery.pk).update(**update)
            continue
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENT, attempts=attempts, sent_at=timezone.now(), last_error=""
        )
    return len(claimed)


def escalation_recipients(target: Mapping[str, Any], *, exclude: int | None = None) -> list[Any]:
    """The active users an escalation goes to: the listed user ids and the holders of the role
    (for the department and up its chain when one is given, else anywhere)."""
    user_ids: set[int] = {int(u) for u in target.get("users", [])}
    role = target.get("role")
    if role:
        department_id = target.get("department")
        department = Department.objects.filter(pk=int(department_id)).first() if department_id else None
        if department is not None:
            user_ids |= {s.user_id for s in role_holders(role, department)}
        else:
            user_ids |= set(
                RoleAssignment.objects.filter(
                    role__code=role, staff__status=StaffStatus.ACTIVE, staff__user__is_active=True
                ).values_list("staff__user_id", flat=True)
            )
    if exclude is not None:
        user_ids.discard(exclude)
    return list(get_user_model().objects.filter(pk__in=user_ids, is_active=True).order_by("pk"))


def notifications_escalate(limit: int = 100) -> int:
    """Worker job: every notification whose acknowledgement is overdue is escalated once — its
    escalation target is notified (urgent) and the escalation is audited."""
    now = timezone.now()
    due = list(
        Notification.objects.filter(
            requires_ack=True, acked_at__isnull=True, escalated_at__isnull=True, ack_by__lte=now
        )
        .select_related("recipient")
        .order_by("ack_by", "id")[:limit]
    )
    done = 0
    for n in due:
        with transaction.atomic():
            if not Notification.objects.filter(
                pk=n.pk, acked_at__isnull=True, escalated_at__isnull=True
            ).update(escalated_at=now):
                continue  # acknowledged or escalated meanwhile (another worker)
            people = escalation_recipients(n.escalate_to or {}, exclude=n.recipient_id)
            sent = notification_send_template(
                template_key="notify.escalation",
                recipients=people,
                variables={
                    "title": n.title,
                    "recipient": Staff.objects.filter(user_id=n.recipient_id)
                    .values_list("name", flat=True)
                    .first()
                    or n.recipient.get_full_name()
                    or n.recipient.get_username(),
                    "ack_by": timezone.localtime(n.ack_by).strftime("%Y-%m-%d %H:%M") if n.ack_by else "",
                },
                link=n.link,
                kind=ESCALATION_KIND,
                urgent=True,
                data={"escalated_from": n.pk},
            )
            audit_record(
                actor=None,
                actor_name="medoa-worker",
                action="notify.notification.escalated",
                target=n,
                details={"to": [u.pk for u in people], "notifications": [s.pk for s in sent]},
            )
            done += 1
    return done
