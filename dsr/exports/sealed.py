"""Answer files at rest: AES-256-GCM over fixed-size chunks, written and read as streams.

Fernet (used for short secrets elsewhere) needs the whole plaintext in memory; an answer can
be large, so its file is sealed chunk by chunk instead, in the STREAM construction
(Hoang, Reyhanitabar, Rogaway and Vizár, 2015):

========  =======  ============================================================
offset    length   content
========  =======  ============================================================
0         4        magic ``DSRX``
4         1        format version, 1
5         4        plaintext bytes per chunk, big-endian (65536)
9         16       random salt: the file's key is HKDF-SHA256(master key, salt)
25        7        random nonce prefix
32        ...      chunks: AES-GCM ciphertext of each plaintext chunk + 16-byte tag
========  =======  ============================================================

Chunk *i* is sealed with the nonce ``prefix || i (4 bytes, big-endian) || final (1 byte)``
and the 32-byte header as associated data. Every chunk but the last holds exactly
``chunk size`` bytes of plaintext; the last holds the rest (1 to ``chunk size`` bytes, none
only in an empty file) and is the only one sealed with ``final = 1``. Hence a chunk that is changed, moved, dropped or repeated
fails to open, and so does a file cut short at any point (its last chunk was not sealed as
final) or with anything appended.

The master key comes from :func:`dsr.crypto.export_master_key` (``export_key`` or derived
from ``secret_key``). A fresh salt per file gives every file its own key, so nonces never
repeat under one key however many files there are.

:class:`SealedReader` is a seekable, read-only binary file over a sealed file: it opens only
the chunks it needs (a ZIP's directory sits at its end), checking each one, and checks the
final chunk when opened, so a truncated file is refused before anything is read from it.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"DSRX"
VERSION = 1
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SALT_SIZE = 16
PREFIX_SIZE = 7
HEADER = struct.Struct(f">4sBI{SALT_SIZE}s{PREFIX_SIZE}s")
HEADER_SIZE = HEADER.size
#: The counter is 32 bits: at most this many chunks (256 TiB at 64 KiB each).
MAX_CHUNKS = 2**32


class SealedFileError(Exception):
    """The file is not a sealed answer, was changed or cut short, or the key is wrong."""


def _file_key(master_key: bytes, salt: bytes) -> AESGCM:
    if len(master_key) < 32:
        raise ValueError("the master key must be at least 32 bytes")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"dsr sealed answer file v1"
    ).derive(master_key)
    return AESGCM(key)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    if index >= MAX_CHUNKS:
        raise SealedFileError("too many chunks for one file")
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


class SealedWriter(io.RawIOBase):
    """A write-only binary stream that seals what is written to it into ``target``.

    It keeps at most one chunk of plaintext in memory. ``size`` and ``sha256`` describe the
    plaintext written. :meth:`close` writes the final chunk; a writer dropped without
    closing leaves a file that no reader accepts.
    """

    def __init__(
        self, target: IO[bytes], master_key: bytes, *, chunk_size: int = CHUNK_SIZE
    ) -> None:
        super().__init__()
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        salt, prefix = os.urandom(SALT_SIZE), os.urandom(PREFIX_SIZE)
        self._header = HEADER.pack(MAGIC, VERSION, chunk_size, salt, prefix)
        self._aead = _file_key(master_key, salt)
        self._prefix = prefix
        self._target = target
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._digest = hashlib.sha256()
        self.size = 0
        target.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed file")
        view = memoryview(data).cast("B")
        self._digest.update(view)
        self.size += len(view)
        self._buffer += view
        while len(self._buffer) > self._chunk_size:
            # Strictly more than a chunk: the last chunk is only known at close.
            self._seal(bytes(self._buffer[: self._chunk_size]), final=False)
            del self._buffer[: self._chunk_size]
        return len(view)

    def _seal(self, plaintext: bytes, *, final: bool) -> None:
        nonce = _nonce(self._prefix, self._index, final)
        self._target.write(self._aead.encrypt(nonce, plaintext, self._header))
        self._index += 1

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._target.flush()
        super().close()


class SealedReader(io.RawIOBase):
    """A seekable, read-only view of a sealed file's plaintext; every chunk is checked.

    Raises :class:`SealedFileError` on open when the header or the final chunk does not
    check out, and on read when a chunk was tampered with.
    """

    def __init__(self, source: IO[bytes], master_key: bytes) -> None:
        super().__init__()
        self._source = source
        header = source.read(HEADER_SIZE)
        if len(header) != HEADER_SIZE:
            raise SealedFileError("not a sealed answer file (too short)")
        magic, version, chunk_size, salt, prefix = HEADER.unpack(header)
        if magic != MAGIC or version != VERSION or chunk_size < 1:
            raise SealedFileError("not a sealed answer file (unknown header)")
        self._header = header
        self._prefix = prefix
        self._chunk_size = chunk_size
        self._aead = _file_key(master_key, salt)
        source.seek(0, io.SEEK_END)
        body = source.tell() - HEADER_SIZE
        sealed_chunk = chunk_size + TAG_SIZE
        if body < TAG_SIZE:
            raise SealedFileError("the sealed file is cut short")
        # Every chunk before the last is full, and the last holds at least its tag.
        self._chunks = (body - TAG_SIZE) // sealed_chunk + 1
        last_length = body - (self._chunks - 1) * sealed_chunk - TAG_SIZE
        self.size = (self._chunks - 1) * chunk_size + last_length
        self._position = 0
        self._cached: tuple[int, bytes] | None = None
        # Opening the last chunk proves that the file ends where its writer ended it.
        self._chunk(self._chunks - 1)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        sealed_chunk = self._chunk_size + TAG_SIZE
        self._source.seek(HEADER_SIZE + index * sealed_chunk)
        final = index == self._chunks - 1
        ciphertext = self._source.read(sealed_chunk)
        try:
            plaintext = self._aead.decrypt(
                _nonce(self._prefix, index, final), ciphertext, self._header
            )
        except InvalidTag:
            raise SealedFileError(
                f"chunk {index} does not check out: the file was changed, cut short or "
                "sealed with another key"
            ) from None
        if not final and len(plaintext) != self._chunk_size:
            raise SealedFileError(f"chunk {index} has the wrong length")
        self._cached = (index, plaintext)
        return plaintext

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self.size or not len(view):
            return 0
        index, offset = divmod(self._position, self._chunk_size)
        plaintext = self._chunk(index)
        count = min(len(view), len(plaintext) - offset)
        view[:count] = plaintext[offset : offset + count]
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._source.close()
            self._cached = None
        super().close()


def open_sealed(path: str | os.PathLike[str], master_key: bytes) -> io.BufferedReader:
    """The plaintext of a sealed file, as a buffered, seekable binary file."""
    handle = Path(path).open("rb")  # noqa: SIM115 - the returned reader owns and closes it
    try:
        return io.BufferedReader(SealedReader(handle, master_key), buffer_size=CHUNK_SIZE)
    except BaseException:
        handle.close()
        raise
