"""Redemptions reported as a CSV file (a shop's export): each line through ``offer_redeem``.

The first line names the columns; only "code" is required. Each line is redeemed on its own, so a
bad line is reported with its number and reason and the good ones are kept.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from offers.models import Redemption
from offers.services.pools import read_code_file
from offers.services.redemption import RedemptionError, offer_redeem
from subscribers.import_files import ImportFileError
from subscribers.models import Subscriber, normalise_email

COLUMNS = {
    "code": {"code", "coupon", "couponcode", "gutschein", "gutscheincode", "rabattcode", "voucher"},
    "order_ref": {"order", "orderid", "ordernumber", "bestellung", "bestellnummer"},
    "order_value": {"value", "ordervalue", "total", "amount", "betrag", "bestellwert", "summe"},
    "currency": {"currency", "waehrung", "währung"},
    "email": {"email", "mail", "emailadresse", "emailaddress"},
    "redeemed_at": {"redeemedat", "date", "datum", "time", "eingelöst", "eingeloest"},
}


@dataclass
class RedemptionReport:
    redeemed: list[tuple[int, str]] = field(default_factory=list)  # (line, code)
    replays: list[tuple[int, str]] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, reason)


def _key(column: str) -> str:
    return re.sub(r"[^0-9a-zäöüß]", "", column.lower())


def _columns(header: list[str]) -> dict[str, int]:
    found = {}
    for index, column in enumerate(header):
        for target, names in COLUMNS.items():
            if _key(column) in names and target not in found:
                found[target] = index
    if "code" not in found:
        raise ImportFileError(_("The first line must name a column “code”."))
    return found


def _when(text: str) -> datetime | None:
    """A date (taken as noon, local time) or a date and time; naive ones are local time."""
    if not text:
        return None
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = datetime(day.year, day.month, day.day, 12) if day else parse_datetime(text)
    except ValueError:  # well-formed but impossible, such as 2026-02-30
        moment = None
    if moment is None:
        raise RedemptionError(RedemptionError.INVALID, _("The date must look like 2026-05-31 or 2026-05-31 14:30."))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def redemptions_upload(*, data: bytes) -> RedemptionReport:
    rows = read_code_file(data)
    if not rows:
        raise ImportFileError(_("The file is empty."))
    columns = _columns(rows[0][1])
    report = RedemptionReport()

    def cell(row, name):
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    for line, row in rows[1:]:
        if not any(value.strip() for value in row):
            continue
        code = cell(row, "code")
        try:
            email = normalise_email(cell(row, "email"))
            outcome = offer_redeem(
                code=code,
                source=Redemption.Source.CSV,
                order_ref=cell(row, "order_ref"),
                order_value=cell(row, "order_value"),
                currency=cell(row, "currency"),
                subscriber=Subscriber.objects.filter(email=email).first() if email else None,
                redeemed_at=_when(cell(row, "redeemed_at")),
            )
        except RedemptionError as error:
            report.errors.append((line, code, str(error)))
            continue
        (report.redeemed if outcome.created else report.replays).append((line, code))
    return report
