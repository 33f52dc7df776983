"""Files from strangers are hostile. A document's type is read from its bytes (never from its
name or the client's word); an image is decoded and encoded again, so its metadata (EXIF, GPS)
is gone and a decompression bomb is refused before it is decoded; a PDF is parsed and refused
when encrypted, holding JavaScript or embedded files, or longer than its kind allows. Empty,
truncated, polyglot and oversized files, a kind's wrong type and a file name that could be a
path, a formula or a control sequence are refused naming the rule, and nothing is stored.

Only the stores import this module (never a workflow: it decodes images)."""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from lnere.domain.process import DocumentKind, MediaType
from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError
from lnere.domain.values import REFUSED_CATEGORIES

MAGIC: tuple[tuple[bytes, MediaType], ...] = (
    (b"\xff\xd8\xff", MediaType.JPEG),
    (b"\x89PNG\r\n\x1a\n", MediaType.PNG),
    (b"%PDF-", MediaType.PDF),
)
# Markers of another format inside a file: a ZIP (a JAR, an Office file), a web page, a script,
# an executable. A document that is also one of these is a polyglot.
FOREIGN = re.compile(rb"PK\x03\x04|PK\x05\x06|<\s*(?:html|script|svg|iframe)\b|\x7fELF|MZ\x90\x00", re.IGNORECASE)
# An image of more pixels than a scanned page at 600 dpi is not a document: a bomb.
MAX_PIXELS = 40_000_000
FORMULA_START = ("=", "+", "-", "@")
MAX_NAME = 200


@dataclass(frozen=True)
class CleanFile:
    """A file that passed: its type, its bytes as kept (an image encoded again), its pages."""

    media_type: MediaType
    data: bytes
    pages: int


def refuse(rule: str, message: str) -> DomainError:
    return DomainError("file", rule, message, RefusalKind.INVALID)


def check_name(name: str) -> str:
    """A file's name is kept as a label (sealed), never used as a path."""
    if not 1 <= len(name) <= MAX_NAME:
        raise DomainError("name", "file-name", f"a file name has 1 to {MAX_NAME} characters")
    if any(unicodedata.category(c) in REFUSED_CATEGORIES for c in name):
        raise DomainError("name", "file-name", "a file name holds a control or invisible character")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise DomainError("name", "file-name", "a file name is a name, not a path")
    if name.startswith(FORMULA_START):
        raise DomainError("name", "file-name", "a file name does not start with = + - or @ (a formula)")
    return name


def sniff(data: bytes) -> MediaType | None:
    return next((media for magic, media in MAGIC if data.startswith(magic)), None)


def inspect(kind: DocumentKind, name: str, data: bytes) -> CleanFile:
    """The file as it may be kept, or a refusal naming the rule."""
    check_name(name)
    if not data:
        raise refuse("file-empty", "the file is empty")
    if len(data) > kind.max_bytes:
        raise refuse("file-too-large", f"the file has {len(data):,} bytes; this kind takes {kind.max_bytes:,} at most")
    media = sniff(data)
    if media is None:
        raise refuse("file-type", "the file is not a JPEG, PNG or PDF (read from its bytes)")
    if media not in kind.media_types:
        taken = ", ".join(m.value for m in kind.media_types)
        raise refuse("file-type-for-kind", f"{kind.label} takes {taken}, not {media.value}")
    if FOREIGN.search(data):
        raise refuse("file-polyglot", f"the file is a {media.value} and something else too")
    if media is MediaType.PDF:
        return _pdf(kind, data)
    return _image(media, data)


def _image(media: MediaType, data: bytes) -> CleanFile:
    from PIL import Image, UnidentifiedImageError

    end = b"\xff\xd9" if media is MediaType.JPEG else b"IEND\xaeB`\x82"
    tail = data.rfind(end)
    if tail < 0:
        raise refuse("file-truncated", "the image is cut short (no end marker)")
    if len(data) - (tail + len(end)) > 16:
        raise refuse("file-polyglot", "the image carries other data after its end")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG" if media is MediaType.JPEG else "PNG"]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise refuse("file-bomb", f"the image has {image.width}x{image.height} pixels; a document "
                                              f"has {MAX_PIXELS:,} at most")
                image.load()
                clean = image.convert("RGB") if media is MediaType.JPEG else image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise refuse("file-bomb", "the image would decompress past any document's size") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise refuse("file-truncated", f"the image cannot be decoded ({type(error).__name__})") from None
    out = io.BytesIO()
    # Encoded again from the pixels alone: no EXIF, GPS, comments or trailing data survive.
    clean.save(out, format="JPEG" if media is MediaType.JPEG else "PNG", quality=90, optimize=True)
    return CleanFile(media_type=media, data=out.getvalue(), pages=1)


def _pdf(kind: DocumentKind, data: bytes) -> CleanFile:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if b"%%EOF" not in data[-1024:]:
        raise refuse("file-truncated", "the PDF is cut short (no end of file)")
    # Markers long enough never to occur by chance in compressed streams; what hides in object
    # streams is found in the parsed structure below.
    for marker, rule, what in ((b"/JavaScript", "pdf-javascript", "JavaScript"),
                               (b"/EmbeddedFile", "pdf-embedded-files", "embedded files"),
                               (b"/Launch", "pdf-javascript", "an action that starts a program")):
        if marker in data:
            raise refuse(rule, f"the PDF holds {what}")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise refuse("pdf-encrypted", "the PDF is encrypted: send it without a password")
        pages = len(reader.pages)
        root: Any = reader.trailer["/Root"]
        names = root.get("/Names")
        names = names.get_object() if names is not None else {}
        if "/JavaScript" in names or "/OpenAction" in root and "/JS" in str(root["/OpenAction"]):
            raise refuse("pdf-javascript", "the PDF holds JavaScript")
        if "/EmbeddedFiles" in names:
            raise refuse("pdf-embedded-files", "the PDF holds embedded files")
        for page in reader.pages:  # actions and attachments hidden in object streams show here
            for annotation in page.get("/Annots") or []:
                annotation = annotation.get_object()
                if annotation.get("/Subtype") == "/FileAttachment":
                    raise refuse("pdf-embedded-files", "the PDF holds embedded files")
                if "/JS" in str(annotation.get("/A", "")):
                    raise refuse("pdf-javascript", "the PDF holds JavaScript")
            if "/AA" in page:
                raise refuse("pdf-javascript", "the PDF's pages start actions")
    except DomainError:
        raise
    except (PdfReadError, KeyError, ValueError, TypeError, AttributeError, RecursionError) as error:
        raise refuse("file-truncated", f"the PDF cannot be read ({type(error).__name__})") from None
    if pages < 1:
        raise refuse("file-truncated", "the PDF has no page")
    if pages > kind.max_pages:
        raise refuse("pdf-pages", f"the PDF has {pages} pages; this kind takes {kind.max_pages} at most")
    return CleanFile(media_type=MediaType.PDF, data=data, pages=pages)
