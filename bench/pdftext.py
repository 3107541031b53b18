"""Which PDF text extractor reads briefs best: pypdf (BSD), pypdfium2 (Apache-2.0/BSD) and pdfminer.six (MIT)
on generated multi-page briefs with running headers and footers. Prints, per library, the time to extract
N briefs and how many of the brief's header fields the plain-text reader then gets right.

    .venv/bin/python bench/pdftext.py [N]
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

sys.path.insert(0, ".")
from publisher.content.readers import plaintext
from tests.content.pdfs import brief_pdf


def with_pypdf(data: bytes) -> str:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\f".join(page.extract_text() or "" for page in reader.pages)


def with_pdfium(data: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return "\f".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def with_pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    docs = [brief_pdf(pages=3 + i % 3) for i in range(n)]
    want = ("Ports After the Strike: Three Lessons", ("Mira Okonjo", "Tomas Head"), "2026-03-04")
    libs: dict[str, Callable[[bytes], str]] = {
        "pypdf": with_pypdf,
        "pypdfium2": with_pdfium,
        "pdfminer.six": with_pdfminer,
    }
    for name, extract in libs.items():
        started = time.perf_counter()
        texts = [extract(d) for d in docs]
        seconds = time.perf_counter() - started
        parsed = plaintext.parse(texts[0].replace("\r\n", "\n"), ZoneInfo("UTC"))
        got = (parsed.title, parsed.authors, parsed.published.date().isoformat() if parsed.published else "")
        right = sum(a == b for a, b in zip(got, want, strict=True))
        furniture = "Page 2 of" in parsed.body or "www.cpi.example" in parsed.body
        print(
            f"{name:13} {n} briefs in {seconds:6.2f}s  header fields right {right}/3"
            f"  furniture left in body: {furniture}"
        )


if __name__ == "__main__":
    main()
