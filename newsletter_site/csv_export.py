"""Every CSV file Kanal hands out is written here: streamed row by row, safe to open in a spreadsheet.

Cells come from strangers (names typed into a sign-up form, user agents, survey answers, rows of
an imported file). A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return as a formula, so such text gets a leading single quote (OWASP, "CSV
Injection"). Numbers are told apart by their Python type, not by how they look: an ``int``,
``float`` or ``Decimal`` is written as it is, also when negative; a string is text, also when it
reads ``-5``. Text cells are quoted, so a semicolon inside one cannot start a new cell in a
spreadsheet that splits on semicolons.
"""

import csv
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import quote

from django.http import StreamingHttpResponse
from django.utils import timezone

# Excel reads a CSV file without a byte order mark as Windows-1252 and garbles umlauts.
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str | int | float | Decimal:
    """A value as it goes into the file: numbers as they are, anything else as text that cannot run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        text = (timezone.localtime(value) if timezone.is_aware(value) else value).isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """What ``csv.writer`` writes to: hands each formatted line back instead of storing it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """One line of CSV text per row, without the byte order mark."""
    writer = csv.writer(_Line(), quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def content_disposition(filename: str) -> str:
    """``attachment`` with a plain ASCII file name, plus the exact name (RFC 6266, RFC 5987) when it differs."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._") or "export.csv"
    header = f'attachment; filename="{plain}"'
    if plain != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def csv_response(rows: Iterable[Iterable], *, filename: str) -> StreamingHttpResponse:
    """A download of ``rows`` (the header row first), written while it is sent.

    ``rows`` should be a generator reading the database in chunks, so memory stays the same
    however many rows there are.
    """
    response = StreamingHttpResponse(itertools.chain([BOM], csv_lines(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition(filename)
    return response
