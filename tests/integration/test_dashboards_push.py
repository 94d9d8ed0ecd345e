"""``smartcomplex dashboards push`` against a stand-in for Grafana's HTTP API.

Grafana cannot be installed or run where these tests run, so ``FakeGrafana`` stands in for it: a stdlib HTTP
server on a loopback port, in a thread, that answers the few endpoints a push calls (GET /api/health, GET and POST
/api/folders, POST /api/dashboards/db, GET, POST and PUT /api/datasources) with the status codes and JSON shapes of
Grafana's HTTP API reference, checks the Authorization header as Grafana does (401 when it is wrong), and records
every request. So these tests show that the command speaks that API through grafana-client; they cannot show that
a given Grafana accepts the dashboards themselves (tests/unit/test_dashboards_json.py checks the JSON).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.cli import main

TOKEN = "glsa_push_test_token"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    authorization: str | None
    body: Any


class FakeGrafana:
    """Grafana's HTTP API for a push, in memory; accepts only the Authorization header it is given."""

    def __init__(self, authorization: str, sub_path: str = "") -> None:
        self.authorization = authorization
        self.sub_path = sub_path  # Grafana's root_url path when served from a sub-path, such as "/grafana"
        self.requests: list[Recorded] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.provisioned: set[str] = set()  # dashboard uids Grafana refuses to save (file-provisioned)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [request for request in self.requests if (request.method, request.path) == (method, path)]

    def answer(self, method: str, path: str, authorization: str | None, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Recorded(method, path, authorization, body))
            if not path.startswith(f"{self.sub_path}/api/"):
                return 404, {"message": "Not found"}
            path = path.removeprefix(self.sub_path)
            if (method, path) == ("GET", "/api/health"):  # Grafana answers it without credentials
                return 200, {"commit": "0000000", "database": "ok", "version": "11.6.5"}
            if authorization != self.authorization:
                return 401, {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401}
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]  # without "api"
        if parts[:1] == ["folders"]:
            return self._folder(method, parts[1:], body)
        if (method, parts) == ("POST", ["dashboards", "db"]):
            return self._save_dashboard(body)
        if parts[:1] == ["datasources"]:
            return self._datasource(method, parts[1:], body)
        return 404, {"message": "Not found"}

    def _folder(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if method == "GET" and not rest:
            return 200, [{"id": f["id"], "uid": uid, "title": f["title"]} for uid, f in self.folders.items()]
        if method == "GET" and len(rest) == 1:
            found = self.folders.get(rest[0])
            return (200, found) if found else (404, {"message": "folder not found", "status": "not-found"})
        if method == "POST" and not rest:
            if any(folder["title"] == body["title"] for folder in self.folders.values()):
                return 409, {"message": "a folder with the same name already exists"}
            uid = body.get("uid") or f"generated{len(self.folders)}"
            folder = {"id": len(self.folders) + 1, "uid": uid, "title": body["title"], "version": 1}
            folder["url"] = f"/dashboards/f/{uid}/{slug(body['title'])}"
            self.folders[uid] = folder
            return 200, folder
        return 404, {"message": "Not found"}

    def _save_dashboard(self, body: Any) -> tuple[int, Any]:
        dashboard = body.get("dashboard") or {}
        uid, title = dashboard.get("uid"), dashboard.get("title")
        if not title:
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        if uid in self.provisioned:
            return 400, {"message": "Cannot save provisioned dashboard"}
        if body.get("folderUid") and body["folderUid"] not in self.folders:
            return 400, {"message": "folder not found"}
        if uid in self.dashboards and not body.get("overwrite"):
            return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        version = self.dashboards.get(uid, {}).get("version", 0) + 1
        self.dashboards[uid] = {"version": version, "folderUid": body.get("folderUid"), "title": title}
        return 200, {
            "id": list(self.dashboards).index(uid) + 1,
            "uid": uid,
            "url": f"{self.sub_path}/d/{uid}/{slug(title)}",
            "status": "success",
            "version": version,
            "slug": slug(title),
        }

    def _datasource(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if method in ("GET", "PUT") and len(rest) == 2 and rest[0] == "uid":
            found = self.datasources.get(rest[1])
            if found is None:
                return 404, {"message": "Data source not found"}
            if method == "GET":
                return 200, found
            self.datasources[rest[1]] = {**body, "id": found["id"]}
            return 200, {"datasource": self.datasources[rest[1]], "id": found["id"], "message": "Datasource updated"}
        if method == "POST" and not rest:
            source = {**body, "id": len(self.datasources) + 1}
            self.datasources[body["uid"]] = source
            return 200, {"datasource": source, "id": source["id"], "message": "Datasource added", "name": body["name"]}
        return 404, {"message": "Not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = urlsplit(self.path).path
                status, answer = fake.answer(self.command, path, self.headers.get("Authorization"), body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows stderr of failures
                pass

        return Handler


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@pytest.fixture(autouse=True)
def no_grafana_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD", "SC_GRAFANA_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana(authorization=f"Bearer {TOKEN}")
    fake.start()
    yield fake
    fake.stop()


def write_dashboard(directory: Path, name: str, uid: str, title: str) -> None:
    # "id": a numeric id from the Grafana the file came from, which the push must not send on.
    model = {"id": 7, "uid": uid, "title": title, "panels": [], "schemaVersion": 41, "tags": ["smartcomplex"]}
    (directory / name).write_text(json.dumps(model), encoding="utf-8")


@pytest.fixture
def two_dashboards(tmp_path: Path) -> Path:
    write_dashboard(tmp_path, "overview.json", "sc-overview", "Smart Complex: overview")
    write_dashboard(tmp_path, "rooms.json", "sc-rooms", "Smart Complex: rooms")
    return tmp_path


def push(grafana_url: str, directory: Path, *extra: str) -> int:
    return main(["dashboards", "push", "--url", grafana_url, "--dir", str(directory), *extra])


def test_push_saves_each_dashboard_once_into_the_folder_with_the_bearer_token(
    grafana: FakeGrafana, two_dashboards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana.url, two_dashboards, "--token", TOKEN) == 0

    assert {request.authorization for request in grafana.requests if request.path != "/api/health"} == {
        f"Bearer {TOKEN}"
    }
    assert [request.body for request in grafana.calls("POST", "/api/folders")] == [
        {"title": "Smart Complex", "uid": "smartcomplex"}
    ]
    saved = [request.body for request in grafana.calls("POST", "/api/dashboards/db")]
    assert sorted(body["dashboard"]["uid"] for body in saved) == ["sc-overview", "sc-rooms"]
    for body in saved:
        assert body["overwrite"] is True
        assert body["folderUid"] == "smartcomplex"
        assert body["message"] == "smartcomplex dashboards push"
        assert body["dashboard"]["id"] is None
    assert capsys.readouterr().out.splitlines() == [
        f"Smart Complex: overview (sc-overview): version 1, {grafana.url}/d/sc-overview/smart-complex-overview",
        f"Smart Complex: rooms (sc-rooms): version 1, {grafana.url}/d/sc-rooms/smart-complex-rooms",
    ]


def test_a_second_push_reuses_the_folder_and_overwrites_the_dashboards(
    grafana: FakeGrafana, two_dashboards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana.url, two_dashboards, "--token", TOKEN) == 0
    assert push(grafana.url, two_dashboards, "--token", TOKEN) == 0

    assert len(grafana.calls("POST", "/api/folders")) == 1
    assert {uid: saved["version"] for uid, saved in grafana.dashboards.items()} == {"sc-overview": 2, "sc-rooms": 2}
    assert "version 2" in capsys.readouterr().out


def test_a_folder_of_the_same_title_is_used_whatever_its_uid(grafana: FakeGrafana, two_dashboards: Path) -> None:
    grafana.folders["made-by-hand"] = {"id": 1, "uid": "made-by-hand", "title": "Smart Complex", "version": 1}

    assert push(grafana.url, two_dashboards, "--token", TOKEN) == 0

    assert {saved["folderUid"] for saved in grafana.dashboards.values()} == {"made-by-hand"}


def test_user_and_password_from_the_environment_are_sent_as_basic_auth(
    monkeypatch: pytest.MonkeyPatch, two_dashboards: Path
) -> None:
    basic = base64.b64encode(b"admin:s3cret-admin-password").decode()
    fake = FakeGrafana(authorization=f"Basic {basic}")
    fake.start()
    try:
        monkeypatch.setenv("GRAFANA_USER", "admin")
        monkeypatch.setenv("GRAFANA_PASSWORD", "s3cret-admin-password")
        assert push(fake.url, two_dashboards) == 0
    finally:
        fake.stop()
    assert set(fake.dashboards) == {"sc-overview", "sc-rooms"}


def test_refused_credentials_end_with_one_line_and_status_1(
    grafana: FakeGrafana, two_dashboards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana.url, two_dashboards, "--token", "not-the-token") == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"smartcomplex: Grafana at {grafana.url} refused the credentials (401 Unauthorized)")
    assert "not-the-token" not in err
    assert grafana.calls("POST", "/api/dashboards/db") == []


def test_an_unreachable_grafana_ends_with_one_line_and_status_1(
    two_dashboards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert push(f"http://127.0.0.1:{port}", two_dashboards, "--token", TOKEN) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"smartcomplex: cannot reach Grafana at http://127.0.0.1:{port}")


def test_files_that_are_not_dashboards_fail_alone_and_are_listed_at_the_end(
    grafana: FakeGrafana, two_dashboards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (two_dashboards / "broken.json").write_text('{"uid": "sc-broken", ', encoding="utf-8")
    (two_dashboards / "list.json").write_text("[1, 2]", encoding="utf-8")
    (two_dashboards / "no-uid.json").write_text('{"title": "Nameless"}', encoding="utf-8")
    write_dashboard(two_dashboards, "twin.json", "sc-rooms", "Smart Complex: rooms again")
    write_dashboard(two_dashboards, "provisioned.json", "sc-provisioned", "Provisioned")
    grafana.provisioned.add("sc-provisioned")

    assert push(grafana.url, two_dashboards, "--token", TOKEN) == 1

    assert set(grafana.dashboards) == {"sc-overview", "sc-rooms"}
    output = capsys.readouterr()
    assert len(output.out.splitlines()) == 2
    lines = output.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("smartcomplex: 5 of 7 dashboard files not pushed: broken.json: not readable JSON")
    for expected in (
        "list.json: not a dashboard (a JSON object is expected)",
        "no-uid.json: not a dashboard (uid must be",
        "provisioned.json: could not save dashboard sc-provisioned: Grafana answered 400 Cannot save provisioned",
        "twin.json: uid sc-rooms is also the uid of rooms.json",
    ):
        assert expected in lines[0]


def test_an_empty_directory_is_refused_before_calling_grafana(
    grafana: FakeGrafana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana.url, tmp_path, "--token", TOKEN) == 1

    assert capsys.readouterr().err == f"smartcomplex: no dashboard JSON files in {tmp_path}: run `smartcomplex " + (
        "dashboards generate` first\n"
    )
    assert grafana.requests == []


def test_no_credentials_at_all_is_a_usage_error(two_dashboards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert push("http://127.0.0.1:1", two_dashboards) == 2
    assert capsys.readouterr().err.startswith("smartcomplex: no Grafana credentials")


def test_the_data_source_is_created_then_updated_in_place(
    grafana: FakeGrafana, two_dashboards: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SC_GRAFANA_DB_PASSWORD", "reader-password-of-24chr")
    options = ("--token", TOKEN, "--datasource-url", "db.example:5432", "--datasource-timescaledb")

    assert push(grafana.url, two_dashboards, *options) == 0
    assert push(grafana.url, two_dashboards, *options) == 0

    created = grafana.calls("POST", "/api/datasources")
    updated = grafana.calls("PUT", "/api/datasources/uid/smartcomplex-postgres")
    assert len(created) == len(updated) == 1
    assert created[0].body == {
        "uid": "smartcomplex-postgres",
        "name": "Smart Complex",
        "type": "grafana-postgresql-datasource",
        "access": "proxy",
        "url": "db.example:5432",
        "user": "grafana_reader",
        "jsonData": {"database": "smartcomplex", "sslmode": "require", "timescaledb": True},
        "secureJsonData": {"password": "reader-password-of-24chr"},
    }
    out = capsys.readouterr().out
    assert "data source smartcomplex-postgres (db.example:5432): Datasource added" in out
    assert "data source smartcomplex-postgres (db.example:5432): Datasource updated" in out
    assert "reader-password-of-24chr" not in out


def test_a_grafana_under_a_sub_path_is_reached_there(two_dashboards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeGrafana(authorization=f"Bearer {TOKEN}", sub_path="/grafana")
    fake.start()
    try:
        assert push(f"{fake.url}/grafana", two_dashboards, "--token", TOKEN) == 0
    finally:
        fake.stop()
    assert set(fake.dashboards) == {"sc-overview", "sc-rooms"}
    assert f"version 1, {fake.url}/grafana/d/sc-rooms/smart-complex-rooms" in capsys.readouterr().out
