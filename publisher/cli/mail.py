"""Mail commands: subscribers, digest, send-test, outbox. A thin layer over subscribers, digests, messages
and the delivery outbox; they register themselves on publisher.cli.main."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from publisher.cli.app import App, main
from publisher.cli.progress import progress_bar
from publisher.config import Config
from publisher.mail import digests, messages, subscribers, tokens
from publisher.store import Store
from publisher.store import content as store_content
from publisher.store import outbox as store_outbox

pass_app = click.make_pass_decorator(App)


def _store(config: Config, *, create: bool = True) -> Store:
    return Store(config.paths.database, create=create)


def _drain(config: Config, label: str = "Sending", *, first: Callable[[], None] | None = None) -> int:
    """Send what the outbox holds that is due; print a summary; the exit status (1: nothing could go).

    ``first`` (queueing) runs before the drain while the composer process starts, so its start-up does not
    delay the first message."""
    from publisher.delivery.loop import run
    from publisher.delivery.outbox import compose_ahead, drain

    composer = messages.Composer(config, config.paths.database)
    worker = compose_ahead(config, composer) if first is not None else None
    try:
        if first is not None:
            first()
        with progress_bar(label, at_least=50) as progress:
            report = run(drain(config, config.paths.database, composer, progress=progress, worker=worker))
    finally:
        if worker is not None:
            worker.close()
        composer.close()
    if report.busy:
        click.echo("Another send is running (the daemon?); it will send the queued messages.")
        return 0
    where = f"to {config.smtp.host}:{config.smtp.port}" if config.smtp else f"into {config.maildir.path}"
    line = f"Sent {report.sent} of {report.due} {where}"
    extras = [
        f"{report.failed} failed" if report.failed else "",
        f"{report.deferred} deferred for a retry" if report.deferred else "",
        f"{report.skipped} skipped (unsubscribed or bounced)" if report.skipped else "",
        f"{report.bounced_subscribers} subscribers now bounced" if report.bounced_subscribers else "",
    ]
    extras = [e for e in extras if e]
    click.echo(line + (f"; {', '.join(extras)}" if extras else "") + f" in {report.seconds:.1f} s.")
    if report.failed or report.deferred:
        click.echo("See `publisher outbox` for the errors.", err=True)
    if report.error:
        click.echo(f"publisher: {report.error}", err=True)
        return 1
    return 0


# -- subscribers --------------------------------------------------------------------------------------------


@main.group("subscribers")
def subscribers_group() -> None:
    """Add, import, export, list and remove subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in greetings and the To header.")
@click.option(
    "--follow",
    "follows",
    multiple=True,
    metavar="WHAT",
    help="A correspondent slug, category:NAME, or all. Repeatable. Default: all.",
)
@click.option("--confirmed", is_flag=True, help="Confirmed at once (they asked elsewhere); else a confirmation email.")
@pass_app
def subscribers_add(app: App, email: str, name: str, follows: tuple[str, ...], confirmed: bool) -> None:
    """Add one subscriber.

    Without --confirmed the subscriber is pending and a confirmation email is queued; they get digests once
    they follow its link.

    Example: publisher subscribers add ana@example.org --name "Ana" --follow laura-bicker --confirmed
    """
    config = app.config
    wanted = [subscribers.parse_follow(f) for f in follows] or [subscribers.ALL]
    with _store(config) as store:
        sub = subscribers.add(store, email, name, wanted, confirmed=confirmed, secret=tokens.load_secret(config))
        for follow in wanted:
            if follow.kind == "correspondent" and store_content.correspondent(store, follow.value) is None:
                click.echo(f"warning: no correspondent {follow.value!r} has published yet; following anyway", err=True)
        if not confirmed:
            messages.enqueue_confirmation(config, store, sub)
    state = "confirmed" if confirmed else "pending: a confirmation email is queued, the daemon sends it"
    click.echo(f"Added {sub.email} ({state}), following {subscribers.format_follows(sub.follows) or 'nothing'}.")


@subscribers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pending", is_flag=True, help="New subscribers are pending instead of confirmed.")
@click.option(
    "--follow",
    "follows",
    multiple=True,
    metavar="WHAT",
    help="What new subscribers whose row names nothing follow. Repeatable. Default: all.",
)
@pass_app
def subscribers_import(app: App, file: Path, pending: bool, follows: tuple[str, ...]) -> None:
    """Import subscribers from a CSV file.

    Columns: email, name, follows (values separated by ';', '|' or spaces: a correspondent slug,
    category:NAME or all) and optionally status; or listmonk's export (email, name, attributes, with
    "follows" in the attributes JSON). Bad rows are reported by line number and the others imported
    (exit status 1 when any row was bad). Importing the same file again changes nothing.

    Example: publisher subscribers import readers.csv
    """
    config = app.config
    defaults = [subscribers.parse_follow(f) for f in follows] or [subscribers.ALL]
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: cannot read ({exc})") from exc
    with _store(config) as store:
        report = subscribers.import_csv(
            store, text, default_follows=defaults, confirmed=not pending, secret=tokens.load_secret(config)
        )
    for line, reason in report.errors:
        click.echo(f"{file}:{line}: {reason}", err=True)
    click.echo(
        f"Imported {file}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
        + (f", {report.forgotten} left out (asked to be forgotten)" if report.forgotten else "")
        + (f", {len(report.errors)} rows with errors" if report.errors else "")
        + "."
    )
    if report.errors:
        sys.exit(1)


@subscribers_group.command("export")
@pass_app
@click.argument("email", required=False)
def subscribers_export(app: App, email: str | None) -> None:
    """Write every subscriber as CSV to standard output (email, name, follows, status, created_at); with
    EMAIL, everything held about that one person as JSON (their record, follows, messages and their
    delivery record, bounces and complaints).

    Example: publisher subscribers export > readers.csv; publisher subscribers export ana@example.org
    """
    if email is not None:
        from publisher.mail import lifecycle

        with _store(app.config) as store:
            data = lifecycle.export_person(store, email)
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
        return
    with _store(app.config) as store:
        subscribers.export_csv(store, sys.stdout)


@subscribers_group.command("forget")
@click.argument("email")
@pass_app
def subscribers_forget(app: App, email: str) -> None:
    """Erase everything held about a person (record, follows, messages, bounces, and the kept inbound mail
    that names them), keeping only a keyed hash of the address so no import or `subscribers add` brings them
    back.

    Example: publisher subscribers forget ana@example.org
    """
    from publisher.delivery import bounces
    from publisher.mail import lifecycle

    config = app.config
    with _store(config) as store:
        held = lifecycle.forget(store, tokens.load_secret(config), email)
    address = subscribers.normalise_email(email)
    kept = bounces.erase_kept(config, address)
    click.echo(f"Forgot {address}." if held or kept else f"Nothing was held about {address}; it will not be imported.")
    if kept:
        click.echo(f"Erased {kept} kept inbound message{'s' if kept != 1 else ''} naming {address}.")


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(subscribers.STATUSES), help="Only subscribers with this status.")
@pass_app
def subscribers_list(app: App, status: str | None) -> None:
    """List subscribers: address, status, name, follows.

    Example: publisher subscribers list --status confirmed
    """
    with _store(app.config) as store:
        rows = list(subscribers.iter_subscribers(store, status=status))
        totals = subscribers.counts(store)
    for sub in rows:
        follows = subscribers.format_follows(sub.follows) or "-"
        click.echo(f"{sub.email}\t{sub.status}\t{sub.name or '-'}\t{follows}")
    summary = ", ".join(f"{totals.get(s, 0)} {s}" for s in subscribers.STATUSES)
    click.echo(f"{len(rows)} listed ({summary}).", err=True)


@subscribers_group.command("remove")
@click.argument("email")
@pass_app
def subscribers_remove(app: App, email: str) -> None:
    """Delete a subscriber, what they follow and their mail still queued.

    Example: publisher subscribers remove ana@example.org
    """
    with _store(app.config) as store:
        sub = subscribers.remove(store, email)
    click.echo(f"Removed {sub.email}.")


# -- digests ----------------------------------------------------------------------------------------------


@main.group("digest")
def digest_group() -> None:
    """Preview and send digests."""


@digest_group.command("preview")
@click.option(
    "--correspondent", "slug", required=True, metavar="SLUG", help="Correspondent slug (or category:NAME, all)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML part to this file.")
@pass_app
def digest_preview(app: App, slug: str, out: Path | None) -> None:
    """Render the next digest of a correspondent without sending it or moving its mark.

    Without --out the text part is printed; with it the HTML part is written to the file.

    Example: publisher digest preview --correspondent laura-bicker --out /tmp/digest.html
    """
    config = app.config
    with _store(config, create=False) as store:
        rendered = digests.preview(config, store, slug)
    if not rendered.section_count:
        click.echo(
            f"Nothing new for {rendered.scope} since {rendered.period_start:%Y-%m-%d %H:%M %Z}:"
            " a digest run would send nothing.",
            err=True,
        )
    note = f"{rendered.shown} of {rendered.section_count} sections" + (
        ", shortened to fit" if rendered.truncated else ""
    )
    if out is not None:
        out.write_text(rendered.html, encoding="utf-8")
        click.echo(f"Wrote {out} ({rendered.html_bytes} bytes; {note}). Subject: {rendered.subject}")
        return
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.text, nl=False)
    click.echo(f"\n[{note}; HTML part {rendered.html_bytes} bytes]", err=True)


@digest_group.command("send")
@click.option(
    "--correspondent", "slug", metavar="SLUG", help="Only this correspondent's digest (or category:NAME, all)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and record nothing.")
@pass_app
def digest_send(app: App, slug: str | None, dry_run: bool) -> None:
    """Gather the digests due now, queue them, and send the outbox.

    Example: publisher digest send --correspondent laura-bicker --dry-run
    """
    config = app.config
    if dry_run:
        with _store(config, create=False) as store:
            plans = digests.plan(config, store, scope=slug)
        if not plans:
            click.echo("No digest would be sent: nothing new since the last ones.")
        for p in plans:
            click.echo(
                f"{p.scope}: {len(p.section_ids)} sections since {p.period_start:%Y-%m-%d %H:%M %Z}"
                f" for {len(p.recipients)} subscribers"
            )
        return

    def queue() -> None:
        with _store(config, create=False) as store:
            queued = digests.queue(config, store, scope=slug)
        if queued:
            click.echo(f"Queued {len(queued)} digests: {', '.join(queued)}")
        else:
            click.echo("No new digest: nothing new since the last ones (sending what the outbox still holds).")

    sys.exit(_drain(config, first=queue))


from publisher.cli.bounces import digest_report  # noqa: E402  (registered here: `digest` loads this module)

digest_group.add_command(digest_report)


# -- send-test and the outbox -------------------------------------------------------------------------------


@main.command("send-test")
@click.option("--to", "to", required=True, metavar="ADDRESS", help="Where to send the test message.")
@pass_app
def send_test(app: App, to: str) -> None:
    """Send a test message through the configured transport (and whatever else the outbox holds due).

    Example: publisher send-test --to me@example.org
    """
    config = app.config
    with _store(config) as store:
        messages.enqueue_test(config, store, to)
    sys.exit(_drain(config))


@main.group("outbox", invoke_without_command=True)
@click.option("--errors", "limit", default=10, show_default=True, help="How many recent errors to show.")
@click.pass_context
def outbox_group(ctx: click.Context, limit: int) -> None:
    """Show the outbox: messages by state and the recent errors.

    Example: publisher outbox
    """
    if ctx.invoked_subcommand is not None:
        return
    from publisher.delivery.outbox import counts, recent_errors

    app = ctx.find_object(App)
    assert app is not None
    with _store(app.config) as store:
        by_state = counts(store)
        errors = recent_errors(store, limit)
        deliveries = store_outbox.delivery_totals(store)
    click.echo("  ".join(f"{state}: {n}" for state, n in by_state.items()))
    shown = [f"{state}: {n}" for state, n in deliveries.items() if n]
    if shown:
        click.echo("Delivery: " + "  ".join(shown))
    if errors:
        click.echo("Recent errors:")
    for e in errors:
        click.echo(
            f"  #{e.id} {e.kind} to {e.recipient} [{e.state}, {e.attempts} attempts, {e.updated_at}]: {e.last_error}"
        )


@outbox_group.command("retry")
@pass_app
def outbox_retry(app: App) -> None:
    """Send again now: failed messages are queued again, deferred ones stop waiting out their backoff.

    Example: publisher outbox retry
    """
    from publisher.delivery.outbox import retry_deferred, retry_failed

    config = app.config
    with _store(config) as store:
        failed = retry_failed(store)
        deferred = retry_deferred(store)
    click.echo(f"{failed} failed messages queued again; {deferred} deferred messages due now.")
    sys.exit(_drain(config))
