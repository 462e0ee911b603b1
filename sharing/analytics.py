"""Forwards and shares on a campaign's analytics page (registered in ``tracking.analytics.tables``)."""

from django.utils.translation import gettext_lazy as _

from sharing import selectors
from sharing.models import Network
from tracking.analytics.tables import INT, TEXT, Chart, Column, Table


def campaign_sharing_table(*, campaign) -> Table:
    counts = selectors.campaign_sharing_counts(campaign=campaign)
    labels = dict(Network.choices)
    rows = [
        [str(_("Forwards")), counts.forwards],
        [str(_("Readers who forwarded")), counts.forwarders],
        [str(_("Mails sent to friends")), counts.forwarded_mails],
        *(
            [str(_("Shares: %(network)s")) % {"network": labels[network]}, clicks]
            for network, clicks in counts.shares.items()
        ),
    ]
    return Table(
        slug="sharing",
        title=_("Forwards and shares"),
        columns=[Column("figure", _("Figure"), TEXT), Column("count", _("Count"), INT)],
        rows=rows,
        charts=[Chart("bar", values=(1,), horizontal=True)] if counts.forwards or counts.total_shares else [],
        note=_(
            "People only: a forward is a form a person sent, a share a click on a share link that "
            "tracking's rules do not take for a machine. Nothing about the friends is kept."
        ),
    )
