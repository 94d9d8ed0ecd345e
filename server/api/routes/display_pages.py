"""The residents' pages: the hall's big screen and a phone's "my ticket", plain HTML with a small script each.

The pages and their assets live in server/display/ (shipped in the wheel with the server package) and load nothing
from elsewhere: the hall's screen may have no internet. Their scripts follow the site's live feed
(GET /api/v1/sites/{site}/queue/stream) and mark themselves "Not live" when it goes quiet.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import FileResponse, HTMLResponse

from devices.queue_contract import TICKET_PATTERN
from server.api.deps import SiteDep

router = APIRouter(prefix="/display", tags=["displays"])

DISPLAY_DIR = FilePath(__file__).resolve().parents[2] / "display"
# The only files served from DISPLAY_DIR, with their types: a name outside this table is a 404, never a path.
ASSETS = {
    "display.css": "text/css; charset=utf-8",
    "feed.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "ticket.js": "text/javascript; charset=utf-8",
}
# Pages are small and change with the code: read them again per request rather than cache across a deploy.
_NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str, values: dict[str, str]) -> HTMLResponse:
    text = (DISPLAY_DIR / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"__{key}__", html.escape(value))
    return HTMLResponse(text, headers=_NO_CACHE)


@router.get("/assets/{name}", include_in_schema=False)
def display_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no display asset {name!r}")
    return FileResponse(DISPLAY_DIR / name, media_type=media_type, headers=_NO_CACHE)


@router.get("/{site_id}", response_class=HTMLResponse, responses={404: {"description": "unknown site"}})
def hall_board(site: SiteDep) -> HTMLResponse:
    """The hall's big screen: now serving by window, the last calls, waiting and estimates, the clock, crowding."""
    return _page("board.html", {"SITE_ID": site.id, "SITE_NAME": site.name})


@router.get(
    "/{site_id}/ticket/{day}/{number}", response_class=HTMLResponse, responses={404: {"description": "unknown site"}}
)
def my_ticket(
    site: SiteDep,
    day: date,
    number: Annotated[str, Path(pattern=TICKET_PATTERN, description="the ticket number, e.g. A017")],
) -> HTMLResponse:
    """A resident's ticket on their phone: number, service, status, place in line, estimate; the window once
    called. An unknown ticket shows as such on the page (it may not have reached the centre yet)."""
    return _page("ticket.html", {"SITE_ID": site.id, "SITE_NAME": site.name, "DAY": day.isoformat(), "NUMBER": number})
