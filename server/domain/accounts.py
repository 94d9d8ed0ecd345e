"""Who may do what: roles, and the per-object rules every booking route applies (no I/O).

- residents book for themselves: they see and change their own bookings and waitlist entries only;
- Party branch organisers likewise, with larger quotas and recurring bookings;
- staff and administrators act for anybody (every such act is recorded with ``on_behalf_of``); administrators also
  manage accounts and release policies;
- service identities (an edge agent, a room panel) are bound to one site and may check bookings in there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    ORGANISER = "organiser"
    STAFF = "staff"
    ADMIN = "admin"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    login: str
    display_name: str
    role: Role
    site_id: str | None = None  # a service identity's (or a site's staff member's) one site; None: every site

    @property
    def acts_for_others(self) -> bool:
        return self.role in STAFF_ROLES

    def covers_site(self, site_id: str) -> bool:
        return self.site_id is None or self.site_id == site_id


class Forbidden(Exception):
    """The account may not do this; the message says why (HTTP 403)."""


def may_see_booking(account: Account, *, owner_id: int, site_id: str) -> bool:
    if account.role in STAFF_ROLES:
        return account.covers_site(site_id)
    if account.role is Role.SERVICE:
        return account.covers_site(site_id)
    return account.id == owner_id


def may_change_booking(account: Account, *, owner_id: int, site_id: str) -> bool:
    """Change, cancel, keep, accept, undo: the owner, or staff of the site. Service identities only check in."""
    if account.role in STAFF_ROLES:
        return account.covers_site(site_id)
    return account.role in (Role.RESIDENT, Role.ORGANISER) and account.id == owner_id


def may_check_in(account: Account, *, owner_id: int, site_id: str) -> bool:
    """The owner, staff of the site, or the site's service identity (a room panel or QR reader at the door)."""
    if account.role is Role.SERVICE:
        return account.covers_site(site_id)
    return may_change_booking(account, owner_id=owner_id, site_id=site_id)


def require(allowed: bool, why: str) -> None:
    if not allowed:
        raise Forbidden(why)
