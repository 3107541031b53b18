"""The naming authority of ``tag:`` ids (RFC 4151), decided so that the ids readers see never change.

- ``site.id_authority``, when set, is the authority (a domain name the operator owns; an IP address or a
  loopback name is refused by the configuration check).
- Else the host of ``site.base_url``, when it is a real host name: it is kept in the store at the first build
  that sees it, so a later move of ``base_url`` changes no id.
- Else (``http://127.0.0.1:8080/``, ``localhost``, a bare IP, a one-label name) the ids are provisional:
  ``tag:provisional.invalid,...``, never kept. The first build with a real host rewrites every provisional
  item id to it, once; from then on ids never change. Only someone trying the daemon on their own machine
  can have seen a provisional id.
"""

from __future__ import annotations

import ipaddress

PROVISIONAL = "provisional.invalid"
_NOT_GLOBAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".invalid", ".lan", ".home.arpa")


def is_real_host(host: str) -> bool:
    """Whether ``host`` can name ids for ever: a DNS name with a dot that is not loopback, local or an IP."""
    host = host.strip().lower().rstrip(".")
    if not host or "." not in host or host == "localhost" or host.endswith(_NOT_GLOBAL_SUFFIXES):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def bad_authority(authority: str) -> str | None:
    """Why a configured ``site.id_authority`` cannot name ids (None when it can). It may carry its own date
    ("news.example.org,2019") or be an email address, as RFC 4151 allows."""
    host = authority.split(",", 1)[0].strip()
    host = host.rpartition("@")[2]
    if is_real_host(host):
        return None
    return f"{authority!r} is not a domain name you own (no IP addresses, localhost or local names)"
