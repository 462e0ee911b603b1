"""Every error of the REST API in one shape: RFC 9457 problem details (``application/problem+json``)."""

from functools import wraps
from http import HTTPStatus

from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, re_path
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from api.services import ApiKeyError

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Raised by an endpoint to answer with a problem; ``extra`` adds members (RFC 9457 extensions)."""

    def __init__(self, status: int, detail: str, *, extra: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


def problem_response(status: int, detail: str, *, extra: dict | None = None, headers: dict | None = None):
    # With type "about:blank" RFC 9457 asks for the HTTP status phrase as the title.
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    response = JsonResponse({**body, **(extra or {})}, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="kanal"'
    return response


def _validation_errors(exc: ValidationError) -> list[dict]:
    """Where and what, never the submitted value: it may be an address."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors
    ]


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's default error answers, so validation errors come out as problems too."""

    def on_problem(request, exc: Problem):
        return problem_response(exc.status, exc.detail, extra=exc.extra, headers=exc.headers)

    def on_api_key_error(request, exc: ApiKeyError):
        if exc.status == 401:
            return problem_response(401, _("The API key is missing, unknown, expired or revoked."))
        return problem_response(403, str(exc))

    def on_validation_error(request, exc: ValidationError):
        return problem_response(422, _("The request is not valid."), extra={"errors": _validation_errors(exc)})

    def on_http_error(request, exc: HttpError):
        return problem_response(exc.status_code, str(exc))

    def on_not_found(request, exc: Http404):
        return problem_response(404, _("Not found."))

    api.add_exception_handler(Problem, on_problem)
    api.add_exception_handler(ApiKeyError, on_api_key_error)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)


def _not_allowed_as_problem(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            return problem_response(
                405,
                _("This method is not allowed here; allowed: %(methods)s.") % {"methods": response["Allow"]},
                headers={"Allow": response["Allow"]},
            )
        return response

    return wrapper


def _unknown_path(request, *args, **kwargs):
    return problem_response(404, _("There is no such path in this API; see its schema at openapi.json."))


_unknown_path.csrf_exempt = True


def problem_urls(patterns: list) -> list:
    """The API's URL patterns whose 405 answers are problems, then a catch-all 404 problem."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _not_allowed_as_problem(pattern.callback)
    return [*patterns, re_path(r"", _unknown_path)]
