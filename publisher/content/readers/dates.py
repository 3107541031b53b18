"""Dates as content files write them: YAML/TOML date objects, ISO-ish strings, RFC 2822, written-out English
("November 29, 2025", "4 March 2026"), and the date in a path (``2025-10-26-slug.md``, ``2025/10/26/slug.md``).

Everything returned is timezone-aware: a naive value takes the site's zone, a date alone is midnight there.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

# Years outside this range are typos ("0026") or fuzz, and near the ends of datetime they overflow when a
# later stage converts to UTC.
MIN_YEAR, MAX_YEAR = 1000, 9998

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAME = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_CLOCK = (
    r"(?:(?:,\s*|\s+)(?:at\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"\s*(?P<ampm>[ap]\.?m\.?)?)?"
)
_ZONE = r"\s*(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"


# The two expressions below are compiled on first use: front matter mostly holds ISO dates, which
# datetime.fromisoformat reads, and the written-out one is the costliest expression of the readers to build.
@functools.cache
def _written() -> re.Pattern[str]:
    """A written-out date: "March 4, 2026", "4 March 2026", "Wednesday, 4th of March 2026, 9:30 am"."""
    return re.compile(
        _WEEKDAY
        + rf"(?:(?P<month1>{_MONTH_NAME})\.?\s+(?P<day1>\d{{1,2}}){_ORDINAL},?\s+(?P<year1>\d{{4}})"
        + rf"|(?P<day2>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<month2>{_MONTH_NAME})\.?,?\s+(?P<year2>\d{{4}}))"
        + _CLOCK
        + _ZONE,
        re.IGNORECASE,
    )


@functools.cache
def _numeric() -> re.Pattern[str]:
    """A date in digits, year first: "2026-03-04", "2026/3/4 9:30", "2026.03.04 09:30:00.5 +01:00"."""
    return re.compile(
        r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})"
        r"(?:(?:[Tt]|\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?)?"
        + _ZONE,
        re.ASCII,
    )


_FILE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[-_]|$)", re.ASCII)


def to_aware(value: datetime | date, tz: tzinfo) -> datetime:
    """``value`` as an aware datetime: naive values take ``tz``, a date is midnight in ``tz``.

    Raises ValueError for a year outside MIN_YEAR..MAX_YEAR.
    """
    if isinstance(value, datetime):
        result = value if value.tzinfo is not None and value.utcoffset() is not None else value.replace(tzinfo=tz)
    else:
        result = datetime.combine(value, time(), tz)
    if not MIN_YEAR <= result.year <= MAX_YEAR:
        raise ValueError(f"year {result.year} is out of range")
    result.astimezone(UTC)  # fails now rather than in the feed writer
    return result


def parse(text: str, tz: tzinfo) -> datetime:
    """A date or date-time written as text, aware. Raises ValueError when ``text`` is not one."""
    text = text.strip()
    try:
        return to_aware(datetime.fromisoformat(text), tz)
    except ValueError:
        pass
    match = _numeric().fullmatch(text)
    if match:
        return _from_match(match, match["year"], match["month"], match["day"], tz)
    found = written(text, tz)
    if found is not None:
        return found
    if re.search(r"\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d", text):
        # RFC 2822, as in RSS: "Mon, 02 Mar 2026 06:15:00 +0100". (email.utils is loaded only for such a
        # date: it pulls in sockets and random, a cost every build's start would pay.)
        from email.utils import parsedate_to_datetime

        try:
            return to_aware(parsedate_to_datetime(text), tz)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    raise ValueError(f"cannot read {text[:60]!r} as a date")


def standalone(text: str, tz: tzinfo) -> datetime | None:
    """The date of a line that is only a date: "March 4, 2026", "Wednesday 4 March 2026", "2026-03-04"."""
    numeric = _numeric().fullmatch(text.strip())
    if numeric is not None:
        try:
            return _from_match(numeric, numeric["year"], numeric["month"], numeric["day"], tz)
        except ValueError:
            return None
    return written(text, tz)


def written(text: str, tz: tzinfo) -> datetime | None:
    """The date of a line that is only a written-out date ("March 4, 2026", "Wednesday 4 March 2026")."""
    match = _written().fullmatch(text.strip())
    if match is None:
        return None
    year = match["year1"] or match["year2"]
    month = str(_MONTHS[(match["month1"] or match["month2"]).lower()])
    day = match["day1"] or match["day2"]
    try:
        return _from_match(match, year, month, day, tz)
    except ValueError:
        return None


def _from_match(match: re.Match[str], year: str, month: str, day: str, tz: tzinfo) -> datetime:
    hour = int(match["hour"] or 0)
    groups = match.groupdict()
    ampm = (groups.get("ampm") or "").replace(".", "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    fraction = groups.get("fraction") or ""
    value = datetime(
        int(year),
        int(month),
        int(day),
        hour,
        int(match["minute"] or 0),
        int(match["second"] or 0),
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
    )
    zone = match["zone"]
    if zone:
        value = value.replace(tzinfo=_offset(zone))
    return to_aware(value, tz)


def _offset(zone: str) -> tzinfo:
    if zone.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {zone!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _calendar_date(year: str, month: str, day: str) -> date | None:
    """The date of three digit strings, or None where the calendar has no such day."""
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def from_file_name(stem: str) -> tuple[date, str] | None:
    """The date a ``2025-10-26-slug`` stem starts with, and the rest (the slug); None if it has none."""
    match = _FILE_DATE.match(stem)
    if match is None:
        return None
    found = _calendar_date(match[1], match[2], match[3])
    return None if found is None else (found, stem[match.end() :])


def from_folders(folders: list[str]) -> date | None:
    """The date of a ``.../2025/10/26/`` folder path (the last three folders), or None."""
    if len(folders) < 3:
        return None
    year, month, day = folders[-3:]
    if not (len(year) == 4 and year.isdigit() and month.isdigit() and day.isdigit() and len(month + day) <= 4):
        return None
    return _calendar_date(year, month, day)


_URL_DATE = re.compile(r"(?:^|/)(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?=[/._-]|$)", re.ASCII)


def from_url_path(text: str) -> date | None:
    """The date in a front-matter ``path``, ``permalink``, ``url`` or ``aliases`` value: "2024/02/28/slug",
    "/blog/2024-02-28-slug.html"; None if it holds none."""
    match = _URL_DATE.search(text)
    if match is None:
        return None
    found = _calendar_date(match[1], match[2], match[3])
    return found if found is not None and MIN_YEAR <= found.year <= MAX_YEAR else None
