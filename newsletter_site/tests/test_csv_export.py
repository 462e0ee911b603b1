import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from newsletter_site import csv_export


def body_of(response) -> str:
    data = b"".join(response.streaming_content)
    assert data.startswith("\ufeff".encode()), "Excel needs the byte order mark to read UTF-8"
    return data.decode("utf-8-sig")


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body_of(response))))


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1", "-5"])
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert rows_of(csv_export.csv_response([["value"], [text]], filename="x.csv")) == [["value"], ["'" + text]]


def test_harmless_text_and_a_quote_in_the_middle_stay_as_they_are():
    rows = [["Jörg", "a=b", "2024-01-01", 'say "hi"', "a;=1+1"]]
    assert rows_of(csv_export.csv_response(rows, filename="x.csv")) == rows


def test_numbers_stay_numbers_also_when_negative():
    response = csv_export.csv_response([[-3, -2.5, Decimal("-0.5"), 0, "-3", True, None]], filename="x.csv")
    # Numbers unquoted, so a spreadsheet reads them as numbers; text quoted and escaped.
    assert body_of(response) == '-3,-2.5,-0.5,0,"\'-3","True",""\r\n'


def test_dates_are_written_in_iso_format_in_the_local_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    rows = [[datetime(2026, 1, 5, 12, 0, tzinfo=UTC), date(2026, 1, 5)]]
    assert rows_of(csv_export.csv_response(rows, filename="x.csv")) == [["2026-01-05T13:00:00+01:00", "2026-01-05"]]


def test_umlauts_are_utf_8_after_the_byte_order_mark():
    response = csv_export.csv_response([["Jürgen"]], filename="x.csv")
    assert b"".join(response.streaming_content) == b'\xef\xbb\xbf"J\xc3\xbcrgen"\r\n'
    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("kanal-subscribers-20260105-1200.csv", 'attachment; filename="kanal-subscribers-20260105-1200.csv"'),
        (
            "Umfrage Müller.csv",
            "attachment; filename=\"Umfrage_Muller.csv\"; filename*=UTF-8''Umfrage%20M%C3%BCller.csv",
        ),
        (
            'evil"\r\nSet-Cookie: x=1.csv',
            "attachment; filename=\"evil_Set-Cookie_x_1.csv\"; filename*=UTF-8''evil%22%0D%0ASet-Cookie%3A%20x%3D1.csv",
        ),
    ],
)
def test_file_name_is_plain_ascii_with_the_exact_name_beside_it(filename, header):
    assert csv_export.csv_response([], filename=filename)["Content-Disposition"] == header


def test_rows_are_read_only_as_the_response_is_sent():
    taken = []

    def rows():
        for number in range(100_000):
            taken.append(number)
            yield [number, f"row {number}"]

    response = csv_export.csv_response(rows(), filename="x.csv")
    assert taken == [], "nothing is read before the response is sent"
    chunks = iter(response.streaming_content)
    next(chunks), next(chunks)  # the byte order mark, then the first row
    assert taken == [0]
