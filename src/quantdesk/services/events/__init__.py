"""Platform events and live updates: the event log, and the hub that pushes to WebSockets."""

from quantdesk.services.events.hub import Hub, Subscriber
from quantdesk.services.events.log import EventLog, EventPage, EventView

__all__ = ["EventLog", "EventPage", "EventView", "Hub", "Subscriber"]
