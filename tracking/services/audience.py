"""The audience page's figures, kept by the hourly engagement task.

The page's three aggregates (segments, score ranges, list growth) read every active subscriber
with their engagement row and every subscription: about a second at a million subscribers. The
task that recomputes the scores stores them right after, for all lists together and each list,
and the page shows them "as of" that run (``tracking.selectors.audience_figures``).
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tracking.models import AudienceSummary
from tracking.selectors.audience import audience_figures_basis, audience_figures_compute

logger = logging.getLogger(__name__)


def audience_summary_refresh(*, now: datetime | None = None) -> int:
    """Recompute the audience figures of every list and all lists and replace the stored ones;
    returns how many rows were stored (0 when the previous ones were kept, see below)."""
    now = now or timezone.now()
    basis = audience_figures_basis()
    try:
        with transaction.atomic():
            found = audience_figures_compute(now=now)
            AudienceSummary.objects.all().delete()
            AudienceSummary.objects.bulk_create(
                AudienceSummary(mailing_list_id=pk, computed_at=now, basis=basis, figures=figures)
                for pk, figures in found.items()
            )
    except IntegrityError:
        # A list deleted while computing, or a second run storing at the same moment: the stored
        # figures stay as they were, with their own time, until the next run.
        logger.warning("audience figures not stored: the lists or the stored figures changed meanwhile")
        return 0
    return len(found)
