"""Private Mosquitto and PostgreSQL instances for `smartcomplex demo` and for tests that must stop or kill them.

They run from the machine's own binaries, on 127.0.0.1 and ports of their own, with everything they keep (config,
logs, persistence, the database cluster) in a data directory; the system's broker on 1883 and database on 5432
are never touched.

    with PrivateMosquitto(data_dir / "mosquitto") as broker, PrivatePostgres(data_dir / "postgres") as db:
        db.ensure_database("smartcomplex")
        ...  # broker.url, db.conninfo("smartcomplex")
"""

from server.demo.mosquitto import PrivateMosquitto
from server.demo.postgres import PrivatePostgres
from server.demo.services import (
    ServiceError,
    ServiceStartError,
    ServiceStopError,
    free_port,
    is_running,
)

__all__ = [
    "PrivateMosquitto",
    "PrivatePostgres",
    "ServiceError",
    "ServiceStartError",
    "ServiceStopError",
    "free_port",
    "is_running",
]
