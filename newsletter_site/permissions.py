"""The one permission layer of the staff side.

Every staff page (under ``/staff/``) and every URL a ModelAdmin adds goes through this module and
names the permissions its action needs. Visitors who are not logged in as active staff are sent to
the admin login; staff users who lack a permission get 403. Nothing else in Kanal checks
``is_staff`` or uses ``staff_member_required``.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.urls import URLPattern, path


def _holds(user, permission: str) -> bool:
    app_label, _dot, codename = permission.partition(".")
    if codename.startswith("view_"):
        # As in Django's admin: who may change objects may also view them.
        return user.has_perm(permission) or user.has_perm(f"{app_label}.change_{codename.removeprefix('view_')}")
    return user.has_perm(permission)


def has_staff_permissions(user, *permissions: str) -> bool:
    """Whether ``user`` is active staff holding every one of ``permissions`` (superusers hold all)."""
    return bool(user.is_active and user.is_staff and all(_holds(user, permission) for permission in permissions))


def require(request, *permissions: str) -> None:
    """Refuse (403) unless the user holds ``permissions``; for needs that depend on the request,
    such as personalising a preview with a real subscriber."""
    if not has_staff_permissions(request.user, *permissions):
        raise PermissionDenied


def may_use(user, view: Callable) -> bool:
    """Whether ``user`` may open a guarded view; for showing a link or button only to them."""
    return has_staff_permissions(user, *view.staff_permissions)


def _guarded(view: Callable, permissions: tuple[str, ...]) -> Callable:
    if not permissions:
        raise ValueError("A staff view must name the permissions it needs.")

    @wraps(view)
    def guarded(request, *args, **kwargs):
        require(request, *permissions)
        request.is_staff_page = True  # staff pages keep Kanal's own look, not a list's brand
        return view(request, *args, **kwargs)

    # Read by the test that walks every staff URL.
    guarded.staff_permissions = permissions
    return guarded


def staff_permission_required(*permissions: str) -> Callable[[Callable], Callable]:
    """Decorate a staff function view: the admin login for outsiders, 403 without ``permissions``."""

    def decorator(view: Callable) -> Callable:
        return staff_member_required(_guarded(view, permissions))

    return decorator


def admin_path(model_admin, route: str, view: Callable, *permissions: str, name: str) -> URLPattern:
    """A URL a ModelAdmin adds: the admin's own login redirect and CSRF protection, then ``permissions``."""
    return path(route, model_admin.admin_site.admin_view(_guarded(view, permissions)), name=name)
