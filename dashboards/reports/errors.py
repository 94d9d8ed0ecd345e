"""The report's exceptions; the command line maps them to exit statuses (``dashboards.reports.cli``).

ReportError
├── ReportInputError      a bad date, an empty period, an unknown site: exit status 2
└── ReportDatabaseError   the database could not be reached or read: exit status 1
"""

from __future__ import annotations


class ReportError(Exception):
    """Base of the report's errors; the message is one line meant for the person running the command."""


class ReportInputError(ReportError):
    """What was asked for cannot be reported: a bad date, ``--from`` after ``--to``, a site the catalogue lacks."""


class ReportDatabaseError(ReportError):
    """The database could not be reached or read (translated from psycopg's errors)."""
