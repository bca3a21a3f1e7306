from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryStatus(models.TextChoices):
    """Where one event stands with one subscriber.

    ``pending`` → ``delivered``; a handler that raises makes it ``failed`` (tried again after a
    backoff) until its attempts run out, then ``dead`` (kept for an administrator to redeliver).
    """

    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Dead")


# Deliveries the dispatcher still has to run.
DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
