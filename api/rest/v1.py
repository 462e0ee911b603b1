"""The REST API, version 1: one NinjaAPI mounted at ``/api/v1/`` (see docs/architecture.md, "REST API").

Apps above api add their endpoints with ``router_add`` in ``AppConfig.ready()`` (transactional
mail), before the URLconf reads ``api.urls``.
"""

from ninja import NinjaAPI, Router

from api.rest import lists, problems, subscribers

api = NinjaAPI(
    title="Kanal API",
    version="1",
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
problems.install(api)
api.add_router("/lists/", lists.router)
api.add_router("/subscribers/", subscribers.router)

_added: set[str] = set()


def router_add(prefix: str, router: Router) -> None:
    """Mount another app's router under ``/api/v1/<prefix>``; once per prefix (ready() may run twice)."""
    if prefix not in _added:
        _added.add(prefix)
        api.add_router(prefix, router)
