"""Reading the catalog's Parquet files, and telling when another process replaced one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def read_parquet(path: Path) -> pa.Table:
    """The whole Parquet file at ``path``, read on the calling thread and closed on return.

    ``pq.read_table``/``ParquetFile.read`` read on Arrow's thread pool by default, and the
    pool's threads may drop the last reference to the open file (closing its descriptor)
    after the call returned. A forked sandbox then saw a descriptor number it had reused
    (its events pipe) closed under it. Reading on this thread and closing the file here keeps
    every descriptor's life inside this call; one file at a time gains nothing from threads.

    Raises:
        OSError, pyarrow.ArrowInvalid: unreadable file.
    """
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        return parquet.read(use_threads=False)


def file_stamp(path: Path) -> tuple[int, ...] | None:
    """What changes when ``path`` is replaced or rewritten: inode, mtime (ns) and size.

    ``None`` when it does not exist. Writers replace files by rename (``atomic_writer``), so
    the inode alone changes on every write; mtime and size cover in-place writers.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


__all__ = ["file_stamp", "read_parquet"]
