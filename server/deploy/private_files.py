"""Writing a secret file so that nobody but its owner can read it at any moment, and a reader never sees half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from server.deploy import DeployError

SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode 0600 from its first byte on; DeployError naming the path."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, SECRET_FILE_MODE)  # whatever the umask did
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DeployError(f"cannot write {path}: {exc.strerror}") from exc
