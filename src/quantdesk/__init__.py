"""quantdesk."""
