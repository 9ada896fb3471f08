"""Evidence files: the type is read from the content, never the name; stored outside the web root."""
import contextlib
import hashlib
import io
import lzma
import os
import secrets
import struct
import unicodedata
import zipfile
import zlib
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from kil_network.core.rules import RuleError
from kil_network.extensions import db

MAX_BYTES = 10 * 1024 * 1024
KINDS = {"pdf": "application/pdf",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "odt": "application/vnd.oasis.opendocument.text"}
# The upload field's `accept=`: the allowed file name endings and media types (a hint to the
# browser's file picker; check_upload decides by content).
ACCEPT = ",".join([f".{kind}" for kind in KINDS] + list(KINDS.values()))


class UploadError(RuleError):
    """The file is refused (its format, size, or it could not be stored); the message is safe to show.

    A RuleError about the form's "file" field, so a route shows it beside the upload."""

    def __init__(self, message: str, field: str | None = "file"):
        super().__init__(message, field)


# Limits on an archive, checked from its central directory before any member is read. A DOCX or
# ODT is a zip of XML and pictures: a few hundred members, stored or deflated, compressed at most
# tens of times. Anything beyond these is refused, never inflated.
MAX_MEMBERS = 1000
MAX_DIRECTORY_BYTES = 512 * 1024           # the central directory itself
MAX_MEMBER_BYTES = 64 * 1024 * 1024        # declared uncompressed size of one member
MAX_TOTAL_BYTES = 256 * 1024 * 1024        # declared uncompressed size of all members
MAX_RATIO = 500                            # uncompressed / compressed, for members over 1MB (DEFLATE's
                                           # limit is 1032; real XML is 5-50)
PEEK_BYTES = 256                           # the most ever inflated from one member
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                 b"7z\xbc\xaf\x27\x1c", b"Rar!", b"MSCF", b"\x28\xb5\x2f\xfd")
ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".jar", ".cab", ".zst",
                    ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".docm", ".xlsm")
# Whatever a damaged or hostile archive makes the zip, zlib, bz2 or lzma code raise means "refuse".
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
              RuntimeError, ValueError, KeyError, IndexError, NotImplementedError, struct.error,
              UnicodeDecodeError, OverflowError, TypeError)
_EOCD = struct.Struct("<4s4H2LH")


def _directory_fits(data: bytes) -> bool:
    """The end-of-central-directory record says: one disk, few members, a small directory, no zip64.

    Read by hand before zipfile parses anything, so a directory of a million entries (or a
    lying count) never becomes a million ZipInfo objects."""
    start = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 65535))
    if start < 0 or len(data) - start < _EOCD.size:
        return False
    _, disk, cd_disk, on_disk, total, cd_size, cd_offset, _ = _EOCD.unpack_from(data, start)
    if disk or cd_disk or on_disk != total or total == 0 or total > MAX_MEMBERS:
        return False
    if cd_size > MAX_DIRECTORY_BYTES or cd_offset + cd_size > start:
        return False
    return data.rfind(b"PK\x06\x07", max(0, start - 20), start) < 0  # zip64: never needed under 10MB


def _members_fit(infos: list) -> bool:
    """Every member is plain (stored or deflated, not encrypted, not an archive by name) with sane sizes."""
    if not infos or len(infos) > MAX_MEMBERS:
        return False
    total = 0
    for info in infos:
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return False
        if info.file_size > MAX_MEMBER_BYTES or info.filename.lower().endswith(ARCHIVE_SUFFIXES):
            return False
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            return False
        if info.compress_size > info.file_size + info.file_size // 100 + 1024:  # DEFLATE never grows more: a lie
            return False
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return False
        total += info.file_size
    return total <= MAX_TOTAL_BYTES


def _peek(archive: zipfile.ZipFile, info) -> bytes:
    """At most PEEK_BYTES of a member, inflated (never the whole member)."""
    with archive.open(info) as member:
        return member.read(PEEK_BYTES)


def detect_kind(data: bytes) -> str | None:
    """'pdf', 'docx' or 'odt' from the bytes themselves, or None.

    Bounded whatever the content: an archive is checked from its directory first, and no more
    than PEEK_BYTES of any member is ever inflated, so a zip bomb costs microseconds."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if not data.startswith(b"PK\x03\x04") or not _directory_fits(data):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if not _members_fit(infos):
                return None
            for info in infos:  # no archive inside the archive, whatever its name
                if info.file_size and _peek(archive, info)[:8].startswith(ARCHIVE_MAGIC):
                    return None
            names = {info.filename for info in infos}
            if "mimetype" in names and _peek(archive, archive.getinfo("mimetype")).strip() == KINDS["odt"].encode():
                return "odt"
            if "[Content_Types].xml" in names and "word/document.xml" in names:
                return "docx"
    except ZIP_ERRORS:
        return None
    return None


def check_upload(storage) -> tuple[bytes, str]:
    """Read an uploaded file and check its size and real type; returns (data, kind)."""
    data = storage.read(MAX_BYTES + 1)
    if not data:
        raise UploadError("The selected file is empty")
    if len(data) > MAX_BYTES:
        raise UploadError("The selected file must be smaller than 10MB")
    kind = detect_kind(data)
    if kind is None:
        raise UploadError("The selected file must be a PDF, DOCX or ODT document")
    return data, kind


def upload_dir() -> Path:
    """Where evidence files live: under instance/, never under static/."""
    path = Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")
    path.mkdir(parents=True, exist_ok=True)
    return path


PENDING = "kil_uploads_pending"   # session.info: [(part, final)] to move into place on commit
DOOMED = "kil_uploads_doomed"     # session.info: [path] to remove on commit


def save(data: bytes, key: str | None = None) -> str:
    """Write the file as `<key>.part`; it becomes `<key>` only when the session commits.

    If the transaction rolls back (or the session closes without committing) the part file is
    removed, and a failed write (disk full) removes it at once: no orphans, no 0-byte files.
    A new random key unless one is given (the published copy's, `published_key`)."""
    key = key or secrets.token_hex(16)
    target = upload_dir() / key
    part = target.with_name(key + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        part.unlink(missing_ok=True)
        current_app.logger.error("Could not store an evidence upload: %s", exc)
        raise UploadError("The document could not be saved just now. Try again later, "
                          "or send your evidence without it.") from exc
    db.session.info.setdefault(PENDING, []).append((part, target))
    return key


def read(key: str) -> bytes:
    """A stored file's bytes, also while it is still `<key>.part` (saved in this transaction);
    UploadError if it is not there."""
    target = path_for(key)
    for part, final in db.session.info.get(PENDING, []):
        if final == target:
            target = part
    try:
        return target.read_bytes()
    except OSError as exc:
        raise UploadError("No such file") from exc


def published_key(key: str) -> str:
    """Where the published copy of a stored file (its metadata stripped, evidence.scrub) is kept:
    a name derived from the original's, so the row needs no column for it and whatever removes the
    original removes the copy too."""
    return hashlib.sha256(f"published:{key}".encode()).hexdigest()[:32]


def delete_after_commit(key: str) -> None:
    """Remove a stored file (and its published copy) once the change that stops referring to it commits."""
    with contextlib.suppress(UploadError):  # not one of ours: nothing to delete
        db.session.info.setdefault(DOOMED, []).extend([path_for(key), path_for(published_key(key))])


def delete_published_after_commit(key: str) -> None:
    """Remove only the published copy of a stored file once the change withdrawing it commits."""
    with contextlib.suppress(UploadError):  # not one of ours: nothing to delete
        db.session.info.setdefault(DOOMED, []).append(path_for(published_key(key)))


@sa.event.listens_for(Session, "after_commit")
def _move_into_place(session) -> None:
    """The rows committed: their files take their real names; files no row refers to go."""
    for part, target in session.info.pop(PENDING, []):
        try:
            os.replace(part, target)
        except OSError as exc:  # the row stays; staff get a 404 for its file rather than a 500
            current_app.logger.error("Could not move an evidence upload into place: %s", exc)
    for path in session.info.pop(DOOMED, []):
        path.unlink(missing_ok=True)


@sa.event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted(session, transaction) -> None:
    """The outermost transaction ended without a commit: remove its part files."""
    if transaction.parent is not None or transaction.nested:
        return
    for part, _ in session.info.pop(PENDING, []):
        part.unlink(missing_ok=True)
    session.info.pop(DOOMED, None)


NAME_MAX = 200
_NAME_DROP = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # control, format (bidi, zero-width), unassigned


def clean_filename(name: str | None, kind: str) -> str:
    """The one place an uploaded file's name is cleaned, for storing and showing (never for the disk).

    NUL, control, bidi and other invisible characters are dropped, any path is cut off, and the
    name is shortened to NAME_MAX keeping its extension; an empty result becomes `evidence.<kind>`."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = "".join(" " if c in "\t\r\n" else c for c in name
                   if c in "\t\r\n\u200c\u200d" or unicodedata.category(c) not in _NAME_DROP)  # ZWJ/ZWNJ join scripts
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(name.split()).strip(" .\u200c\u200d")
    if not name:
        return f"evidence.{kind}"
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10:
            name = stem[:NAME_MAX - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:NAME_MAX].rstrip(" .")
    return name


def path_for(key: str) -> Path:
    """The file on disk for a stored key (keys are hex, so no path tricks)."""
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise UploadError("No such file")
    return upload_dir() / key


def delete(key: str) -> None:
    """Remove a stored file and its published copy, if present."""
    with contextlib.suppress(UploadError):  # not a key of ours: nothing to remove
        path_for(key).unlink(missing_ok=True)
        path_for(published_key(key)).unlink(missing_ok=True)
