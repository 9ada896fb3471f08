"""Evidence files: the type is read from the content, never the name; stored outside the web root."""
import io
import os
import secrets
import zipfile
from pathlib import Path

from flask import current_app

MAX_BYTES = 10 * 1024 * 1024
KINDS = {"pdf": "application/pdf",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "odt": "application/vnd.oasis.opendocument.text"}


class UploadError(Exception):
    """The file is refused; the message is safe to show."""


def detect_kind(data: bytes) -> str | None:
    """'pdf', 'docx' or 'odt' from the bytes themselves, or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.read("mimetype").strip() == KINDS["odt"].encode():
                return "odt"
            if "[Content_Types].xml" in names and "word/document.xml" in names:
                return "docx"
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError):
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


def save(data: bytes) -> str:
    """Write the file under a random name; returns that key."""
    key = secrets.token_hex(16)
    target = upload_dir() / key
    with open(target, "wb") as handle:
        handle.write(data)
    os.chmod(target, 0o600)
    return key


def path_for(key: str) -> Path:
    """The file on disk for a stored key (keys are hex, so no path tricks)."""
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise UploadError("No such file")
    return upload_dir() / key


def delete(key: str) -> None:
    """Remove a stored file, if present."""
    try:
        path_for(key).unlink(missing_ok=True)
    except UploadError:
        pass
