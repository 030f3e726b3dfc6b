"""The one error type for malformed dataset files and annotation rows.

``ValueError`` is for bad *arguments*; :class:`DatasetError` is for bad *data on
disk*: a missing root folder, an annotation sheet without the expected columns,
a row whose apex lies outside onset..offset, a frame file that is missing or
cannot be decoded. Every message names the file (and, for annotation sheets, the
row as a spreadsheet program numbers it) and says what was expected.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError"]


class DatasetError(Exception):
    """A dataset file, folder or annotation row is not what its manifest describes.

    Attributes:
        path: the file or folder at fault (``None`` when not applicable).
        row: a human-readable row reference, e.g. ``"row 17"`` (spreadsheet numbering),
            or ``None``.
        message: the message without the ``[path, row]`` prefix.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, row: str | None = None):
        self.message = message
        self.path = None if path is None else Path(path)
        self.row = row
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if row is not None:
            where.append(row)
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)
