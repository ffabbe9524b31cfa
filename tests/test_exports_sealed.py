"""Answer files at rest: sealed in chunks, and any change to the file is caught."""

import hashlib
import io
import os

import pytest

from dsr.exports.sealed import (
    HEADER_SIZE,
    TAG_SIZE,
    SealedFileError,
    SealedReader,
    SealedWriter,
    open_sealed,
)

KEY = bytes(range(32))
CHUNK = 1024
SEALED_CHUNK = CHUNK + TAG_SIZE


def seal(tmp_path, plaintext, *, key=KEY, chunk_size=CHUNK, pieces=7):
    path = tmp_path / "answer.zip.enc"
    with path.open("wb") as raw:
        writer = SealedWriter(raw, key, chunk_size=chunk_size)
        # Written in odd pieces, as the ZIP writer does.
        for start in range(0, len(plaintext), pieces):
            writer.write(plaintext[start : start + pieces])
        writer.close()
    return path, writer


def read_all(path, key=KEY):
    with open_sealed(path, key) as plain:
        return plain.read()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 17])
def test_what_is_sealed_reads_back_the_same_and_the_file_is_not_the_plaintext(tmp_path, size):
    plaintext = os.urandom(size // 2) + b"Astrid Lindqvist 19640823-3234 " * (size // 62 + 1)
    plaintext = plaintext[:size]
    path, writer = seal(tmp_path, plaintext)
    assert read_all(path) == plaintext
    assert writer.size == size
    assert writer.sha256 == hashlib.sha256(plaintext).hexdigest()
    on_disk = path.read_bytes()
    assert on_disk[:4] == b"DSRX"
    if size >= 16:
        assert b"Astrid" not in on_disk and plaintext[:16] not in on_disk
    # One tag per chunk; only an empty file has an empty (final) chunk.
    chunks = max(1, -(-size // CHUNK))
    assert len(on_disk) == HEADER_SIZE + size + chunks * TAG_SIZE


def test_the_same_plaintext_seals_differently_each_time(tmp_path):
    first, _ = seal(tmp_path, b"x" * 3000)
    once = first.read_bytes()
    again, _ = seal(tmp_path, b"x" * 3000)
    assert once[HEADER_SIZE:] != again.read_bytes()[HEADER_SIZE:]


def test_reading_is_seekable_as_a_zip_reader_needs(tmp_path):
    plaintext = bytes(i % 251 for i in range(10 * CHUNK + 5))
    path, _ = seal(tmp_path, plaintext)
    with open_sealed(path, KEY) as plain:
        plain.seek(-5, io.SEEK_END)
        assert plain.read() == plaintext[-5:]
        plain.seek(CHUNK * 3 - 2)
        assert plain.read(4) == plaintext[CHUNK * 3 - 2 : CHUNK * 3 + 2]
        assert plain.tell() == CHUNK * 3 + 2


def test_a_changed_byte_is_caught(tmp_path):
    plaintext = os.urandom(4 * CHUNK)
    path, _ = seal(tmp_path, plaintext)
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + SEALED_CHUNK + 10] ^= 0x01  # inside the second chunk
    path.write_bytes(bytes(data))
    with open_sealed(path, KEY) as plain:
        assert plain.read(CHUNK) == plaintext[:CHUNK]  # the first chunk is fine
        with pytest.raises(SealedFileError, match="chunk 1"):
            plain.read(CHUNK)


def test_a_changed_header_is_caught(tmp_path):
    path, _ = seal(tmp_path, os.urandom(2 * CHUNK))
    data = bytearray(path.read_bytes())
    data[12] ^= 0x01  # the salt: another key
    path.write_bytes(bytes(data))
    with pytest.raises(SealedFileError):
        read_all(path)


@pytest.mark.parametrize(
    "cut",
    [
        SEALED_CHUNK,  # exactly after the first chunk: looks whole, but was not the last
        SEALED_CHUNK * 2 + 100,  # in the middle of a chunk
        HEADER_SIZE + 5,
        3,
    ],
)
def test_a_file_cut_short_is_refused_before_anything_is_read(tmp_path, cut):
    path, _ = seal(tmp_path, os.urandom(4 * CHUNK + 10))
    data = path.read_bytes()
    path.write_bytes(data[: HEADER_SIZE + cut] if cut > HEADER_SIZE else data[:cut])
    with pytest.raises(SealedFileError):
        open_sealed(path, KEY)


def test_chunks_swapped_dropped_or_appended_are_caught(tmp_path):
    path, _ = seal(tmp_path, os.urandom(4 * CHUNK + 10))
    data = path.read_bytes()
    header, body = data[:HEADER_SIZE], data[HEADER_SIZE:]
    chunks = [body[i : i + SEALED_CHUNK] for i in range(0, len(body), SEALED_CHUNK)]
    swapped = header + chunks[1] + chunks[0] + b"".join(chunks[2:])
    dropped = header + chunks[0] + b"".join(chunks[2:])
    appended = data + chunks[0]
    for broken in (swapped, dropped, appended):
        path.write_bytes(broken)
        with pytest.raises(SealedFileError):
            read_all(path)


def test_the_wrong_key_opens_nothing(tmp_path):
    path, _ = seal(tmp_path, b"the answer")
    with pytest.raises(SealedFileError):
        open_sealed(path, bytes(32))


def test_a_file_that_is_not_sealed_is_refused(tmp_path):
    path = tmp_path / "plain.zip"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with path.open("rb") as raw, pytest.raises(SealedFileError, match="not a sealed"):
        SealedReader(raw, KEY)


def test_the_key_is_the_export_key_or_derived_from_the_secret_key():
    import base64

    from dsr import config
    from dsr.crypto import export_master_key

    def load(export_key):
        return config.load(
            overrides={
                "ENV": "testing",
                "SECRET_KEY": "a-secret-key-long-enough-for-the-checks-0123456789",
                "MAIL_DEV_MAILBOX": False,
                "EXPORT_KEY": export_key,
            }
        )

    given = load(base64.urlsafe_b64encode(bytes(range(32))).decode())
    assert export_master_key(given) == bytes(range(32))
    derived = load("")
    assert len(export_master_key(derived)) == 32
    assert export_master_key(derived) != export_master_key(given)
    with pytest.raises(config.ConfigError, match="32 bytes"):
        load("c2hvcnQ=")
