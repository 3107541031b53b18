"""Where an item lives on the web: its URL path from the site's permalink pattern, its absolute URL, and the
published copy of a file that is its own best form (a PDF).

Pure and light on imports: the catalog uses it to store items, and the scan's worker processes use it to
render each section's HTML against the page's URL before the item is written.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from publisher.models import Attachment, ParsedItem

ATTACHED_TYPES = {".pdf": "application/pdf"}
FILES_FOLDER = "files"  # under the output folder and base_url: attached files, at their content paths


@dataclass(frozen=True)
class Site:
    """What an item's URLs are made of: the site's time zone, base URL (ending in "/") and permalink pattern,
    and the content folder, where attached files are found."""

    tz: ZoneInfo
    base_url: str
    permalink: str
    content: Path | None = None

    def url_path(self, parsed: ParsedItem) -> str:
        """The item's path relative to ``base_url`` (quoted), or an absolute URL its front matter gave."""
        if parsed.permalink:
            path = parsed.permalink.strip()
            split = urlsplit(path)
            if split.scheme or split.netloc:
                return path  # an absolute URL, kept as written
            return quote(path.lstrip("/"), safe="/-._~%")
        local = parsed.published.astimezone(self.tz)
        path = self.permalink.format(
            year=f"{local.year:04d}",
            month=f"{local.month:02d}",
            day=f"{local.day:02d}",
            slug=parsed.slug,
            key=parsed.key,
        )
        return quote(path.lstrip("/"), safe="/-._~%")

    def url(self, url_path: str) -> str:
        # url_path() already gave a quoted path relative to base_url, or an absolute URL kept as written.
        if url_path.startswith(("http://", "https://")):
            return url_path
        if url_path.startswith("//"):  # scheme-relative: the site's own scheme
            return self.base_url.split(":", 1)[0] + ":" + url_path
        return self.base_url + url_path

    def attachment(self, source_path: str) -> Attachment | None:
        """The published copy of a source file that is its own best form (a PDF), with its real length."""
        rel = attached_path(source_path)
        if rel is None or self.content is None:
            return None
        try:
            length = (self.content / source_path).stat().st_size
        except OSError:
            return None
        mime = ATTACHED_TYPES[source_path[source_path.rfind(".") :].lower()]
        return Attachment(self.base_url + quote(rel, safe="/-._~"), length, mime)


def attached_path(source_path: str) -> str | None:
    """Where the file of a source that is published as is (a PDF) goes, relative to the output folder."""
    suffix = source_path[source_path.rfind(".") :].lower() if "." in source_path else ""
    return f"{FILES_FOLDER}/{source_path}" if suffix in ATTACHED_TYPES else None


def attachment_link(attachment: Attachment) -> str:
    """The paragraph every section of an item with an attached file ends with (each may be mailed alone)."""
    size = f"{max(1, round(attachment.length / 1024)):,} KB"
    href = html.escape(attachment.url, quote=True)
    return f'\n<p class="attachment"><a href="{href}" type="{attachment.mime_type}">The PDF ({size})</a></p>'
