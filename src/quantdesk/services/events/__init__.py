"""Platform events and live updates: the event log, and the hub that pushes to WebSockets."""

from quantdesk.core.events import EventRecorder
from quantdesk.services.events.hub import Hub, Subscriber
from quantdesk.services.events.log import EventLog, EventPage, EventView
from quantdesk.services.events.processes import ProcessList, ProcessMonitor, ProcessView
from quantdesk.services.events.samples import HubLogHandler

__all__ = [
    "EventLog", "EventPage", "EventRecorder", "EventView", "Hub", "HubLogHandler", "ProcessList",
    "ProcessMonitor", "ProcessView", "Subscriber",
]  # fmt: skip
