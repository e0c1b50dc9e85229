"""The indexed rows (text, id, other columns) in parquet parts, read a row group at a time.

A search needs a handful of rows out of millions: it reads the parts' footers once
and then only the row groups that hold the hits, so opening a big index stays cheap.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path
from typing import Any

ROW_GROUP_ROWS = 1024  # a hit decodes its group: small groups keep that cheap


def write_part(table: Any, path: Path) -> None:
    """Rows as one parquet part, in small row groups (a hit reads one group)."""
    import pyarrow.parquet as pq

    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)


class RowStore:
    """Rows by position across the index's parts (positions are the vectors' ids)."""

    def __init__(self, folder: Path, parts: list[str]) -> None:
        import pyarrow.parquet as pq

        self.files = [pq.ParquetFile(folder / name, memory_map=True) for name in parts]
        self.starts: list[int] = []  # first position of each row group, across parts
        self.groups: list[tuple[int, int]] = []  # (part, group)
        position = 0
        for number, part in enumerate(self.files):
            for group in range(part.num_row_groups):
                self.starts.append(position)
                self.groups.append((number, group))
                position += part.metadata.row_group(group).num_rows
        self.count = position
        self._group = lru_cache(maxsize=64)(self._read_group)

    def _read_group(self, index: int) -> list[dict[str, Any]]:
        part, group = self.groups[index]
        return self.files[part].read_row_group(group).to_pylist()

    def rows(self, positions: list[int]) -> list[dict[str, Any]]:
        """The rows at ``positions`` (0-based, across parts), in that order."""
        found = []
        for position in positions:
            index = bisect.bisect_right(self.starts, position) - 1
            found.append(self._group(index)[position - self.starts[index]])
        return found
