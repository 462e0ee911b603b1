"""The floor for a pixel under gunicorn: a WSGI callable with no framework that answers every GET
with the same 43-byte GIF and headers as Kanal's pixel, and checks nothing
(``gunicorn tracking_peer.bare_wsgi``; the GIF's path in ``KANAL_BENCH_GIF``)."""

import os
from pathlib import Path

GIF = Path(os.environ["KANAL_BENCH_GIF"]).read_bytes()
HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("X-Content-Type-Options", "nosniff"),
]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [GIF]
