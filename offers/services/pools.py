"""Filling an offer's codes: generated unique codes, codes from a CSV file, or one shared code.

Every write locks the offer row first, so two uploads into one pool run one after the other and
the "already in the pool" check before each insert is exact: no duplicate reaches the table (and
the unique constraint on (offer, lookup) would refuse one anyway).
"""

import codecs
import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from newsletter_site import bulk
from offers import codes
from offers.models import CODE_MAX_LENGTH, Coupon, Offer, code_key
from offers.tasks import check_pool
from subscribers.import_files import ImportFileError, detect_encoding

CHUNK = 5000
MAX_GENERATE = 100_000
# At most one code in this many possible ones is handed out, so codes cannot be guessed.
SPARSENESS = 1000
HEADER_NAMES = {"code", "codes", "coupon", "gutschein", "gutscheincode", "rabattcode", "voucher"}


@dataclass
class CodeReport:
    """What a code upload did: how many were added, and each line that was not, with the reason."""

    added: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line, code)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)


def _locked_pool(offer: Offer) -> Offer:
    locked = Offer.objects.select_for_update().get(pk=offer.pk)
    if locked.code_source != Offer.CodeSource.POOL:
        raise ValidationError(_("This offer uses one shared code, not a pool."))
    return locked


def _insert_new(offer: Offer, wanted: list[str]) -> list[str]:
    """Insert those of ``wanted`` (distinct lookups) that are not in the pool yet; returns them."""
    keys = [code_key(code) for code in wanted]
    existing = set(Coupon.objects.filter(offer=offer, lookup__in=keys).values_list("lookup", flat=True))
    new = [(code, key) for code, key in zip(wanted, keys, strict=True) if key not in existing]
    bulk.insert_rows(
        Coupon, columns=["code", "lookup"], rows=new, constants={"offer": offer.pk, "created_at": timezone.now()}
    )
    return [code for code, _key in new]


def validate_pattern(pattern: str, count: int) -> None:
    if not pattern or len(pattern) > codes.MAX_PATTERN_LENGTH or any(ch.isspace() or ch in ",;" for ch in pattern):
        raise ValidationError(
            _("A pattern is 1 to %(max)d characters without spaces, commas or semicolons.")
            % {"max": codes.MAX_PATTERN_LENGTH}
        )
    places = codes.random_places(pattern)
    if count < 1 or count > MAX_GENERATE:
        raise ValidationError(_("Generate between 1 and %(max)d codes at a time.") % {"max": MAX_GENERATE})
    if 32**places < count * SPARSENESS:
        raise ValidationError(
            _("The pattern has too few X for %(count)d codes: add X so that codes cannot be guessed.")
            % {"count": count}
        )


@transaction.atomic
def pool_generate(*, offer: Offer, pattern: str, count: int, check_character: bool = False) -> int:
    """Add ``count`` new random codes to the pool; codes already there are drawn again."""
    pattern = pattern.strip().upper()
    validate_pattern(pattern, count)
    offer = _locked_pool(offer)
    added = 0
    while added < count:
        batch = codes.make_codes(pattern, min(CHUNK, count - added), check=check_character)
        added += len(_insert_new(offer, batch))
    check_pool.delay_on_commit(offer.pk)
    return added


def _read_lines(data: bytes):
    encoding = detect_encoding(io.BytesIO(data))
    text = data.decode(encoding)
    if text.startswith(codecs.BOM_UTF8.decode()):
        text = text[1:]
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise ImportFileError(
            _("Line %(line)d cannot be read: %(error)s") % {"line": reader.line_num, "error": error}
        ) from None


def read_code_file(data: bytes) -> list[tuple[int, list[str]]]:
    """The file's rows with their line numbers; the whole file, or ImportFileError before anything is written."""
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(_("This is not a CSV file (it contains binary data)."))
    return list(_read_lines(data))


def coupon_code_problem(code: str) -> str:
    """Why ``code`` cannot be a coupon code, or ""."""
    if not code:
        return _("empty")
    if len(code) > CODE_MAX_LENGTH:
        return _("longer than %(max)d characters") % {"max": CODE_MAX_LENGTH}
    if any(ch.isspace() or ch in ",;" for ch in code) or not code.isprintable():
        return _("contains spaces, commas, semicolons or control characters")
    return ""


@transaction.atomic
def pool_upload(*, offer: Offer, data: bytes) -> CodeReport:
    """Add the codes in the first column of a CSV file (a header line such as "code" is skipped).

    Codes already in the pool or earlier in the file are reported as duplicates, unusable ones as
    invalid, each with its line number; all the others are added.
    """
    rows = read_code_file(data)
    offer = _locked_pool(offer)
    report = CodeReport()
    seen: dict[str, int] = {}
    wanted: list[tuple[int, str]] = []
    for line, row in rows:
        text = row[0].strip() if row else ""
        if line == 1 and text.lower() in HEADER_NAMES:
            continue
        if not text and not any(cell.strip() for cell in row):
            continue  # blank lines carry nothing
        problem = coupon_code_problem(text)
        if problem:
            report.invalid.append((line, text[:CODE_MAX_LENGTH], problem))
        elif code_key(text) in seen:
            report.duplicates.append((line, text))
        else:
            seen[code_key(text)] = line
            wanted.append((line, text))
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        new = set(_insert_new(offer, [text for _line, text in chunk]))
        report.added += len(new)
        report.duplicates += [(line, text) for line, text in chunk if text not in new]
    report.duplicates.sort()
    check_pool.delay_on_commit(offer.pk)
    return report


@transaction.atomic
def offer_shared_code_set(*, offer: Offer, code: str) -> Coupon:
    """Make ``code`` the offer's one shared code (the offer becomes a shared-code offer).

    Refused when the offer already has other codes: they may be in mails already.
    """
    offer = Offer.objects.select_for_update().get(pk=offer.pk)
    code = code.strip()
    problem = coupon_code_problem(code)
    if problem:
        raise ValidationError(_("This code cannot be used: %(reason)s.") % {"reason": problem})
    existing = list(offer.coupons.all()[:2])
    if existing and (
        len(existing) > 1 or existing[0].lookup != code_key(code) or offer.code_source != Offer.CodeSource.SHARED
    ):
        raise ValidationError(_("This offer already has codes; create a new offer for a shared code."))
    if offer.code_source != Offer.CodeSource.SHARED:
        offer.code_source = Offer.CodeSource.SHARED
        offer.save(update_fields=["code_source"])
    if existing:
        return existing[0]
    coupon = Coupon(offer=offer, code=code)
    coupon.full_clean()
    coupon.save()
    return coupon
