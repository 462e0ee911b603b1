"""Profile changes made for a subscriber by a machine client (the REST API): names, language, tags."""

from django.db import transaction

from subscribers.models import Subscriber, Tag


@transaction.atomic
def subscriber_profile_update(
    *,
    subscriber: Subscriber,
    first_name: str | None = None,
    last_name: str | None = None,
    language: str | None = None,
    tags_add: list[str] = (),
    tags_remove: list[str] = (),
) -> Subscriber:
    """Change only what is given (None leaves a field alone). Tags to add are created when new;
    tags to remove that the subscriber does not carry are ignored."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    changed = []
    for field, value in (("first_name", first_name), ("last_name", last_name), ("language", language)):
        if value is not None and getattr(subscriber, field) != value:
            setattr(subscriber, field, value)
            changed.append(field)
    if changed:
        subscriber.clean_fields(exclude=[field.name for field in Subscriber._meta.fields if field.name not in changed])
        subscriber.save(update_fields=[*changed, "updated_at"])
    if tags_add:
        # add() rather than a bulk insert: automations start on the m2m signal (automations/signals.py).
        subscriber.tags.add(*[Tag.objects.get_or_create(name=name)[0] for name in dict.fromkeys(tags_add)])
    if tags_remove:
        subscriber.tags.remove(*Tag.objects.filter(name__in=tags_remove))
    return subscriber
