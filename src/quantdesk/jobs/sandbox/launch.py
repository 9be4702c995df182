"""The one-shot launcher: ``python -I -m quantdesk.jobs.sandbox.launch LOG EVENTS OUTCOME``.

For runs that are rare enough not to need a warm template (the compile check, the API's
self-test): reads ``{"target", "args", "policy"}`` as JSON on stdin and becomes the run's
monitor (``sandbox.enter.run_monitor``) with the three inherited pipe descriptors.
"""

from __future__ import annotations

import json
import sys

from quantdesk.jobs.sandbox.enter import run_monitor
from quantdesk.jobs.sandbox.policy import SandboxPolicy
from quantdesk.jobs.sandbox.targets import resolve


def main() -> None:
    log_fd, events_fd, outcome_fd = (int(a) for a in sys.argv[1:4])
    request = json.loads(sys.stdin.read())
    policy = SandboxPolicy.from_dict(request["policy"])
    target = resolve(request["target"], request.get("args") or {})
    run_monitor(policy, target, log_fd, events_fd, outcome_fd)


if __name__ == "__main__":
    main()
