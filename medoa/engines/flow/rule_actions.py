"""The process engine's rule action ``flow.start``: start a process with variables (registered in
``FlowConfig.ready()``; the rule engine never imports the process engine).

The initiator is a named user or the person a payload field names; the process starts as if that
person had started it (their permission to start processes is checked as usual). Variables are
expressions over ``event`` and ``payload``; the business key and the title are texts with
``{variables}`` (the payload's fields, ``event_id``, ``event_type``, ``rule``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medoa.core.notify.templating import TemplateError, TemplateVariableError, render_text, template_fields
from medoa.engines.rules import expressions
from medoa.engines.rules.registry import ActionContext, ActionFailed, RuleAction

from .errors import FlowError
from .models import ProcessDefinition
from .services import instance_start


class StartProcessParams(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    process: str = Field(..., min_length=1, max_length=64, description="the process definition's key")
    initiator: str = Field("", max_length=150, description="a username")
    initiator_field: str = Field("", max_length=100, description="a payload field holding a username")
    variables: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="variable → expression over event and payload"
    )
    business_key: str = Field("", max_length=200, description="text with {variables}")
    title: str = Field("", max_length=300, description="text with {variables}")

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            problems = expressions.check(source)
            if problems:
                raise ValueError(f"variable {name}: {problems[0]}")
            unknown = expressions.free_names(source) - {"event", "payload"}
            if unknown:
                raise ValueError(f"variable {name}: name '{sorted(unknown)[0]}' is not defined")
        return value

    @field_validator("business_key", "title")
    @classmethod
    def _texts(cls, value: str) -> str:
        try:
            template_fields(value)
        except TemplateError as exc:
            raise ValueError(f"not a usable template: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _who(self) -> StartProcessParams:
        if bool(self.initiator) == bool(self.initiator_field):
            raise ValueError("give either an initiator or an initiator field")
        return self


def _check(params: StartProcessParams) -> None:
    if not ProcessDefinition.objects.filter(
        key=params.process, is_active=True, latest_version__isnull=False
    ).exists():
        raise ActionFailed(_("There is no such process."))
    if params.initiator and not get_user_model().objects.filter(username=params.initiator).exists():
        raise ActionFailed(_("Unknown username."))


def _resolve(ctx: ActionContext, params: StartProcessParams) -> dict[str, Any]:
    username = params.initiator or ctx.payload.get(params.initiator_field)
    if not isinstance(username, str) or not username:
        raise ActionFailed(_("The event names no initiator."))
    try:
        texts = {
            "business_key": render_text(params.business_key, ctx.template_variables, where="business_key"),
            "title": render_text(params.title, ctx.template_variables, where="title"),
        }
    except TemplateVariableError as exc:
        raise ActionFailed(f"missing variable(s): {', '.join(sorted(exc.missing))}") from None
    variables = {
        name: expressions.evaluate(source, ctx.variables) for name, source in params.variables.items()
    }
    return {"initiator": username, "variables": variables, **texts}


def start_process_run(ctx: ActionContext, params: StartProcessParams) -> dict[str, Any]:
    resolved = _resolve(ctx, params)
    user = get_user_model().objects.filter(username=resolved["initiator"], is_active=True).first()
    if user is None:
        raise ActionFailed(_("Unknown username."))
    try:
        instance = instance_start(
            actor=user,
            definition_key=params.process,
            variables=resolved["variables"],
            business_key=resolved["business_key"],
            title=resolved["title"],
        )
    except FlowError as exc:
        raise ActionFailed(exc.message) from None
    return {"instance": instance.pk, "process": params.process, "initiator": resolved["initiator"]}


def start_process_preview(ctx: ActionContext, params: StartProcessParams) -> dict[str, Any]:
    return {"process": params.process, **_resolve(ctx, params)}


START_PROCESS = RuleAction(
    "flow.start",
    _("Start a process"),
    StartProcessParams,
    run=start_process_run,
    preview=start_process_preview,
    check=_check,
    description=_("Start a process with variables computed from the event."),
    order=50,
)
