"""Template tags of the shell: ``{% render_card rendered %}`` draws one workbench card."""

from __future__ import annotations

import logging

from django import template
from django.conf import settings
from django.template.context import Context
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from medoa.web.selectors import RenderedCard

register = template.Library()
logger = logging.getLogger(__name__)


def _unavailable() -> SafeString:
    return format_html('<p class="empty">{}</p>', _("This card could not be loaded."))


@register.simple_tag(takes_context=True)
def render_card(context: Context, rendered: RenderedCard) -> SafeString:
    """Render the card's template inside the page's context (no second run of the context
    processors) with the card's own context pushed on top."""
    if rendered.failed:
        return _unavailable()
    try:
        card_template = context.template.engine.get_template(rendered.card.template)  # type: ignore[union-attr]
        with context.push(card=rendered.card, **rendered.context):
            return SafeString(card_template.render(context))
    except Exception:
        if settings.DEBUG:
            raise
        logger.exception("workbench card %s failed to render", rendered.card.key)
        return _unavailable()
