"""QR codes for check-in (segno: pure Python, writes SVG and PNG without Pillow)."""
import io

import segno
from markupsafe import Markup


def qr_svg(url: str, title: str) -> Markup:
    """An inline SVG QR code with an accessible title (a viewBox, so CSS sets its size)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title=title, svgclass="qr", lineclass=None, omitsize=True)
    return Markup(svg)


def qr_png(url: str) -> bytes:
    """A PNG QR code for emails (many mail clients do not show SVG)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()
