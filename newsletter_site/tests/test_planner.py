"""without_jit: PostgreSQL's JIT is off inside the block and as before after it, also when the block fails."""

import pytest
from django.db import connection, transaction

from newsletter_site.planner import without_jit

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's; SQLite has none"),
]


def jit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        return cursor.fetchone()[0]


def test_jit_is_off_inside_the_block_and_back_after_it():
    assert jit() == "on"
    with transaction.atomic():  # an open transaction: the block's setting must not outlive it
        with without_jit():
            assert jit() == "off"
        assert jit() == "on"


def test_a_failing_block_puts_jit_back_too():
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), without_jit():
            assert jit() == "off"
            1 / 0  # noqa: B018
        assert jit() == "on"


def test_an_earlier_setting_in_the_transaction_is_kept():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        with without_jit():
            assert jit() == "off"
        assert jit() == "off"
