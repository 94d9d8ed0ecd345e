"""``smartcomplex report``: utilisation of the bookable rooms, no-shows released and waits at the service windows of
some sites over local dates, as CSV files, one Excel workbook and PNG charts, for a sub-district monthly review.

It reads the database by SQL only, with the definitions Grafana's rooms and windows dashboards use, so a report and
a dashboard over the same days agree. ``period`` (dates, sites, UTC bounds of a local day) and ``tables`` (pandas)
are pure; ``database`` reads, ``workbook`` and ``charts`` write, ``runner`` puts them together and ``cli`` is the
command.
"""
