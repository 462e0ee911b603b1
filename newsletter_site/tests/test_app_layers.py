"""The apps form layers: each imports only the apps below it at module level.

subscribers <- audience <- campaigns <- tracking <- surveys <- automations. Audience holds segments and the
registry of their condition kinds (``audience.conditions``); the apps above register the kinds
whose data they own. Surveys sits on tracking (its answer pages use
tracking's machine detection and events); tracking's analytics shows survey figures through
a registry (``tracking.analytics.tables.CAMPAIGN_TABLES``), and campaigns asks registered
providers for per-recipient links and the survey block (``campaigns.extensions``). A lower app
that needs a higher one offers such a seam; the higher app registers in ``AppConfig.ready()``.
Referrals sits beside them on campaigns (its referral link is a merge tag through
``campaigns.extensions``; the sign-up form and preference page reach it through
``subscribers.extensions``) and automations listens to its milestone signal.
Referrals also sits on offers (a milestone can give a pool code) and on sharing (its tokens ride on
share links through ``sharing.referrals.REFERRAL_SOURCES``).
Sharing (forward and share) sits on tracking beside surveys: it uses tracking's machine rules and
adds a table to its analytics page, and fills campaigns' share block (``campaigns.extensions``);
automations listens to its ``sharing.signals.campaign_shared``.
Offers sits on tracking beside surveys (its table on the analytics page, its segment conditions)
and sends ``offers.signals.redemption_recorded``.
Automations sits on top: the apps below send signals (``subscribers.signals.subscription_confirmed``,
Django's m2m_changed for tags) and automations listens. The dashboard sits above all of them and
no app imports it. Imports inside functions count too: a lazy
import is still a dependency. Tests may import anything.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAY_IMPORT = {
    # Brands (look, legal footer, custom layouts) knows no app; lists and campaigns choose one.
    "brands": set(),
    # The media library knows no app; campaigns' articles pick their images from it.
    "media": set(),
    "subscribers": {"brands"},
    "audience": {"brands", "subscribers"},
    "campaigns": {"brands", "subscribers", "audience", "media"},
    "tracking": {"brands", "subscribers", "audience", "campaigns"},
    "surveys": {"brands", "subscribers", "audience", "campaigns", "tracking"},
    "sharing": {"brands", "subscribers", "audience", "campaigns", "tracking"},
    # Referrals gives coupons of offers as milestone rewards and its tokens to sharing's share links.
    "referrals": {"brands", "subscribers", "audience", "campaigns", "offers", "sharing"},
    "automations": {
        "brands",
        "subscribers",
        "audience",
        "campaigns",
        "tracking",
        "surveys",
        "referrals",
        "offers",
        "sharing",
    },
    # API keys know no app (``api/apps.py`` registers the Idempotency-Key erase hook with subscribers).
    # Offers sits on tracking (its table on the analytics page) and campaigns (its assignments name
    # deliveries) and on ``api`` (scopes, the key check); automations listens to its redemption signal.
    "api": {"subscribers"},
    # The REST API (``api/rest/``, ``api/urls.py``) is the top layer, like the dashboard: thin views over
    # each app's services and selectors. Only the URLconf imports it, so offers may import ``api``.
    "api.rest": {
        "api",
        "subscribers",
        "audience",
        "campaigns",
        "tracking",
        "surveys",
        "offers",
        "automations",
        "transactional",
    },
    "offers": {"brands", "subscribers", "audience", "campaigns", "tracking", "api"},
    # RSS-to-email makes campaigns of a list's feed items and sends them through campaigns' pipeline.
    "digests": {"brands", "subscribers", "audience", "campaigns"},
    # A/B tests send copies of a campaign and judge them on tracking's human figures, survey answers
    # and offer redemptions; campaigns reaches it only through ``campaigns.extensions.SEND_BLOCKERS``.
    "experiments": {"subscribers", "audience", "campaigns", "tracking", "surveys", "offers"},
    # Send time learns from tracking's human events and survey answers, and gives campaigns' deliveries
    # their due times through ``campaigns.extensions.DELIVERY_SCHEDULERS``.
    "sendtime": {"brands", "subscribers", "audience", "campaigns", "tracking", "surveys"},
    # Outgoing webhooks listen to the signals of the apps below and know their models; none imports it.
    "webhooks": {"subscribers", "campaigns", "surveys", "offers", "referrals"},
    # Transactional mail renders with campaigns' compiler and sends through its transports; its
    # endpoint is in the REST API's layer (``api.rest.transactional``). It sits on tracking, whose
    # pixel, click redirect and batcher reach its messages through ``tracking.extensions``.
    "transactional": {"brands", "subscribers", "campaigns", "tracking", "api"},
    # Inbound mail (DSNs, ARF, mailto unsubscribes) applies feedback through subscribers' services,
    # names the campaign delivery a bounce is about and reports it to tracking's delivery figures;
    # nothing imports it.
    "inbound": {"subscribers", "campaigns", "tracking"},
    # The staff dashboard sits on top of everything: it reads each app's selectors directly.
    "dashboard": {
        "brands",
        "subscribers",
        "audience",
        "campaigns",
        "tracking",
        "surveys",
        "sharing",
        "referrals",
        "automations",
        "api",
        "offers",
        "digests",
        "webhooks",
    },
    # The demo data ``up`` seeds goes through the apps' own services; only kanal_bootstrap imports it.
    "demo": {"brands", "subscribers", "audience", "campaigns", "tracking", "surveys"},
}


def _module_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported (not those inside functions)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, [node.module]
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)


REST_LAYER = ("rest", "urls.py")
"""Modules of the ``api`` app that form the ``api.rest`` layer."""


def _app_modules(app: str):
    directory = app.split(".")[0]
    for path in sorted((ROOT / directory).rglob("*.py")):
        parts = path.relative_to(ROOT / directory).parts
        if parts[0] in ("tests", "migrations"):
            continue
        if directory == "api" and (parts[0] in REST_LAYER) != (app == "api.rest"):
            continue
        yield path


def _layer_of(name: str) -> str:
    if name == "api.rest" or name.startswith("api.rest.") or name == "api.urls":
        return "api.rest"
    return name.split(".")[0]


def _all_imports(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, [node.module]


def _upward_imports(app: str) -> list[str]:
    allowed = MAY_IMPORT[app] | {app}
    found = []
    for path in _app_modules(app):
        for lineno, names in _all_imports(ast.parse(path.read_text(), filename=str(path))):
            for name in names:
                top = _layer_of(name)
                if top in MAY_IMPORT and top not in allowed:
                    found.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    return found


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_no_app_imports_a_higher_app(app):
    assert _upward_imports(app) == []


def test_the_layer_check_sees_an_upward_import():
    tree = ast.parse("import os\ntry:\n    from tracking.models import Event\nexcept ImportError:\n    pass\n")
    assert [names for _line, names in _module_level_imports(tree)] == [["tracking.models"], ["os"]]


def test_the_rest_layer_is_checked_apart_from_the_api_app():
    assert _layer_of("api.rest.auth") == "api.rest"
    assert _layer_of("api.services") == "api"
    assert {path.name for path in _app_modules("api.rest")} >= {"v1.py", "urls.py"}
    assert not {path.name for path in _app_modules("api")} & {"v1.py", "urls.py"}


@pytest.mark.parametrize("app", ["automations", "campaigns", "inbound", "subscribers", "tracking"])
def test_tasks_import_services_inside_the_function(app):
    tree = ast.parse((ROOT / app / "tasks.py").read_text())
    services = [names for _line, names in _module_level_imports(tree) if any(".services" in name for name in names)]
    assert services == []


def test_every_app_with_tests_is_in_the_suite():
    """pytest collects only its testpaths: an app left out there has tests that never run in CI."""
    import tomllib

    testpaths = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"])
    apps_with_tests = {path.relative_to(ROOT).parts[0] for path in ROOT.glob("*/tests/__init__.py")}
    assert apps_with_tests <= testpaths, apps_with_tests - testpaths
