import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission


@pytest.fixture
def offer_keeper(db):
    """A staff user who may change offers: the one who gets the low-pool mail."""
    user = get_user_model().objects.create_user("keeper", "keeper@example.org", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="offers", codename="change_offer"))
    return user
