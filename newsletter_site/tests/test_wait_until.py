import pytest

from newsletter_site.testing import wait_until


def test_wait_until_returns_the_first_truthy_value():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0.01) == "ready"


def test_wait_until_names_what_it_waited_for_and_the_last_value_seen():
    calls = []

    def outbox():
        calls.append(1)
        return []

    with pytest.raises(AssertionError, match=r"^waited 0\.2 s for the mail to arrive; last value: \[\]$"):
        wait_until(outbox, timeout=0.2, interval=0.01, message="the mail to arrive")
    assert len(calls) > 2, "it kept asking until the time was up"


def test_wait_until_without_a_message_names_the_condition():
    def nothing_yet():
        return None

    with pytest.raises(AssertionError, match=r"for <function .*nothing_yet at .*>; last value: None$"):
        wait_until(nothing_yet, timeout=0.05, interval=0.01)


def test_wait_until_can_hand_the_last_value_back_instead_of_failing():
    assert wait_until(lambda: 0, timeout=0.05, interval=0.01, raise_on_timeout=False) == 0
