"""Admin actions on subscribers. Each is thin and calls a service."""

SUBSCRIBER_ACTIONS: list = []
