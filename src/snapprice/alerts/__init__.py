"""Price alerts: rules evaluated into the `alert` table, new ones sent to a webhook."""

from snapprice.alerts.rules import evaluate
from snapprice.alerts.webhook import notify

__all__ = ["evaluate", "notify"]
