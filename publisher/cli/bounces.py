"""Inbound mail and bounce commands: ``inbound`` (one message on stdin, for the MTA), ``bounces reset``, and
``digest report`` (registered on the digest group by cli/mail.py)."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys

import click

from publisher.cli.app import App, main
from publisher.errors import ConfigError, PublisherError
from publisher.store import Store

pass_app = click.make_pass_decorator(App)

log = logging.getLogger(__name__)

# sysexits.h, as Postfix pipe(8)/local(8), procmail and sendmail read them: 75 is "try again later" (the
# message stays queued), 78 a local configuration problem (also retried), 66 "no input".
EX_OK = 0
EX_NOINPUT = 66
EX_TEMPFAIL = 75
EX_CONFIG = 78

# Where Postfix local(8) (.forward, mailbox_command) puts the envelope recipient for commands.
_RECIPIENT_ENV = ("ORIGINAL_RECIPIENT", "RECIPIENT")


@main.command("inbound")
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    metavar="ADDRESS",
    help="The envelope recipient (Postfix pipe: ${original_recipient}); default: $ORIGINAL_RECIPIENT, $RECIPIENT.",
)
@pass_app
def inbound(app: App, recipients: tuple[str, ...]) -> None:
    """Read one inbound message on stdin: a bounce, a complaint or an unsubscribe request.

    Bounces and complaints update the delivery record and the subscriber; unsubscribe mail unsubscribes its
    sender; anything else is kept in the quarantine Maildir. Exit status for the MTA: 0 handled (or
    quarantined), 75 try again later, 78 configuration error, 66 empty input.

    Example (Postfix master.cf): publisher unix - n n - - pipe
      flags=Rq user=publisher argv=/usr/bin/publisher -c /etc/publisher.toml inbound --recipient ${original_recipient}
    """
    data = sys.stdin.buffer.read()
    if not data.strip():
        click.echo("publisher inbound: empty message on stdin", err=True)
        sys.exit(EX_NOINPUT)
    try:
        config = app.config
    except ConfigError as exc:
        click.echo(f"publisher inbound: config error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    from publisher.delivery.bounces import receive

    envelope = list(recipients) or [os.environ[name] for name in _RECIPIENT_ENV if os.environ.get(name)]
    try:
        with Store(config.paths.database) as store:
            received = receive(store, config, data, envelope_recipients=envelope)
    except ConfigError as exc:
        click.echo(f"publisher inbound: config error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    except (PublisherError, OSError) as exc:
        click.echo(f"publisher inbound: {exc}; try again later", err=True)
        sys.exit(EX_TEMPFAIL)
    except Exception as exc:  # a bug must not bounce the report back: the MTA keeps it and retries
        log.exception("inbound: unexpected error")
        click.echo(f"publisher inbound: unexpected error ({exc.__class__.__name__}: {exc}); try again later", err=True)
        sys.exit(EX_TEMPFAIL)
    where = f"; kept in {received.quarantined}" if received.quarantined else ""
    click.echo(f"{received.kind}: {received.action}{where}")
    sys.exit(EX_OK)


@main.group("bounces")
def bounces_group() -> None:
    """Bounce state of subscribers."""


@bounces_group.command("reset")
@click.argument("email")
@pass_app
def bounces_reset(app: App, email: str) -> None:
    """Forget an address's bounces: count to zero, soft bounces behind it, bounced → confirmed.

    Example: publisher bounces reset ana@example.org
    """
    from publisher.delivery.bounces import reset

    with Store(app.config.paths.database, create=False) as store:
        if not reset(store, email):
            raise click.ClickException(f"no subscriber {email}")
    click.echo(f"Bounces of {email} reset.")


@click.command("report")
@click.argument("digest", required=False)
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values, one line per recipient.")
@pass_app
def digest_report(app: App, digest: str | None, as_csv: bool) -> None:
    """Who got a digest and who did not: each recipient's delivery state.

    Without DIGEST: the latest digests with counts per state. DIGEST may be a full id or a unique part of
    one (a date, a scope).

    Example: publisher digest report correspondent:ana-ruiz/2026-03-07 --csv
    """
    from publisher.store import outbox as sql

    with Store(app.config.paths.database, create=False) as store:
        if digest is None:
            summaries = sql.digest_summaries(store)
            _print_summaries(summaries, as_csv)
            return
        found = sql.matching_digests(store, digest)
        if not found:
            raise click.ClickException(f"no digest matches {digest!r}; `publisher digest report` lists them")
        if len(found) > 1:
            raise click.ClickException(f"{digest!r} matches {len(found)} digests: " + ", ".join(found[:10]))
        rows = sql.delivery_rows(store, found[0])
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["digest", "recipient", "state", "at", "relay", "detail"])
        for r in rows:
            writer.writerow([r.digest_id, r.recipient, r.state, r.at, r.relay, r.detail])
        click.echo(buffer.getvalue(), nl=False)
        return
    counts = dict.fromkeys(sql.DELIVERY_STATES, 0)
    for r in rows:
        counts[r.state] += 1
    shown = ", ".join(f"{s} {n}" for s, n in counts.items() if n)
    click.echo(f"Digest {found[0]}: {len(rows)} recipients; {shown or 'none'}")
    width = max((len(r.recipient) for r in rows), default=10)
    for r in rows:
        relay = f" via {r.relay}" if r.relay else ""
        detail = f"  {r.detail}" if r.detail else ""
        click.echo(f"  {r.recipient:<{width}}  {r.state:<18} {r.at}{relay}{detail}")


def _print_summaries(summaries: list[tuple[str, str, str, dict[str, int]]], as_csv: bool) -> None:
    from publisher.store.outbox import DELIVERY_STATES

    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["digest", "scope", "period_end", *DELIVERY_STATES])
        for digest_id, scope, end, counts in summaries:
            writer.writerow([digest_id, scope, end, *(counts[s] for s in DELIVERY_STATES)])
        click.echo(buffer.getvalue(), nl=False)
        return
    if not summaries:
        click.echo("No digests yet.")
    for digest_id, _, _, counts in summaries:
        shown = ", ".join(f"{s} {n}" for s, n in counts.items() if n) or "no recipients"
        click.echo(f"{digest_id}: {shown}")
