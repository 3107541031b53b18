"""Multi-page PDF briefs generated for the tests with reportlab: a cover header, running header and footer
on every page, page numbers, body paragraphs and an "About the Author" block."""

from __future__ import annotations

import io

BODY = [
    "The strike ended on Friday after eleven days, and the port is working through the backlog of ships "
    "waiting at anchor.",
    "Shippers rerouted about a fifth of the expected calls to other ports during the strike.",
    "Automation of the container yard changed when people work far more than how much they earn.",
    "The port authority owns the quays but not the terminal companies, and it watched from the side.",
    "A standing forum of operators, unions and the authority would cost little and settle much.",
]


PLACES = [
    "Vigo",
    "Bilbao",
    "Brest",
    "Cork",
    "Gdansk",
    "Bremen",
    "Rijeka",
    "Trieste",
    "Malmo",
    "Aarhus",
    "Oulu",
    "Leith",
    "Antwerp",
    "Genoa",
    "Split",
    "Bari",
    "Sines",
    "Ghent",
    "Tromso",
    "Riga",
    "Klaipeda",
    "Tallinn",
]


def brief_pdf(
    *, pages: int = 3, title: str = "Ports After the Strike: Three Lessons", date: str = "March 4, 2026"
) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True)
    width, height = A4
    for page in range(1, pages + 1):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(50, height - 40, "Coastal Policy Institute Brief")
        pdf.drawString(50, 30, "Coastal Policy Institute | 12 Quay Street, Porto | www.cpi.example")
        pdf.drawRightString(width - 50, 30, f"Page {page} of {pages}")
        y = height - 90
        if page == 1:
            pdf.setFont("Helvetica-Bold", 16)
            pdf.drawString(50, y, title)
            pdf.setFont("Helvetica", 11)
            for line in ("By Mira Okonjo and Tomas Head", "Senior Fellows, Coastal Policy Institute", date):
                y -= 24
                pdf.drawString(50, y, line)
            y -= 30
        pdf.setFont("Helvetica", 11)
        for i, paragraph in enumerate(BODY):
            if page > 1:  # each page says something new; only the furniture repeats
                place = PLACES[(page * len(BODY) + i) % len(PLACES)]
                paragraph = f"In {place}, {paragraph[0].lower()}{paragraph[1:-1]}, as in {place}."
            cut = paragraph.rfind(" ", 0, 90) if len(paragraph) > 90 else len(paragraph)
            pdf.drawString(50, y, paragraph[:cut])
            if cut < len(paragraph):
                y -= 14
                pdf.drawString(50, y, paragraph[cut + 1 :])
            y -= 26
        if page == pages:
            y -= 10
            pdf.drawString(50, y, "About the Author")
            y -= 20
            pdf.drawString(50, y, "Mira Okonjo is a senior fellow at the Coastal Policy Institute.")
        pdf.showPage()
    pdf.save()
    return out.getvalue()
