"""QR codes for check-in (segno: pure Python, writes SVG and PNG without Pillow).

Encoding one costs about 20 ms of CPU (segno scores all eight masks), so each process keeps the
codes it made: a member's "My workshops" page and a reminder re-use the code of their place."""
import io
from functools import lru_cache

import segno
from markupsafe import Markup


@lru_cache(maxsize=4096)
def qr_svg(url: str, title: str) -> Markup:
    """An inline SVG QR code with an accessible title (a viewBox, so CSS sets its size)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title=title, svgclass="qr", lineclass=None, omitsize=True)
    return Markup(svg)


@lru_cache(maxsize=4096)
def qr_png(url: str) -> bytes:
    """A PNG QR code for emails (many mail clients do not show SVG)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()
