"""The one-shot launcher: ``python -I -m quantdesk.jobs.sandbox.launch LOG EVENTS OUTCOME``.

For runs that are rare enough not to need a warm template (the compile check, the API's
self-test): reads ``{"target", "args", "policy"}`` as JSON on stdin and becomes the run's
monitor's parent (``sandbox.enter.prepare`` + activate) with the three inherited pipe
descriptors, and exits when the monitor does.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from quantdesk.jobs.sandbox.enter import prepare
from quantdesk.jobs.sandbox.linux import PR_SET_PDEATHSIG, prctl
from quantdesk.jobs.sandbox.policy import SandboxPolicy


def main() -> None:
    """Run the request on stdin in a new sandbox and exit with its monitor's exit status.

    ``sys.argv[1:4]`` are the log, events and outcome pipe descriptors. Dies (SIGKILL) with
    its parent.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    fds = [int(a) for a in sys.argv[1:4]]
    request = json.loads(sys.stdin.read())
    prepared = prepare(SandboxPolicy.from_dict(request["policy"]))
    prepared.activate(request, fds)
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(prepared.pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
