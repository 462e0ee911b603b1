"""The open pixel as most newsletter tools build it, for ``bench/tracking_load.py`` to compare with.

A plain Django view behind the project's full middleware stack that checks the same signed token
and writes one row per hit with one INSERT. Used only by the bench: its settings add this app and
a URLconf whose ``/t/o/<token>`` comes before the project's own URLs.
"""
