"""The events pipe between a sandboxed job's code and its runner.

The code process finds it on file descriptor ``EVENTS_FD`` and writes one JSON object per
line (``{"progress": ...}``, ``{"error": {"code", "message"}}``, ``{"sandbox_ready_at": ...}``);
the runner reads them as untrusted input (``jobs/sandbox/handle.py``). Both sides import the
number from here, below the sandbox and the job code alike.
"""

from __future__ import annotations

#: The events pipe of the code process.
EVENTS_FD = 3
