"""Upload the generated dashboards to a running Grafana through its HTTP API (grafana-client).

For a Grafana that this repository's compose stack does not run: that one provisions the same files itself
(dashboards/provisioning/) and refuses API saves of provisioned dashboards. Each dashboard goes into one folder
with a stable uid, with ``overwrite`` on, so a push replaces what an earlier push (or a person) saved under the same
uid and Grafana keeps the earlier versions in the dashboard's history. The API calls and their answers follow
Grafana's HTTP API reference: GET /api/health, GET and POST /api/folders, POST /api/dashboards/db, GET, POST and
PUT /api/datasources.

Errors::

    PushError                   a push cannot go on; the message is one line
    ├── GrafanaUnreachable      no HTTP answer (refused, timed out, not HTTP) or an answer that is not Grafana's
    ├── GrafanaRefused          401 (credentials refused) or 403 (the account may not do it)
    ├── GrafanaRequestFailed    any other error answer
    └── NotADashboard           a file is not one dashboard's JSON model
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaException, GrafanaTimeoutError

# Grafana's rule for dashboard and folder uids: at most 40 characters of letters, digits, '-' and '_'.
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
TIMEOUT_S = 10.0


class PushError(Exception):
    """A push could not go on, or one dashboard could not be pushed; the message is one line."""


class GrafanaUnreachable(PushError):
    """No answer from Grafana's URL (connection refused, timeout, DNS)."""


class GrafanaRefused(PushError):
    """Grafana refused the credentials (401) or their rights (403)."""


class GrafanaRequestFailed(PushError):
    """Grafana answered a request with another error status."""


class NotADashboard(PushError):
    """A file that is not a dashboard's JSON (unreadable, no uid or title, a uid twice)."""


@dataclass(frozen=True, slots=True)
class DashboardFile:
    path: Path
    uid: str
    title: str
    model: dict[str, Any]  # Grafana's dashboard JSON model, as the file holds it


@dataclass(frozen=True, slots=True)
class PushedDashboard:
    title: str
    uid: str
    version: int
    url: str  # as Grafana answers it: a path such as /d/sc-rooms/smart-complex-rooms-and-bookings


@dataclass(frozen=True, slots=True)
class PostgresDataSource:
    """The PostgreSQL data source the dashboards name by uid (jsonData as Grafana's PostgreSQL plugin reads it)."""

    uid: str
    name: str
    type: str  # "grafana-postgresql-datasource" since Grafana 10.2
    host: str  # host:port as Grafana reaches it
    database: str
    user: str
    password: str
    sslmode: str
    timescaledb: bool

    def body(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "name": self.name,
            "type": self.type,
            "access": "proxy",
            "url": self.host,
            "user": self.user,
            "jsonData": {"database": self.database, "sslmode": self.sslmode, "timescaledb": self.timescaledb},
            "secureJsonData": {"password": self.password},
        }


def dashboard_paths(directory: Path) -> list[Path]:
    """The ``*.json`` files of a directory, by name; PushError when there are none."""
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not paths:
        raise PushError(f"no dashboard JSON files in {directory}: run `smartcomplex dashboards generate` first")
    return paths


def load_dashboard(path: Path) -> DashboardFile:
    """One dashboard's JSON model from a file; NotADashboard says what is wrong with it."""
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NotADashboard(f"{path.name}: not readable JSON ({' '.join(str(exc).split())})") from exc
    if not isinstance(model, dict):
        raise NotADashboard(f"{path.name}: not a dashboard (a JSON object is expected)")
    uid, title = model.get("uid"), model.get("title")
    if not isinstance(uid, str) or UID.fullmatch(uid) is None:
        raise NotADashboard(f"{path.name}: not a dashboard (uid must be 1-40 letters, digits, '-' or '_')")
    if not isinstance(title, str) or not title.strip():
        raise NotADashboard(f"{path.name}: not a dashboard (no title)")
    if not isinstance(model.get("panels", []), list):
        raise NotADashboard(f"{path.name}: not a dashboard (panels is not a list)")
    return DashboardFile(path=path, uid=uid, title=title, model=model)


@contextmanager
def grafana_session(url: str, credential: str | tuple[str, str]) -> Iterator[GrafanaApi]:
    """A client for the Grafana at ``url`` (a token, or a user and password), closed afterwards."""
    # grafana-client appends "api" to the URL's path as it is: a Grafana under a sub-path (http://host/grafana)
    # needs the path to end with a slash.
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    api = GrafanaApi.from_url(urlunsplit(parts._replace(path=path)), credential=credential, timeout=TIMEOUT_S)
    try:
        yield api
    finally:
        api.client.s.close()


@contextmanager
def _answers(action: str, url: str) -> Iterator[None]:
    """grafana-client's and niquests' exceptions from the block as ours."""
    try:
        yield
    except GrafanaTimeoutError as exc:
        raise GrafanaUnreachable(f"cannot reach Grafana at {url}: timed out while trying to {action}") from exc
    except GrafanaException as exc:
        message = _message(exc.response) or str(exc)
        if exc.status_code == 0:  # a failure below HTTP that grafana-client wrapped
            raise GrafanaUnreachable(f"cannot reach Grafana at {url}: {message}") from exc
        if exc.status_code == 401:
            raise GrafanaRefused(
                f"Grafana at {url} refused the credentials (401 {message}) while trying to {action}"
            ) from exc
        if exc.status_code == 403:
            raise GrafanaRefused(f"Grafana at {url} does not let this account {action} (403 {message})") from exc
        raise GrafanaRequestFailed(f"could not {action}: Grafana answered {exc.status_code} {message}") from exc
    except OSError as exc:  # niquests' ConnectionError and friends
        raise GrafanaUnreachable(f"cannot reach Grafana at {url}: {' '.join(str(exc).split())}") from exc
    except ValueError as exc:  # a 2xx answer that is not JSON: something else listens there
        raise GrafanaUnreachable(f"{url} did not answer like Grafana while trying to {action}") from exc


def _message(response: object) -> str:
    if isinstance(response, dict) and isinstance(response.get("message"), str):
        return str(response["message"])
    return "" if response is None else " ".join(str(response).split())[:200]


# The parts of grafana-client a push uses, typed (grafana-client's own methods carry no annotations).
class _Http(Protocol):
    # grafana-client's client answers any HTTP verb as a method of that name (its __getattr__).
    def GET(self, url: str) -> Any: ...


class _Folders(Protocol):
    def get_folder(self, uid: str) -> Any: ...
    def create_folder(self, title: str, uid: str | None = None) -> Any: ...
    def get_all_folders(self) -> Any: ...


class _Dashboards(Protocol):
    def update_dashboard(self, dashboard: dict[str, Any]) -> Any: ...


class _DataSources(Protocol):
    def get_datasource_by_uid(self, datasource_uid: str) -> Any: ...
    def create_datasource(self, datasource: dict[str, Any]) -> Any: ...
    def update_datasource_by_uid(self, datasource_uid: str, datasource: dict[str, Any]) -> Any: ...


class GrafanaPusher:
    """The few Grafana API calls a push makes, with errors translated to PushError."""

    def __init__(self, api: GrafanaApi, url: str) -> None:
        self._http: _Http = api.client
        self._folders: _Folders = api.folder
        self._dashboards: _Dashboards = api.dashboard
        self._datasources: _DataSources = api.datasource
        self.url = url.rstrip("/")

    def check_health(self) -> str:
        """Grafana's version; GrafanaUnreachable unless it answers and its database is ok (needs no credentials)."""
        with _answers("check its health", self.url):
            health = self._http.GET("/health")
        if not isinstance(health, dict) or "database" not in health:
            raise GrafanaUnreachable(f"{self.url} did not answer like Grafana (GET /api/health)")
        if health["database"] != "ok":
            raise GrafanaRequestFailed(f"Grafana at {self.url} reports its database as {health['database']!r}")
        return str(health.get("version", "unknown"))

    def ensure_folder(self, title: str, uid: str) -> str:
        """The uid of the folder to push into: ``uid``, created when missing; an existing folder of that title is
        used whatever its uid (Grafana refuses two folders of one title)."""
        with _answers(f"look up folder {uid}", self.url):
            try:
                return str(self._folders.get_folder(uid)["uid"])
            except GrafanaException as exc:
                if exc.status_code != 404:
                    raise
        with _answers(f"create folder {title!r}", self.url):
            try:
                return str(self._folders.create_folder(title, uid=uid)["uid"])
            except GrafanaException as exc:
                if exc.status_code not in (409, 412):
                    raise
            for folder in self._folders.get_all_folders():
                if folder.get("title") == title:
                    return str(folder["uid"])
        raise GrafanaRequestFailed(f"Grafana refused folder {title!r} (uid {uid}) and no folder has that title")

    def push(self, dashboard: DashboardFile, *, folder_uid: str, message: str) -> PushedDashboard:
        model = {**dashboard.model, "id": None}  # Grafana matches by uid; a numeric id from elsewhere would clash
        body = {"dashboard": model, "folderUid": folder_uid, "overwrite": True, "message": message}
        with _answers(f"save dashboard {dashboard.uid}", self.url):
            answer = self._dashboards.update_dashboard(body)
        if not isinstance(answer, dict):
            raise GrafanaUnreachable(f"{self.url} did not answer like Grafana (POST /api/dashboards/db)")
        return PushedDashboard(
            title=dashboard.title,
            uid=str(answer.get("uid", dashboard.uid)),
            version=int(answer.get("version", 0)),
            url=str(answer.get("url", "")),
        )

    def ensure_datasource(self, source: PostgresDataSource) -> str:
        """Create the data source, or update it in place when its uid exists; Grafana's message."""
        with _answers(f"look up data source {source.uid}", self.url):
            try:
                self._datasources.get_datasource_by_uid(source.uid)
                exists = True
            except GrafanaException as exc:
                if exc.status_code != 404:
                    raise
                exists = False
        with _answers(f"save data source {source.uid}", self.url):
            if exists:
                answer = self._datasources.update_datasource_by_uid(source.uid, source.body())
            else:
                answer = self._datasources.create_datasource(source.body())
        return _message(answer) or ("updated" if exists else "added")


@dataclass(frozen=True, slots=True)
class PushReport:
    pushed: tuple[PushedDashboard, ...]
    failed: tuple[str, ...]  # one line per file not pushed: "name.json: why"


def push_files(
    pusher: GrafanaPusher,
    paths: Sequence[Path],
    *,
    folder_uid: str,
    message: str,
    on_pushed: Callable[[PushedDashboard], None] = lambda _pushed: None,
) -> PushReport:
    """Push every dashboard file, calling ``on_pushed`` as each is saved. A file that is not a dashboard, repeats
    another's uid or is refused by Grafana fails alone; credentials refused or Grafana gone stop the push."""
    pushed: list[PushedDashboard] = []
    failed: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            dashboard = load_dashboard(path)
            if dashboard.uid in seen:
                raise NotADashboard(f"{path.name}: uid {dashboard.uid} is also the uid of {seen[dashboard.uid]}")
            seen[dashboard.uid] = path.name
            result = pusher.push(dashboard, folder_uid=folder_uid, message=message)
        except NotADashboard as exc:
            failed.append(str(exc))
            continue
        except GrafanaRequestFailed as exc:
            failed.append(f"{path.name}: {exc}")
            continue
        pushed.append(result)
        on_pushed(result)
    return PushReport(pushed=tuple(pushed), failed=tuple(failed))
