"""The published copy of an evidence document: the same document without the metadata that names
its author.

- PDF (pypdf): the document information dictionary (/Author, /Creator, /Producer, /Title, dates)
  and the XMP metadata streams of the document and its pages go, and so do objects nothing refers
  to any more (the old metadata stream would otherwise still be written out). An encrypted PDF is
  refused: it cannot be rewritten without its password.
- DOCX: docProps/core.xml (creator, lastModifiedBy, title, dates...), docProps/app.xml (company,
  manager, template) and docProps/custom.xml are replaced by empty documents of the same kind.
- ODT: meta.xml (initial-creator, dc:creator, dates, generator, user-defined fields) becomes an
  empty office:meta.

The replacements are fixed text, not an edit of the submitted XML: nothing of the original
properties survives and no untrusted XML is parsed. The archive's other members are copied as
they are, in their order and with their compression (an ODT's `mimetype` stays first and
stored); their timestamps become 1980-01-01. Names inside the body (tracked changes, comments)
are not rewritten: staff see the document before approving it.

Uploads were checked when they came in (uploads.check_upload: type, size and the archive's
limits), so every member read here is within those limits.
"""
import io
import re
import zipfile

from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from kil_network.core.rules import RuleError
from kil_network.evidence.uploads import ZIP_ERRORS

CANNOT = ("This document could not be made ready to publish: its author details (metadata) could "
          "not be removed. Publish the evidence without its document.")
ENCRYPTED = "This PDF is protected by a password, so its author details cannot be removed. " \
            "Publish the evidence without its document."

_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
         b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
         b' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>')
_APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
        b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>')
_CUSTOM = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
           b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>')
DOCX_REPLACEMENTS = {"docProps/core.xml": _CORE, "docProps/app.xml": _APP, "docProps/custom.xml": _CUSTOM}
_ODF_VERSION = re.compile(rb'office:version="([0-9.]{1,8})"')


def _odt_meta(original: bytes) -> bytes:
    """An empty meta.xml, keeping only the document's ODF version."""
    found = _ODF_VERSION.search(original[:4096])
    version = found.group(1) if found else b"1.2"
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            b'office:version="' + version + b'"><office:meta/></office:document-meta>')


def strip_metadata(data: bytes, kind: str) -> bytes:
    """The document without its metadata; RuleError (on the review's file field) if it cannot be done."""
    if kind == "pdf":
        return _strip_pdf(data)
    if kind in ("docx", "odt"):
        return _strip_archive(data, kind)
    raise RuleError(CANNOT, "file_approved")


def _strip_pdf(data: bytes) -> bytes:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise RuleError(ENCRYPTED, "file_approved")
        writer = PdfWriter(clone_from=reader)
        writer.metadata = None
        writer.xmp_metadata = None
        for page in writer.pages:
            for key in ("/Metadata", "/PieceInfo"):
                if key in page:
                    del page[NameObject(key)]
        writer.compress_identical_objects(remove_duplicates=False, remove_unreferenced=True)
        out = io.BytesIO()
        writer.write(out)
    except RuleError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or hostile PDF can make pypdf raise anything
        raise RuleError(CANNOT, "file_approved") from exc
    return out.getvalue()


def _strip_archive(data: bytes, kind: str) -> bytes:
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                content = source.read(info)
                if kind == "docx" and info.filename in DOCX_REPLACEMENTS:
                    content = DOCX_REPLACEMENTS[info.filename]
                elif kind == "odt" and info.filename == "meta.xml":
                    content = _odt_meta(content)
                copy = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                copy.compress_type = info.compress_type
                copy.external_attr = 0o644 << 16
                target.writestr(copy, content)
    except ZIP_ERRORS as exc:
        raise RuleError(CANNOT, "file_approved") from exc
    return out.getvalue()
