"""Files only Kanal's own user may read (keys, passwords, the SQLite database), private from the start."""

import contextlib
import os
from pathlib import Path


def private_file_create(path: Path, content: str = "") -> bool:
    """Create ``path`` with mode 0600 holding ``content``; False when something is already there.

    O_EXCL: the file never exists with wider permissions, not even between create and chmod, and a
    link planted at ``path`` is refused instead of followed.
    """
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        return True
    return False
