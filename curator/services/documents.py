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

MAX_DOCUMENT_BYTES = 20 * 2**20
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
    if name.lower().endswith(".pdf"):
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(io.BytesIO(data))
            return "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except PdfReadError as error:
            raise ValidationError(f"{name} is not a readable PDF: {error}") from None
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
