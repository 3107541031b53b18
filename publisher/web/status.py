"""``/healthz`` (from memory) and ``/metrics`` (Prometheus text exposition)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from publisher.delivery.outbox import STATES as OUTBOX_STATES
from publisher.store import Store, content, digests, inbound, outbox, parse_iso, subscribers
from publisher.web.state import STATE

INBOUND_KINDS = ("bounce", "delayed", "complaint", "unsubscribe", "unknown")


def _store_figures(store: Store) -> dict[str, Any]:
    last_digest = digests.last_created(store)
    return {
        "items": content.count_items(store),
        "correspondents": content.count_correspondents(store),
        "skipped_sources": content.count_skipped_sources(store),
        "outbox": outbox.count_by_state(store),
        "deliveries": outbox.delivery_totals(store),
        "inbound": inbound.counts(store),
        "subscribers": subscribers.count_by_status(store),
        "last_build": float(store.get_meta("last_build") or 0) or None,
        "last_digest": _timestamp(last_digest) if last_digest else None,
    }


def _timestamp(text: str) -> float | None:
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


async def healthz(request: web.Request) -> web.Response:
    # From memory only: a liveness probe must not wait on SQLite.
    state = request.app[STATE]
    s = state.stats
    body = {
        "status": "ok" if s.ready else "starting",
        "uptime_seconds": round(time.time() - s.started, 1),
        "builds": s.builds,
        "build_failures": s.build_failures,
        "last_scan": s.last_scan,
        "last_digest": s.last_digest,
    }
    return web.Response(text="ok\n" + json.dumps(body, sort_keys=True) + "\n", content_type="text/plain")


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    s = state.stats
    figures = await state.db.run(_store_figures)
    last_scan = s.last_scan or figures["last_build"]
    last_digest = s.last_digest or figures["last_digest"]
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: Mapping[str, float | None] | float | None) -> None:
        lines.append(f"# HELP publisher_{name} {help_}")
        lines.append(f"# TYPE publisher_{name} {kind}")
        if isinstance(samples, Mapping):
            for label, value in sorted(samples.items()):
                if value is not None:
                    lines.append(f"publisher_{name}{{{label}}} {_num(value)}")
        elif samples is not None:
            lines.append(f"publisher_{name} {_num(samples)}")

    metric("items", "gauge", "Published items in the store.", figures["items"])
    metric("correspondents", "gauge", "Correspondents in the store.", figures["correspondents"])
    metric("feeds_written_total", "counter", "Feed files whose bytes changed, since start.", s.feeds_written)
    metric("builds_total", "counter", "Builds run since start.", s.builds)
    metric("build_failures_total", "counter", "Builds that failed since start.", s.build_failures)
    metric("scan_errors_total", "counter", "Content files skipped as unreadable, since start.", s.skipped_files)
    metric("skipped_sources", "gauge", "Content files currently skipped.", figures["skipped_sources"])
    outbox = {f'state="{k}"': figures["outbox"].get(k, 0) for k in OUTBOX_STATES}
    outbox.update({f'state="{k}"': v for k, v in figures["outbox"].items() if f'state="{k}"' not in outbox})
    metric("outbox_messages", "gauge", "Outbox rows by state.", outbox)
    metric(
        "deliveries",
        "gauge",
        "Messages by delivery state, including what came back after the relay accepted them.",
        {f'state="{k}"': v for k, v in figures["deliveries"].items()},
    )
    metric(
        "inbound_messages",
        "gauge",
        "Inbound mail read, by kind (bounce, delayed, complaint, unsubscribe, unknown).",
        {f'kind="{k}"': figures["inbound"].get(k, 0) for k in INBOUND_KINDS},
    )
    metric(
        "subscribers",
        "gauge",
        "Subscribers by status.",
        {f'status="{k}"': v for k, v in figures["subscribers"].items()},
    )
    metric("last_scan_timestamp_seconds", "gauge", "Unix time of the last scan.", last_scan)
    metric("last_digest_timestamp_seconds", "gauge", "Unix time of the last digest made.", last_digest)
    metric("digests_queued_total", "counter", "Digests queued since start.", s.digests_queued)
    metric("job_failures_total", "counter", "Scheduled jobs that failed since start.", s.job_failures)
    metric(
        "websub_pings_total",
        "counter",
        "WebSub pings by result, since start.",
        {'result="sent"': s.websub.sent, 'result="failed"': s.websub.failed},
    )
    metric("ready", "gauge", "1 once the first build is done.", 1 if s.ready else 0)
    metric("start_time_seconds", "gauge", "Unix time the daemon started.", s.started)
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
