"""The audience page's figures, kept by the hourly engagement task.

The page's three aggregates (segments, score ranges, list growth) read every active subscriber
with their engagement row and every subscription: about a second at a million subscribers. The
task that recomputes the scores stores them right after, for all lists together and each list,
and the page shows them "as of" that run (``tracking.selectors.audience_figures``).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tracking.models import AudienceSummary
from tracking.selectors.audience import audience_figures_basis, audience_figures_compute


def audience_summary_refresh(*, now: datetime | None = None) -> int:
    """Recompute the audience figures of every list and all lists and replace the stored ones;
    returns how many rows were stored."""
    now = now or timezone.now()
    basis = audience_figures_basis()
    with transaction.atomic():
        found = audience_figures_compute(now=now)
        AudienceSummary.objects.all().delete()
        AudienceSummary.objects.bulk_create(
            AudienceSummary(mailing_list_id=pk, computed_at=now, basis=basis, figures=figures)
            for pk, figures in found.items()
        )
    return len(found)
