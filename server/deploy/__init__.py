"""Files the production stack (docker-compose.yml) needs and that no one should write by hand.

- :mod:`server.deploy.mosquitto_passwords`: Mosquitto 2.0's ``$7$`` PBKDF2-SHA512 password hashes.
- :mod:`server.deploy.broker_acl`: the broker users of a site file and what each may publish and read.
- :mod:`server.deploy.broker_auth`: the password file, ACL file and plain credentials, kept across re-runs.
- :mod:`server.deploy.env_file`: the stack's ``.env`` (database, Grafana and MQTT secrets).
- :mod:`server.deploy.edge_check`: an edge container's healthcheck (its agent is online at the central broker).
- :mod:`server.deploy.private_files`: secret files written atomically, mode 0600.

Exceptions: :class:`DeployError` (a file that cannot be read, written or trusted; the message names it and says
what to do), raised by every module here and turned into one line and exit status 2 by ``server.cli_deploy``.
"""

from __future__ import annotations


class DeployError(Exception):
    """A deployment file cannot be generated, read or trusted; the message names the file and the fix."""
