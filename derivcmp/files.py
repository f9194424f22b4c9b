"""Files derivcmp writes: atomically, and never over one of its inputs.

Every report, baseline, JUnit or Markdown file is written to a temporary
file beside the target and renamed into place, so a failed write (disk full,
``ulimit -f``, Ctrl-C) leaves the previous file as it was.  Nothing here
decides *what* to write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename; ``OSError``
    (the old file untouched) if any step fails."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if os.path.exists(path):
            try:
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def inputs_among(outputs: Iterable[tuple[str, str]], inputs: Iterable[str]) -> list[str]:
    """Messages for each ``(option, path)`` output that is one of the input files."""
    inputs = list(inputs)
    found = []
    for option, path in outputs:
        if not path or path == "-":
            continue
        for source in inputs:
            if same_file(path, source):
                found.append(f"{option} {path} is one of the inputs ({source}); "
                             "refusing to overwrite it")
                break
    return found
