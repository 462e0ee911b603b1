"""The surveys' part of a campaign's analytics page (registered in ``tracking.analytics.tables``)."""

from surveys import selectors
from tracking.analytics import tables


def campaign_surveys_table(*, campaign) -> tables.Table:
    return tables.surveys_table(selectors.campaign_survey_counts(campaign=campaign))
