"""The rule engine's own actions (registered in ``RulesConfig.ready()``):

* ``rules.notify`` — notify listed users, the holders of roles, and the people the event names
  (payload fields holding usernames), with a message template (zh/en, each person in their own
  language) or an inline title and body with ``{variables}``;
* ``rules.decide`` — evaluate a DMN decision with inputs computed by expressions over the event;
  its outputs go into the context of the later actions (``{output}`` in their texts, ``<as>`` in
  their expressions);
* ``rules.webhook`` — POST the event as JSON to a URL, signed (HMAC-SHA256), with a timeout; the
  answer's status is recorded; ``Idempotency-Key`` is the event id (with the rule and the action),
  so a receiver can drop the repeat a crash of the worker may cause;
* ``rules.supervise`` — a supervised task (督办): a notification that requires 确认收到 within a
  time limit and is escalated to a role (or people) when no acknowledgement comes. MedOA's
  notification centre already keeps the deadline and escalates once; a process would add a
  definition to deploy for the same effect.

The process engine adds ``flow.start`` (start a process with variables) from its own app.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medoa.core.notify.channels import sign_body
from medoa.core.notify.models import MessageTemplate
from medoa.core.notify.services import (
    escalation_recipients,
    notification_send,
    notification_send_template,
    template_get,
)
from medoa.core.notify.templating import (
    TemplateError,
    TemplateVariableError,
    message_templates,
    render_text,
    template_fields,
)
from medoa.core.org.models import Role

from . import expressions
from .dmn import DmnEvaluationError
from .errors import RulesError
from .models import DecisionDefinition
from .registry import ActionContext, ActionFailed, RuleAction
from .services import decision_run

MAX_RECIPIENTS = 500
KINDS = ("info", "task", "alert", "reminder")


def _text_ok(value: str) -> str:
    try:
        template_fields(value)
    except TemplateError as exc:
        raise ValueError(f"not a usable template: {exc.message}") from None
    return value


class NotifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    users: list[str] = Field(default_factory=list, max_length=100, description="usernames")
    roles: list[str] = Field(default_factory=list, max_length=20, description="role codes (every holder)")
    payload_fields: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="payload fields that hold a username or a list of them",
    )
    template: str = Field("", max_length=100, description="a message template key (zh/en)")
    title: str = Field("", max_length=200, description="inline title with {variables}")
    body: str = Field("", max_length=4000, description="inline body with {variables}")
    link: str = Field("", max_length=500, description="a path on this site, with {variables}")
    kind: str = Field("info", description="info, task, alert or reminder")
    urgent: bool = False

    @field_validator("title", "body", "link")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _text_ok(value)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError("one of info, task, alert, reminder")
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("a path on this site, starting with /")
        return value

    @model_validator(mode="after")
    def _whole(self) -> NotifyParams:
        if not (self.users or self.roles or self.payload_fields):
            raise ValueError("name at least one user, role or payload field")
        if bool(self.template) == bool(self.title):
            raise ValueError("give either a template or a title")
        return self


def _check_notify(params: NotifyParams) -> None:
    if params.template:
        known = (
            params.template in message_templates
            or MessageTemplate.objects.filter(key=params.template).exists()
        )
        if not known:
            raise ActionFailed(_("There is no message template with this key."))
    missing = set(params.roles) - set(
        Role.objects.filter(code__in=params.roles).values_list("code", flat=True)
    )
    if missing:
        raise ActionFailed(_("Unknown role code."))
    if params.users:
        found = set(
            get_user_model().objects.filter(username__in=params.users).values_list("username", flat=True)
        )
        if set(params.users) - found:
            raise ActionFailed(_("Unknown username."))


def _named_in_payload(payload: Mapping[str, Any], fields: list[str]) -> list[str]:
    names: list[str] = []
    for name in fields:
        value = payload.get(name)
        if isinstance(value, str) and value:
            names.append(value)
        elif isinstance(value, list):
            names.extend(v for v in value if isinstance(v, str) and v)
    return names


def _recipients(ctx: ActionContext, users: list[str], roles: list[str], fields: list[str]) -> list[Any]:
    usernames = set(users) | set(_named_in_payload(ctx.payload, fields))
    people: dict[int, Any] = {}
    if usernames:
        for user in get_user_model().objects.filter(username__in=usernames, is_active=True):
            people[user.pk] = user
    for code in roles:
        for user in escalation_recipients({"role": code}):
            people[user.pk] = user
    return [people[k] for k in sorted(people)][:MAX_RECIPIENTS]


def _render(text: str, ctx: ActionContext, where: str) -> str:
    try:
        return render_text(text, ctx.template_variables, where=where)
    except TemplateVariableError as exc:
        raise ActionFailed(
            _("A variable of the message is missing: %s") % ", ".join(sorted(exc.missing))
        ) from None


def _notify(ctx: ActionContext, params: NotifyParams, **extra: Any) -> dict[str, Any]:
    people = _recipients(ctx, params.users, params.roles, params.payload_fields)
    if not people:
        raise ActionFailed(_("Nobody to notify: no active user matches."))
    link = _render(params.link, ctx, "link")
    data = {"rule": ctx.rule.pk, "event": ctx.event.pk if ctx.event is not None else None}
    if params.template:
        try:
            sent = notification_send_template(
                template_key=params.template,
                recipients=people,
                variables=ctx.template_variables,
                link=link,
                data=data,
                urgent=params.urgent,
                **extra,
            )
        except TemplateVariableError as exc:
            raise ActionFailed(
                _("A variable of the message is missing: %s") % ", ".join(sorted(exc.missing))
            ) from None
        except KeyError:
            raise ActionFailed(_("There is no message template with this key.")) from None
    else:
        sent = notification_send(
            recipients=people,
            title=_render(params.title, ctx, "title"),
            body=_render(params.body, ctx, "body"),
            link=link,
            kind=params.kind,
            data=data,
            urgent=params.urgent,
            **extra,
        )
    return {"recipients": [u.get_username() for u in people], "notifications": [n.pk for n in sent]}


def notify_run(ctx: ActionContext, params: NotifyParams) -> dict[str, Any]:
    return _notify(ctx, params)


def _preview_texts(ctx: ActionContext, template: str, title: str, body: str) -> dict[str, Any]:
    if template:
        spec = template_get(template)
        title, body = spec.render("zh", ctx.template_variables)
        return {"title": title, "body": body}
    return {"title": _render(title, ctx, "title"), "body": _render(body, ctx, "body")}


def notify_preview(ctx: ActionContext, params: NotifyParams) -> dict[str, Any]:
    people = _recipients(ctx, params.users, params.roles, params.payload_fields)
    try:
        texts = _preview_texts(ctx, params.template, params.title, params.body)
    except TemplateVariableError as exc:
        raise ActionFailed(
            _("A variable of the message is missing: %s") % ", ".join(sorted(exc.missing))
        ) from None
    return {
        "recipients": [u.get_username() for u in people],
        **texts,
        "link": _render(params.link, ctx, "link"),
    }


# --- a supervised task (督办) ----------------------------------------------------------------------


class SuperviseParams(NotifyParams):
    ack_within_minutes: int = Field(1440, ge=1, le=60 * 24 * 30, description="time to acknowledge")
    escalate_roles: list[str] = Field(default_factory=list, max_length=5, description="role codes")
    escalate_users: list[str] = Field(default_factory=list, max_length=20, description="usernames")

    @model_validator(mode="after")
    def _escalation(self) -> SuperviseParams:
        if not (self.escalate_roles or self.escalate_users):
            raise ValueError("name a role or users to escalate to")
        if len(self.escalate_roles) > 1 and self.escalate_users:
            raise ValueError("escalate to one role, or to users")
        return self


def _check_supervise(params: SuperviseParams) -> None:
    _check_notify(params)
    missing = set(params.escalate_roles) - set(
        Role.objects.filter(code__in=params.escalate_roles).values_list("code", flat=True)
    )
    if missing:
        raise ActionFailed(_("Unknown role code."))


def _escalation(params: SuperviseParams) -> dict[str, Any]:
    target: dict[str, Any] = {}
    if params.escalate_users:
        target["users"] = list(
            get_user_model().objects.filter(username__in=params.escalate_users).values_list("pk", flat=True)
        )
    if params.escalate_roles:
        target["role"] = params.escalate_roles[0]
    return target


def supervise_run(ctx: ActionContext, params: SuperviseParams) -> dict[str, Any]:
    ack_by = timezone.now() + dt.timedelta(minutes=params.ack_within_minutes)
    out = _notify(ctx, params, requires_ack=True, ack_by=ack_by, escalate_to=_escalation(params))
    out["ack_by"] = ack_by.isoformat()
    return out


def supervise_preview(ctx: ActionContext, params: SuperviseParams) -> dict[str, Any]:
    out = notify_preview(ctx, params)
    out["ack_within_minutes"] = params.ack_within_minutes
    out["escalate_to"] = {"roles": params.escalate_roles, "users": params.escalate_users}
    return out


# --- a DMN decision --------------------------------------------------------------------------------


def _expression_ok(value: str) -> str:
    problems = expressions.check(value)
    if problems:
        raise ValueError(str(problems[0]))
    unknown = expressions.free_names(value) - {"event", "payload"}
    if unknown:
        raise ValueError(f"name '{sorted(unknown)[0]}' is not defined (use event and payload)")
    return value


class DecideParams(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: str = Field(..., min_length=1, max_length=128, description="the decision's key")
    version: int | None = Field(None, ge=1, description="a deployed version (default: the latest)")
    inputs: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="input name → expression over event and payload"
    )
    output_as: str = Field(
        "decision", pattern=r"^[a-z_][a-z0-9_]{0,39}$", description="name for later actions"
    )

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            try:
                _expression_ok(source)
            except ValueError as exc:
                raise ValueError(f"input {name}: {exc}") from None
        return value


def _check_decide(params: DecideParams) -> None:
    if not DecisionDefinition.objects.filter(key=params.decision).exists():
        raise ActionFailed(_("There is no such decision."))


def decide_run(ctx: ActionContext, params: DecideParams) -> dict[str, Any]:
    inputs = {name: expressions.evaluate(source, ctx.variables) for name, source in params.inputs.items()}
    try:
        result = decision_run(key=params.decision, inputs=inputs, version=params.version)
    except DmnEvaluationError as exc:
        raise ActionFailed(exc.message_en) from None
    except RulesError as exc:
        raise ActionFailed(exc.message) from None
    outputs = result.as_dict()["outputs"]
    ctx.variables[params.output_as] = outputs
    if isinstance(outputs, Mapping):
        ctx.template_variables.update({k: v for k, v in outputs.items() if isinstance(k, str)})
    return {"inputs": inputs, "outputs": outputs}


def decide_preview(ctx: ActionContext, params: DecideParams) -> dict[str, Any]:
    return decide_run(ctx, params)  # evaluating changes nothing; later actions see the outputs


# --- a webhook -------------------------------------------------------------------------------------


class WebhookParams(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(..., min_length=8, max_length=500, pattern=r"^https?://", description="http(s) URL")
    timeout_seconds: float = Field(5.0, gt=0, le=30)


def webhook_secret() -> str:
    return str(getattr(settings, "MEDOA_RULES_WEBHOOK_SECRET", "") or "")


def webhook_body(ctx: ActionContext) -> dict[str, Any]:
    return {
        "event": {
            "id": ctx.event.pk if ctx.event is not None else None,
            "type": ctx.event_type,
            "payload": ctx.payload,
            "created_at": ctx.event.created_at.isoformat() if ctx.event is not None else None,
        },
        "rule": {"id": ctx.rule.pk, "name": ctx.rule.name, "version": ctx.version},
        "scheduled_for": ctx.scheduled_for.isoformat() if ctx.scheduled_for else None,
    }


def webhook_run(ctx: ActionContext, params: WebhookParams) -> dict[str, Any]:
    body = json.dumps(webhook_body(ctx), ensure_ascii=False, default=str).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "MedOA-rules",
        "Idempotency-Key": ctx.idempotency_key,
    }
    secret = webhook_secret()
    if secret:
        ts = int(time.time())
        headers["X-MedOA-Timestamp"] = str(ts)
        headers["X-MedOA-Signature"] = sign_body(secret, body, ts)
    request = urllib.request.Request(params.url, data=body, headers=headers, method="POST")  # noqa: S310 — http(s) only
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=params.timeout_seconds) as resp:  # noqa: S310
            status = resp.status
            resp.read(4096)
    except urllib.error.HTTPError as exc:
        raise ActionFailed(f"the webhook answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ActionFailed(f"the webhook is unreachable: {getattr(exc, 'reason', exc)}") from None
    return {
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "idempotency_key": ctx.idempotency_key,
        "signed": bool(secret),
    }


def webhook_preview(ctx: ActionContext, params: WebhookParams) -> dict[str, Any]:
    return {"url": params.url, "timeout_seconds": params.timeout_seconds, "body": webhook_body(ctx)}


BUILTIN_ACTIONS = (
    RuleAction(
        "rules.notify",
        _("Notify people"),
        NotifyParams,
        run=notify_run,
        preview=notify_preview,
        check=_check_notify,
        description=_(
            "Notify users, the holders of roles and the people the event names, with a template or a text."
        ),
        order=10,
    ),
    RuleAction(
        "rules.supervise",
        _("Create a supervised task"),
        SuperviseParams,
        run=supervise_run,
        preview=supervise_preview,
        check=_check_supervise,
        description=_("A notification that must be acknowledged in time, escalated when it is not."),
        order=20,
    ),
    RuleAction(
        "rules.decide",
        _("Evaluate a decision table"),
        DecideParams,
        run=decide_run,
        preview=decide_preview,
        check=_check_decide,
        description=_("Evaluate a DMN decision; later actions can use its outputs."),
        order=30,
    ),
    RuleAction(
        "rules.webhook",
        _("Call a webhook"),
        WebhookParams,
        run=webhook_run,
        preview=webhook_preview,
        description=_("POST the event as signed JSON to another system."),
        order=40,
    ),
)
