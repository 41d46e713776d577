"""atomgen's own exceptions: every failure a user can cause names the file and the record."""

from __future__ import annotations

from pathlib import Path


class AtomgenError(Exception):
    """Base class for every error atomgen raises on purpose."""


class InputError(AtomgenError, ValueError):
    """Bad user input: a malformed file, an unknown element, NaN coordinates...

    Args:
        message: what is wrong, in one line.
        path: the file it came from, if any.
        record: the 0-based index (or name) of the record inside that file, if known.
    """

    def __init__(self, message: str, path: str | Path | None = None, record: int | str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.record = record
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.record is not None:
            where.append(f"record {self.record}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def located(self, path: str | Path | None = None, record: int | str | None = None) -> InputError:
        """Return a copy that also names `path` / `record` where this one did not."""
        return type(self)(
            self.message,
            self.path if self.path is not None else path,
            self.record if self.record is not None else record,
        )


class DatasetError(AtomgenError):
    """A dataset cannot be found or prepared (missing package, missing file)."""
