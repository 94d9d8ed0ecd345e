"""Looking accounts up for staff (``GET /api/v1/accounts``): enabled accounts only, as the API shows them."""

from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors
from server.domain.accounts import Account, Role


def list_accounts(connection: psycopg.Connection, *, login: str | None = None) -> list[Account]:
    """Every enabled account by login, or only the one with ``login`` (an empty list when there is none)."""
    query = "SELECT id, login, display_name, role, site_id FROM account WHERE NOT disabled"
    params: tuple[str, ...] = ()
    if login is not None:
        query += " AND login = %s"
        params = (login,)
    with translated_errors("listing accounts"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(query + " ORDER BY login", params)
        rows = cursor.fetchall()
    return [Account(int(id_), str(lg), str(name), Role(str(role)), site) for id_, lg, name, role, site in rows]
