"""ReadAhead: a remote object read in chunks fetched ahead of the reader, seekable, every byte in its place."""

import gzip
import io
import random
import threading
import zipfile

import pyarrow as pa
import pytest

from fraud_lakehouse.storage.read_ahead import ReadAhead


class _Fetches:
    """An in-memory object with the positional reads of a pyarrow file, counting them (each a GET on S3)."""

    def __init__(self, data: bytes):
        self.file = pa.BufferReader(data)
        self.fetched: list[int] = []
        self.closed = False
        self._lock = threading.Lock()

    def size(self) -> int:
        return self.file.size()

    def read_at(self, nbytes: int, offset: int) -> bytes:
        with self._lock:
            self.fetched.append(offset)
        return self.file.read_at(nbytes, offset)

    def close(self) -> None:
        self.closed = True


def _data(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("read_size", [1, 7, 999, 1000, 1001, 4096, 100_000])
def test_reads_in_order_return_every_byte(read_size):
    data = _data(10_500)
    source = _Fetches(data)
    with io.BufferedReader(ReadAhead(source, chunk_bytes=1000, ahead=2), buffer_size=64) as stream:
        pieces = []
        while piece := stream.read(read_size):
            pieces.append(piece)
    assert b"".join(pieces) == data
    assert sorted(source.fetched) == list(range(0, 10_500, 1000))  # each chunk fetched once
    assert source.closed


def test_seeks_anywhere():
    data = _data(25_000)
    rng = random.Random(1)
    with io.BufferedReader(ReadAhead(_Fetches(data), chunk_bytes=1000, ahead=2), buffer_size=64) as stream:
        for _ in range(300):
            position, length = rng.randrange(0, 26_000), rng.randrange(0, 3000)
            stream.seek(position)
            assert stream.tell() == position
            assert stream.read(length) == data[position : position + length]
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == data[-10:]
        stream.seek(-5, io.SEEK_CUR)
        assert stream.read(100) == data[-5:]
        with pytest.raises(ValueError):
            stream.seek(-1)


def test_a_gzip_file_and_a_zip_archive_read_through_it():
    text = "".join(f"C{i},P{i % 97},{i * 1.5:.2f}\n" for i in range(50_000)).encode()
    compressed = _Fetches(gzip.compress(text))
    with gzip.GzipFile(fileobj=io.BufferedReader(ReadAhead(compressed, chunk_bytes=4096, ahead=2))) as stream:
        assert stream.read() == text
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for number in range(5):
            zipped.writestr(f"part-{number}.csv", text[number * 1000 :])
    with zipfile.ZipFile(io.BufferedReader(ReadAhead(_Fetches(archive.getvalue()), 4096, 2))) as zipped:
        assert [zipped.read(f"part-{number}.csv") for number in range(5)] == [text[n * 1000 :] for n in range(5)]


def test_only_chunks_near_the_reader_are_fetched():
    """A seek to the end (a ZIP directory, a Parquet footer) fetches the chunks from there, not the whole object."""
    data = _data(100_000)
    source = _Fetches(data)
    with io.BufferedReader(ReadAhead(source, chunk_bytes=1000, ahead=2), buffer_size=64) as stream:
        stream.seek(-100, io.SEEK_END)
        assert stream.read() == data[-100:]
        assert source.fetched == [99_000]
        stream.seek(0)
        assert stream.read(10) == data[:10]
    # the first chunk and at most the two ahead of it (cancelled at the close if they had not started)
    assert {0, 99_000} <= set(source.fetched) <= {0, 1000, 2000, 99_000}
    assert len(source.fetched) == len(set(source.fetched))
