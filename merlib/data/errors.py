"""The one error type for malformed dataset files and annotation rows.

``ValueError`` is for bad *arguments*; :class:`DatasetError` is for bad *data on
disk*: a missing root folder, an annotation sheet without the expected columns,
a row whose apex lies outside onset..offset, a frame file that is missing or
cannot be decoded, a folder that cannot be listed (permission denied). Every message names
the file or folder (and, for annotation sheets and the MEGC2019 CSV, the row as a spreadsheet
program numbers it) and says what was expected.

:class:`QuirkWarning` is not an error: it announces that :func:`merlib.data.load_dataset`
repaired known defects of a release (or dropped a clip a defect makes unusable), so that no
repair is ever silent. ``quirks="strict"`` turns every such case into a DatasetError.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError", "QuirkWarning"]


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


class QuirkWarning(UserWarning):
    """``load_dataset`` repaired known quirks of a copy (listed per clip in ``clips['fixes']``) or
    dropped clips a defect makes unusable (``dataset.dropped``). Silence it with
    ``warnings.simplefilter("ignore", QuirkWarning)`` once you have read it."""
