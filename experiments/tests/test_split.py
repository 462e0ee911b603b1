from collections import Counter

import pytest

from experiments.split import REST, bucket, split_audience

SUBSCRIBERS = range(1, 20_001)


def test_split_is_the_same_on_every_call():
    first = split_audience(test_id=7, subscriber_ids=SUBSCRIBERS, test_share=20, variants=3)
    again = split_audience(test_id=7, subscriber_ids=reversed(SUBSCRIBERS), test_share=20, variants=3)
    assert {group: sorted(ids) for group, ids in first.items()} == {group: sorted(ids) for group, ids in again.items()}


def test_groups_are_disjoint_and_cover_everyone():
    groups = split_audience(test_id=7, subscriber_ids=SUBSCRIBERS, test_share=30, variants=4)
    counts = Counter(pk for ids in groups.values() for pk in ids)
    assert set(counts) == set(SUBSCRIBERS)
    assert set(counts.values()) == {1}


@pytest.mark.parametrize(("share", "variants"), [(20, 2), (10, 4), (50, 3)])
def test_each_group_gets_its_share_within_tolerance(share, variants):
    groups = split_audience(test_id=3, subscriber_ids=SUBSCRIBERS, test_share=share, variants=variants)
    expected = len(SUBSCRIBERS) * share / 100 / variants
    for index in range(variants):
        assert abs(len(groups[index]) - expected) < 4 * expected**0.5
    assert abs(len(groups[REST]) - len(SUBSCRIBERS) * (100 - share) / 100) < 4 * len(SUBSCRIBERS) ** 0.5


def test_other_tests_and_other_secrets_split_otherwise(settings):
    one = split_audience(test_id=1, subscriber_ids=SUBSCRIBERS, test_share=20, variants=2)
    two = split_audience(test_id=2, subscriber_ids=SUBSCRIBERS, test_share=20, variants=2)
    assert one[0] != two[0]
    before = bucket(test_id=1, subscriber_id=5)
    settings.SECRET_KEY = "another secret for this test, long enough to be a real one"
    assert bucket(test_id=1, subscriber_id=5) != before
