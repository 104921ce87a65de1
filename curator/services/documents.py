"""Documents for knowledge-grounded generation: uploaded as text, Markdown or PDF, chunked."""

from __future__ import annotations

import hashlib
import io
import re

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from curator.models import Document, Project, User
from curator.models.validation import field_errors
from curator.permissions import Action, require
from curator.services.audit import audit

# Documents are parsed in the upload request, so every dimension of the work is bounded to keep
# it within a second or two: the upload's bytes, a PDF's pages and each of its streams once
# inflated (a 600 MB zip bomb fits in a 1 MB PDF), and the text that comes out.
MAX_DOCUMENT_BYTES = 20 * 2**20
MAX_DOCUMENT_CHARS = 5_000_000
MAX_PDF_PAGES = 2000
MAX_PDF_STREAM_BYTES = 16 * 2**20
CHUNK_CHARS = 800


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs packed into chunks of at most `size` characters (a longer paragraph is cut at
    sentence ends), so every chunk is a passage a generator can cite whole."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        while len(paragraph) > size:
            cut = paragraph.rfind(". ", 0, size)
            cut = cut + 1 if cut > size // 2 else size
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if paragraph:
            pieces.append(paragraph)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size:
            chunks[-1] += "\n" + piece
        else:
            chunks.append(piece)
    return chunks


def extract_text(name: str, data: bytes) -> str:
    """The document's text; ValidationError for what cannot be read or passes a limit."""
    text = _pdf_text(name, data) if name.lower().endswith(".pdf") else _plain_text(name, data)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise ValidationError(f"{name} holds more than {MAX_DOCUMENT_CHARS:,} characters of text")
    return text


def _pdf_text(name: str, data: bytes) -> str:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        with apply_configuration(
            None,
            zlib_maximum_output_length=MAX_PDF_STREAM_BYTES,
            lzw_maximum_output_length=MAX_PDF_STREAM_BYTES,
            run_length_maximum_output_length=MAX_PDF_STREAM_BYTES,
            jbig2_maximum_output_length=MAX_PDF_STREAM_BYTES,
            brotli_maximum_output_length=MAX_PDF_STREAM_BYTES,
            array_based_stream_maximum_output_length=MAX_PDF_STREAM_BYTES,
            stream_decoding_work_maximum_length=4 * MAX_PDF_STREAM_BYTES,
        ):
            reader = PdfReader(io.BytesIO(data))
            if len(reader.pages) > MAX_PDF_PAGES:
                raise ValidationError(f"{name} has more than {MAX_PDF_PAGES} pages")
            pages: list[str] = []
            size = 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                size += len(pages[-1])
                if size > MAX_DOCUMENT_CHARS:
                    break  # extract_text reports the limit
            return "\n\n".join(pages)
    except LimitReachedError:
        raise ValidationError(
            f"{name} inflates past {MAX_PDF_STREAM_BYTES // 2**20} MB in one stream; "
            "upload the text itself"
        ) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        # A damaged PDF surfaces as pypdf's own errors or as plain Python ones.
        raise ValidationError(f"{name} is not a readable PDF: {error}") from None


def _plain_text(name: str, data: bytes) -> str:
    if b"\x00" in data:
        raise ValidationError(f"{name} is binary; upload text, Markdown or PDF")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise ValidationError(f"{name} is not UTF-8 text (byte {error.start + 1})") from None


def document_add(*, project: Project, upload: UploadedFile, user: User) -> Document:
    require(user, project, Action.IMPORT)
    name = upload.name or "document"
    # Reading one byte past the limit tells an oversized upload without trusting its size.
    data = upload.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationError({"file": f"{name} is larger than {MAX_DOCUMENT_BYTES // 2**20} MB"})
    with field_errors("file"):
        text = extract_text(name, data).strip()
    chunks = chunk_text(text)
    if not chunks:
        raise ValidationError({"file": f"{name} holds no text"})
    digest = hashlib.sha256(text.encode()).hexdigest()
    document, created = Document.objects.get_or_create(
        project=project,
        content_hash=digest,
        defaults={"name": name[:255], "text": text, "chunks": chunks, "uploaded_by": user},
    )
    if created:
        audit(user, "document.add", project=project, target=name, chunks=len(chunks))
    return document
