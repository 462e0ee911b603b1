"""Codes and redemptions on a campaign's analytics page (registered in ``tracking.analytics.tables``)."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from offers import selectors
from tracking.analytics.tables import INT, MONEY, PERCENT, TEXT, Column, Table


def _rows(label: str, figures: list[selectors.CampaignOfferFigures], currencies: list[str]) -> list[list]:
    return [
        [
            label,
            item.offer_name,
            item.issued,
            item.redeemed,
            item.rate,
            *(item.values.get(currency) for currency in currencies),
        ]
        for item in figures
    ]


def campaign_offers_table(*, campaign) -> Table:
    """One row per offer for all recipients, then per offer for each saved segment."""
    overall = selectors.campaign_offer_figures(campaign=campaign)
    by_segment = selectors.campaign_offer_figures_by_segment(campaign=campaign) if overall else []
    currencies = sorted({currency for item in overall for currency in item.values})
    rows = _rows(gettext("All recipients"), overall, currencies)
    for segment, figures in by_segment:
        rows += _rows(gettext("Segment “%(name)s”") % {"name": segment.name}, figures, currencies)
    return Table(
        slug="offers",
        title=_("Offers"),
        columns=[
            Column("recipients", _("Recipients"), TEXT),
            Column("offer", _("Offer"), TEXT),
            Column("codes_issued", _("Codes issued")),
            Column("redeemed", _("Redeemed"), INT),
            Column("redemption_rate_percent", _("Redemption rate"), PERCENT),
            *(
                Column(
                    f"order_value_{currency.lower()}",
                    gettext("Order value (%(currency)s)") % {"currency": currency},
                    MONEY,
                )
                for currency in currencies
            ),
        ],
        rows=rows,
        note=_(
            "Unique codes given with this campaign's sent mails and the shop's redemptions of them; order "
            "values as the shop reported them, summed per currency. A shared code is given to nobody in "
            "particular, and a code is given per mail, not per article, so there are no figures per shared "
            "code or per article. Segments: who is a member today, among the recipients who got a code; a segment "
            "that reads behaviour leaves out people without tracking consent. Redemptions are the shop's "
            "reports, not tracking events: there are no machine redemptions to leave out."
        ),
    )
