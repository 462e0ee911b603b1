"""Reading an uploaded subscriber file: its size while it arrives, its encoding and dialect, its
header, and which column holds what. Nothing here writes to the database; the import itself is
``subscribers.services.imports``.
"""

import codecs
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

TARGET_FIELDS = ("email", "first_name", "last_name", "language", "time_zone")
# Header names as _header_key() spells them: lower case, letters and digits only.
HEADER_GUESSES = {
    "email": {
        "email",
        "mail",
        "emailaddress",
        "mailaddress",
        "emailadresse",
        "mailadresse",
        "adresse",
        "address",
        "emails",
    },
    "first_name": {"firstname", "givenname", "forename", "vorname", "rufname"},
    "last_name": {"lastname", "surname", "familyname", "nachname", "familienname", "name"},
    "language": {"language", "lang", "locale", "sprache", "languagecode"},
    "time_zone": {"timezone", "tz", "zeitzone"},
}
PREVIEW_ROWS = 10
SNIFF_BYTES = 64 * 1024
READ_BLOCK = 1024 * 1024
# Room for the upload form's other fields in a request that also carries the file.
FORM_FIELDS_ALLOWANCE = 64 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message says why, in the user's language."""


def file_too_large() -> ImportFileError:
    return ImportFileError(
        _("The file is larger than %(limit)s.") % {"limit": filesizeformat(settings.KANAL_IMPORT_MAX_BYTES)}
    )


class ImportUploadLimit(FileUploadHandler):
    """Refuses a file larger than ``KANAL_IMPORT_MAX_BYTES`` while it arrives, before it is stored.

    Goes first in ``request.upload_handlers``. A request that is larger than the limit plus the
    form's other fields is refused before a byte of the file is written; otherwise the bytes are
    counted and reading stops at the limit, and Django deletes the part already written. The
    other form fields are still read, so the form comes back filled in. ``refused`` names the
    form fields whose file was refused.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.KANAL_IMPORT_MAX_BYTES
        self.request_too_large = False
        self.refused: set[str] = set()

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.request_too_large = content_length > self.limit + FORM_FIELDS_ALLOWANCE
        return None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if self.request_too_large or (content_length or 0) > self.limit:
            self._refuse()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self._refuse()
        return raw_data

    def file_complete(self, file_size):
        return None

    def _refuse(self):
        self.refused.add(self.field_name)
        raise SkipFile


@dataclass
class ParsedFile:
    """A CSV file's header and dialect; ``rows()`` streams the records after the header."""

    header: list[str]
    dialect: type[csv.Dialect] | csv.Dialect
    encoding: str
    open_binary: Callable[[], BinaryIO]

    def rows(self) -> Iterator[list[str]]:
        with self.open_binary() as binary:
            text = io.TextIOWrapper(binary, encoding=self.encoding, newline="")
            reader = csv.reader(text, self.dialect)
            next(reader, None)
            yield from reader


def detect_encoding(handle: BinaryIO) -> str:
    """UTF-16 or UTF-8 (with or without BOM) if the whole file decodes so, else Windows-1252, else Latin-1.

    Reads the file once in blocks instead of holding it in memory.
    """
    start = handle.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8-sig", "cp1252"):
        handle.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while block := handle.read(READ_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def parse_file(open_binary: Callable[[], BinaryIO]) -> ParsedFile:
    """Check that a file is a readable CSV with a header line; ``open_binary`` opens it afresh."""
    with open_binary() as handle:
        head = handle.read(SNIFF_BYTES)
        if not head.strip():
            raise ImportFileError(_("The file is empty."))
        if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" in head[:4096]:
            raise ImportFileError(_("This is not a CSV file (it contains binary data)."))
        handle.seek(0)
        encoding = detect_encoding(handle)
    # Whole lines only: a sample cut mid-line confuses the sniffer.
    sample = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    if len(head) == SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    header = next(csv.reader(io.StringIO(sample), dialect), [])
    header = [column.strip() for column in header]
    if not any(header):
        raise ImportFileError(_("The first line must name the columns."))
    return ParsedFile(header=header, dialect=dialect, encoding=encoding, open_binary=open_binary)


def _header_key(column: str) -> str:
    return re.sub(r"[^0-9a-zäöüß]", "", column.lower())


CUSTOM_TARGET_PREFIX = "fields."


def custom_target(key: str) -> str:
    """The mapping target of a custom field: ``fields.<key>``."""
    return CUSTOM_TARGET_PREFIX + key


def guess_mapping(header: list[str], rows: list[list[str]] | None = None, custom_fields=()) -> dict[str, str]:
    """Which column holds what, from the header names (English or German) and, failing that, from the data.

    A custom field is guessed from a column named like its key or either of its labels.
    """
    guesses = dict(HEADER_GUESSES)
    for field in custom_fields:
        guesses[custom_target(field.key)] = {_header_key(name) for name in (field.key, field.label_de, field.label_en)}
    mapping: dict[str, str] = {}
    for target, names in guesses.items():
        for column in header:
            if _header_key(column) in names and column not in mapping.values():
                mapping[target] = column
                break
    if "email" not in mapping and rows:
        # No telling header: take the column whose cells look most like addresses.
        scores = [sum(1 for row in rows if index < len(row) and "@" in row[index]) for index in range(len(header))]
        best = max(range(len(header)), key=scores.__getitem__)
        if scores[best] and header[best] not in mapping.values():
            mapping["email"] = header[best]
    return mapping


def preview(parsed: ParsedFile) -> list[list[str]]:
    """The first rows after the header, for the mapping step.

    A row the csv module cannot read ends the preview; the import reports it with its row number.
    """
    rows: list[list[str]] = []
    with contextlib.suppress(csv.Error):
        rows.extend(itertools.islice(parsed.rows(), PREVIEW_ROWS))
    return rows
