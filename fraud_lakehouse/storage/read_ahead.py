"""Reading a remote object mostly in order, with its transfer ahead of the reader.

Every read of a remote object's file is a request: read straight, gzip's small reads made hundreds of them for a
few MB, and even large reads wait for each transfer before the next parse starts. ``ReadAhead`` fetches the
object in fixed chunks, the next ones in the background while the reader works on the current one, and still
seeks (a ZIP archive's directory is at its end, a Parquet file's footer too).
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol


class PositionalFile(Protocol):
    """What ``ReadAhead`` reads from: a pyarrow file of a known size whose positional reads may run at once."""

    def size(self) -> int: ...

    def read_at(self, nbytes: int, offset: int) -> bytes: ...

    def close(self) -> None: ...


class ReadAhead(io.RawIOBase):
    """A seekable raw stream over ``source`` in ``chunk_bytes`` chunks, each one positional read: the chunk being
    read and the ``ahead`` after it are fetched on ``ahead`` threads; a seek elsewhere drops those no longer
    ahead. Memory: ``ahead + 1`` chunks.

    Wrap it in ``io.BufferedReader`` for small reads."""

    def __init__(self, source: PositionalFile, chunk_bytes: int, ahead: int):
        super().__init__()
        self._source = source
        self._size = source.size()
        self._chunk_bytes = chunk_bytes
        self._ahead = ahead
        self._position = 0
        self._chunks: dict[int, Future[bytes]] = {}
        self._fetch = ThreadPoolExecutor(max(ahead, 1), thread_name_prefix="read-ahead")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]  # any writable buffer
        if self._position >= self._size:
            return 0
        start = self._position - self._position % self._chunk_bytes
        wanted = range(start, min(start + (self._ahead + 1) * self._chunk_bytes, self._size), self._chunk_bytes)
        for offset in [offset for offset in self._chunks if offset not in wanted]:
            self._chunks.pop(offset).cancel()
        for offset in wanted:
            if offset not in self._chunks:
                self._chunks[offset] = self._fetch.submit(self._source.read_at, self._chunk_bytes, offset)
        chunk = memoryview(self._chunks[start].result())[self._position - start :]
        count = min(len(buffer), len(chunk))
        buffer[:count] = chunk[:count]
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            for chunk in self._chunks.values():
                chunk.cancel()
            self._fetch.shutdown(wait=True)
            self._source.close()
        super().close()
