"""The REST API, version 1: one NinjaAPI mounted at ``/api/v1/`` (see docs/architecture.md, "REST API")."""

from ninja import NinjaAPI

from api.rest import (
    automations,
    campaigns,
    lists,
    offers,
    problems,
    segments,
    subscribers,
    surveys,
    transactional,
)


class KanalApi(NinjaAPI):
    """Ninja's API whose own answers to an unknown path or method are problems too."""

    def _get_urls(self):
        return problems.problem_urls(super()._get_urls())


api = KanalApi(
    title="Kanal API",
    version="1",
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
problems.install(api)
api.add_router("/lists/", lists.router)
api.add_router("/subscribers/", subscribers.router)
api.add_router("/segments/", segments.router)
api.add_router("/campaigns/", campaigns.router)
api.add_router("/surveys/", surveys.router)
api.add_router("/offers/", offers.router)
api.add_router("/automations/", automations.router)
api.add_router("/transactional/", transactional.router)
