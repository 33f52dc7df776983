"""Synthetic documents for the tests and benchmarks: small images and PDFs made here, and the
hostile files a stranger could send (each named by the rule that refuses it)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image
from pypdf import PdfWriter


def jpeg(seed: int = 0, size: tuple[int, int] = (120, 80), gps: bool = True) -> bytes:
    """A small JPEG, with EXIF (a GPS position and a camera) as a phone would write it."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 128))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (19.0, 25.0, 0.0), 3: "W", 4: (99.0, 8.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def photo(seed: int = 0, size: tuple[int, int] = (1200, 760)) -> bytes:
    """A phone's photo of a credential: the size and grain of a real one (about 300 KB), with EXIF."""
    image = Image.effect_noise(size, 40 + seed % 20).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88, exif=exif)
    return out.getvalue()


def png(seed: int = 0, size: tuple[int, int] = (60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (seed % 256, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def pdf(pages: int = 1, *, javascript: bool = False, attachment: bool = False, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    if javascript:
        from pypdf.actions import JavaScript

        writer.add_open_action(JavaScript("app.alert('hola');"))
    if attachment:
        writer.add_attachment("carga.txt", b"not a document")
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bomb_png() -> bytes:
    """Few bytes, 400 million pixels once decoded."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG")
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<html><script>alert(1)</script></html>")
    return out.getvalue()


def hostile_files() -> list[tuple[str, str, str, bytes]]:
    """(what, kind, file name, bytes) → the rule each one is refused by (``HOSTILE_RULES``)."""
    good = jpeg(1)
    return [
        ("empty", "SIGNATURE", "firma.jpg", b""),
        ("truncated image", "SIGNATURE", "firma.jpg", good[: len(good) // 2]),
        ("truncated PDF", "ADDRESS_PROOF", "domicilio.pdf", pdf()[:-200]),
        ("JPEG with a ZIP after it", "SIGNATURE", "firma.jpg", good + zip_bytes()),
        ("PNG with HTML inside", "SIGNATURE", "firma.png", png(2)[:-12] + b"<html><script>x</script>" + png(2)[-12:]),
        ("decompression bomb", "SIGNATURE", "firma.png", bomb_png()),
        ("oversized", "SIGNATURE", "firma.jpg", good + b"\x00" * (2 * 1024 * 1024)),
        ("HTML named .jpg", "SIGNATURE", "firma.jpg", b"<html><body>hola</body></html>"),
        ("a PDF where only images go", "SIGNATURE", "firma.pdf", pdf()),
        ("PDF with JavaScript", "ADDRESS_PROOF", "domicilio.pdf", pdf(javascript=True)),
        ("PDF with an embedded file", "ADDRESS_PROOF", "domicilio.pdf", pdf(attachment=True)),
        ("encrypted PDF", "ADDRESS_PROOF", "domicilio.pdf", pdf(password="secreto")),
        ("PDF of too many pages", "ADDRESS_PROOF", "domicilio.pdf", pdf(pages=6)),
        ("a path for a name", "SIGNATURE", "../../etc/passwd.jpg", good),
        ("a formula for a name", "SIGNATURE", "=SUM(A1:A9)+cmd.jpg", good),
        ("a control character in the name", "SIGNATURE", "firma\x1b[31m.jpg", good),
        ("a kind the process does not have", "SELFIE", "yo.jpg", good),
    ]


HOSTILE_RULES = {
    "empty": "file-empty", "truncated image": "file-truncated", "truncated PDF": "file-truncated",
    "JPEG with a ZIP after it": "file-polyglot", "PNG with HTML inside": "file-polyglot",
    "decompression bomb": "file-bomb", "oversized": "file-too-large", "HTML named .jpg": "file-type",
    "a PDF where only images go": "file-type-for-kind", "PDF with JavaScript": "pdf-javascript",
    "PDF with an embedded file": "pdf-embedded-files", "encrypted PDF": "pdf-encrypted",
    "PDF of too many pages": "pdf-pages", "a path for a name": "file-name", "a formula for a name": "file-name",
    "a control character in the name": "file-name", "a kind the process does not have": "document-kind",
}
