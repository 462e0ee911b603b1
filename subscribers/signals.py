"""Receivers for signals from other packages (Anymail's ESP webhooks)."""
