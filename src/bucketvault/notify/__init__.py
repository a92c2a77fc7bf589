"""notify: telling someone when a plan run ends — webhooks per service.

A service's *targets* are the URLs given with `service add … --notify URL` (kept in
`$BUCKETVAULT_HOME/notify.json`, mode 0600: a webhook URL often carries its own token).
When a run of the scheduler ends COMPLETE or ERROR, each target gets one JSON POST
(`payload`): service, plan, status, duration, counts and the first failed keys — never
a parameter value, so never a secret. Delivery runs in the background, retried with
exponential backoff, and never delays or fails the plan.
"""

from bucketvault.notify.targets import check_targets, load_targets, remove_targets, save_targets
from bucketvault.notify.webhook import Notifier, NotifyConfig, payload

__all__ = [
    "Notifier",
    "NotifyConfig",
    "check_targets",
    "load_targets",
    "payload",
    "remove_targets",
    "save_targets",
]
