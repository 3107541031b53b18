"""PDF files: their text, extracted with pypdfium2 (PDFium; Apache-2.0 / BSD-3-Clause), then read as a
plain-text brief. Pages are joined with a blank line, so running headers and footers repeat as lines and
are dropped like those of any extracted brief.

pypdfium2 was chosen over pypdf (BSD) and pdfminer.six (MIT) by bench/pdftext.py: on generated multi-page
briefs all three gave the same header fields, and pypdfium2 was about three times faster than pypdf and eight
times faster than pdfminer.six.
"""

from __future__ import annotations

from publisher.errors import ContentError

PDF_MAGIC = b"%PDF-"


def text(path: str, data: bytes) -> str:
    """The text of every page of the PDF ``data``; ContentError when it is not a PDF or has no text."""
    if not data.lstrip()[:5].startswith(PDF_MAGIC):
        raise ContentError(path, "not a PDF (no %PDF- header)")
    try:
        import pypdfium2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ContentError(path, "reading PDFs needs pypdfium2 (pip install pypdfium2)") from exc
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise ContentError(path, f"cannot open the PDF ({exc})") from exc
    try:
        pages = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                pages.append(textpage.get_text_range())
            finally:
                textpage.close()
                page.close()
    except pypdfium2.PdfiumError as exc:
        raise ContentError(path, f"cannot read the PDF's text ({exc})") from exc
    finally:
        pdf.close()
    # Pages end with a blank line (a form feed would be dropped as a control character when decoded).
    joined = "\n\n".join(_paragraphs(page) for page in pages).replace("\x00", "")
    if not joined.strip():
        raise ContentError(path, "the PDF has no text (a scan without OCR?)")
    return joined


def _paragraphs(page: str) -> str:
    """A page's lines with a blank line after each that ends a paragraph: a line that ends a sentence and
    stops well short of the page's longest line. PDF text has no blank lines; the plain-text reader needs
    them to tell paragraphs from hard-wrapped lines."""
    lines = [line.rstrip() for line in page.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    longest = max((len(line) for line in lines), default=0)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if line.endswith((".", "!", "?", "”", '"')) and len(line) < 0.85 * longest:
            out.append("")
    return "\n".join(out)
