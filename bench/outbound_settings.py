"""The production settings plus one exception: webhooks may reach the bench's receiver on 127.0.0.1.
``KANAL_OUTBOUND_ALLOWED_NETWORKS`` is deliberately not read from the environment, hence a module."""

from newsletter_site.settings import *  # noqa: F403

KANAL_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
