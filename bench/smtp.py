"""Delivery benchmark: personalised ~20 KB digests from the real outbox to Postfix's smtp-sink on loopback.

    python bench/smtp.py [--messages 10000] [--connections 16] [--rounds 3] [--small 1000] [--big 100000]

Four senders in the same run, against the same smtp-sink:

- ``smtp-source -d`` (Postfix's C load generator: ``-s`` sessions = our connections, each reused, ``-m`` the
  same count, ``-l`` the size of our digest);
- the whole command, ``publisher digest send``, as an operator types it, in its own process over a store
  whose subscribers have nothing queued yet: start-up, planning, queueing every row, rendering and the
  drain, timed from the exec to the exit, with its CPU time (the command's and its compose worker's), which
  a busy machine disturbs less than the wall time;
- the outbox drain (``publisher.delivery.outbox.drain`` over a real SQLite file with every row queued by
  ``publisher.mail.digests.queue``, messages made by ``publisher.mail.messages.Composer``, SMTP through the pool);
- a plain ``smtplib`` loop on one connection sending the same messages (made by the same Composer).

Each sender runs ``--rounds`` times, interleaved, and its best round counts (the machine is shared). Then
the peak RSS (VmHWM) of a fresh process per size, each draining a store of ``--small`` and of ``--big`` queued
recipients to the sink (the drain's process plus its compose worker). Targets: drain ≥ 0.4 × smtp-source and
≥ 5 × the smtplib loop; the whole command ≥ 0.4 × smtp-source; RSS(big) ≤ 1.2 × RSS(small).

Without smtp-sink (``apt-get install postfix``) the bench says so and measures memory against an aiosmtpd
sink instead. Each measured sender runs in its own process, so one's memory never counts against another.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ["harbour", "freight", "strike", "minister", "budget", "council", "market", "river", "summit", "port",
         "trade", "energy", "policy", "talks", "report", "season", "quarter", "inflation", "shipping", "union",
         "tariff", "agreement", "coast", "vote", "court", "data", "survey", "week"]  # fmt: skip
POSTS = 4  # four sections of ~1.4 KB make a digest of ~21 KB (HTML and text parts, headers)


def tool(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a site with N subscribers and one queued digest each ----------------------------------------------


def make_site(folder: Path, subscribers: int, port: int, connections: int, *, queue: bool = True) -> Path:
    """A site folder whose store holds one queued ~20 KB digest per subscriber; its config path.

    ``queue`` False: the subscribers and their follows only, for ``publisher digest send`` to queue.
    """
    from publisher import config as config_mod
    from publisher.content import scanner
    from publisher.mail import digests
    from publisher.store import Store, iso, now_utc

    (folder / "content").mkdir(parents=True)
    config_path = folder / "publisher.toml"
    config_path.write_text(
        '[site]\ntitle = "Bench News"\nbase_url = "https://news.example.org/"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f'from = "Bench News <news@example.org>"\nconnections = {connections}\nrate = 0\n',
        encoding="utf-8",
    )
    rng = random.Random(7)
    now = datetime.now(UTC)
    for i in range(POSTS):
        body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(4))
        date = (now - timedelta(hours=i + 1)).strftime("%Y-%m-%dT%H:%M:%S")
        (folder / "content" / f"post-{i}.md").write_text(
            f'---\ntitle: "Harbour week {i}"\ndate: {date}\nauthor: "Ana Ruiz"\n---\n\n{body}\n', encoding="utf-8"
        )
    config = config_mod.load(config_path, must_exist=True)
    with Store(config.paths.database) as store:
        scanner.scan(config, store)
        stamp = iso(now_utc())
        with store.transaction() as conn:
            for i in range(subscribers):
                cur = conn.execute(
                    "INSERT INTO subscribers (email, name, status, created_at, updated_at, confirmed_at)"
                    " VALUES (?, ?, 'confirmed', ?, ?, ?)",
                    (f"reader{i:06d}@example.net", f"Reader Number{i}", stamp, stamp, stamp),
                )
                conn.execute(
                    "INSERT INTO follows (subscriber_id, kind, value) VALUES (?, 'correspondent', 'ana-ruiz')",
                    (cur.lastrowid,),
                )
        if queue:
            queued = digests.queue(config, store)
            assert queued, "no digest was queued"
            count = store.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
            assert count == subscribers, count
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return config_path


def fresh_copy(site: Path, dest: Path) -> Path:
    """A copy of the site (its store with every row still queued); its config path."""
    shutil.copytree(site, dest)
    return dest / "publisher.toml"


# -- the measured senders, each in a child process -------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class ChildPeak:
    """The largest VmHWM of this process's children (the compose worker), sampled while they run.

    VmHWM starts afresh at exec, so it is the child's own peak, unlike a child's ru_maxrss.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in children.read_text().split():
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))


def row_of(rec: tuple[Any, ...]) -> Any:
    from publisher.delivery.outbox import OutboxRow

    return OutboxRow(rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], json.loads(rec[6]), rec[7])


def child_drain(config_path: str) -> dict[str, object]:
    from publisher import config as config_mod
    from publisher.delivery.loop import run
    from publisher.delivery.outbox import drain
    from publisher.mail.messages import Composer

    config = config_mod.load(Path(config_path), must_exist=True)
    composer = Composer(config, config.paths.database)
    started = time.perf_counter()
    with ChildPeak() as worker:
        report = run(drain(config, config.paths.database, composer))
    seconds = time.perf_counter() - started
    composer.close()
    # The drain's process and its compose worker run side by side: their peaks add up.
    return {"sent": report.sent, "seconds": seconds, "maxrss_kb": peak_rss_kb() + worker.peak_kb,
            "worker_kb": worker.peak_kb, "failed": report.failed + report.deferred,
            "error": report.error}  # fmt: skip


def child_smtplib(config_path: str, port: int) -> dict[str, float]:
    """One connection, one message after another, composed by the same Composer from the same rows."""
    from publisher import config as config_mod
    from publisher.mail.messages import Composer
    from publisher.store import Store

    config = config_mod.load(Path(config_path), must_exist=True)
    composer = Composer(config, config.paths.database)
    with Store(config.paths.database) as store:
        records = store.conn.execute(
            "SELECT id, kind, digest_id, subscriber_id, recipient, message_id, payload, attempts FROM outbox"
            " WHERE state = 'queued' ORDER BY id"
        ).fetchall()
    compose_seconds = 0.0
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example") as smtp:
        for rec in records:
            t = time.perf_counter()
            env = composer(row_of(rec))
            compose_seconds += time.perf_counter() - t
            smtp.sendmail(env.sender, [env.recipient], env.data)
    seconds = time.perf_counter() - started
    composer.close()
    return {"sent": len(records), "seconds": seconds, "compose_seconds": compose_seconds,
            "maxrss_kb": peak_rss_kb()}  # fmt: skip


def run_command(config_path: Path, messages: int) -> dict[str, Any]:
    """``publisher digest send`` in a fresh interpreter, as typed by an operator, from exec to exit."""
    cmd = [sys.executable, "-m", "publisher", "--config", str(config_path), "digest", "send"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=config_path.parent)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the command and of its compose worker (it waits for it): steadier than wall time on a busy machine.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sent = next((line.split()[1] for line in out.stdout.splitlines() if line.startswith("Sent ")), "")
    if out.returncode != 0 or sent != str(messages):
        raise SystemExit(f"publisher digest send failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return {"sent": messages, "seconds": seconds, "cpu_seconds": cpu}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_smtp_source(binary: str, port: int, messages: int, sessions: int, size: int) -> dict[str, float]:
    cmd = [binary, "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "news@example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return {"sent": messages, "seconds": time.perf_counter() - started}


# -- main ------------------------------------------------------------------------------------------------


def message_size(config_path: Path) -> int:
    from publisher import config as config_mod
    from publisher.mail.messages import Composer
    from publisher.store import Store

    config = config_mod.load(config_path, must_exist=True)
    with Store(config.paths.database) as store:
        rec = store.conn.execute(
            "SELECT id, kind, digest_id, subscriber_id, recipient, message_id, payload, attempts FROM outbox LIMIT 1"
        ).fetchone()
    composer = Composer(config, config.paths.database)
    size = len(composer(row_of(rec)).data)
    composer.close()
    return size


def start_sink(binary: str, port: int) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("smtp-sink did not start")


def start_python_sink(port: int) -> subprocess.Popen[bytes]:
    """An aiosmtpd sink, for the memory runs when smtp-sink is missing."""
    code = (
        "import asyncio\nfrom aiosmtpd.smtp import SMTP\n"
        "class H:\n    async def handle_DATA(self, s, e, v): return '250 OK'\n"
        "async def main():\n    loop = asyncio.get_running_loop()\n"
        f"    srv = await loop.create_server(lambda: SMTP(H(), hostname='sink'), '127.0.0.1', {port})\n"
        "    await srv.serve_forever()\nasyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def throughput(
    args: argparse.Namespace, work: Path, site: Path, bare: Path, port: int, size: int, source_bin: str
) -> dict[str, Any]:
    """Each sender ``--rounds`` times, interleaved; the best round of each (the machine is shared)."""
    best: dict[str, dict[str, Any]] = {}

    def keep(name: str, result: dict[str, Any]) -> None:
        result["rate"] = result["sent"] / result["seconds"]
        rates = [*best.get(name, {}).get("rates", []), result["rate"]]
        if name not in best or result["rate"] > best[name]["rate"]:
            best[name] = result
        best[name]["rates"] = rates

    for n in range(args.rounds):
        keep("smtp-source", run_smtp_source(source_bin, port, args.messages, args.connections, size))
        keep("command", run_command(fresh_copy(bare, work / f"run-command-{n}"), args.messages))
        keep("drain", run_child("drain", str(fresh_copy(site, work / f"run-drain-{n}"))))
        keep("smtplib", run_child("smtplib", str(fresh_copy(site, work / f"run-smtplib-{n}")), str(port)))
    return best


def report(
    args: argparse.Namespace, best: dict[str, Any], small: dict[str, Any] | None, big: dict[str, Any] | None
) -> None:
    if best:
        print(f"\n{'sender (best of ' + str(args.rounds) + ')':<26}{'messages':>10}{'seconds':>10}{'msg/s':>10}"
              f"  {'every round, msg/s':<20}")  # fmt: skip
        senders = (("smtp-source -d", "smtp-source"), ("publisher digest send", "command"),
                   ("outbox drain", "drain"), ("smtplib loop", "smtplib"))  # fmt: skip
        for label, name in senders:
            r = best[name]
            rounds = " ".join(f"{rate:.0f}" for rate in r["rates"])
            print(f"{label:<26}{r['sent']:>10}{r['seconds']:>10.2f}{r['rate']:>10.0f}  {rounds}")
        print(f"{'  smtplib: composing':<26}{'':>10}{best['smtplib']['compose_seconds']:>10.2f}")
        cpu = best["command"]["cpu_seconds"]
        each = cpu / best["command"]["sent"] * 1e6
        print(f"{'  command: CPU seconds':<26}{'':>10}{cpu:>10.2f}  ({each:.0f} µs a message, with its compose worker)")
    if small is not None and big is not None:
        print(f"\n{'drain, queued':<26}{'sent':>10}{'seconds':>10}{'peak RSS':>13}{'of it, worker':>16}")
        for label, r in ((f"{args.small:,}", small), (f"{args.big:,}", big)):
            print(
                f"{label:<26}{r['sent']:>10}{r['seconds']:>10.2f}{r['maxrss_kb'] / 1024:>10.1f} MB"
                f"{r.get('worker_kb', 0) / 1024:>13.1f} MB"
            )
    print()
    if best:
        cmd_ratio = best["command"]["rate"] / best["smtp-source"]["rate"]
        print(f"command / smtp-source = {cmd_ratio:.2f}  (target >= 0.40: {verdict(cmd_ratio >= 0.4)})")
        src_ratio = best["drain"]["rate"] / best["smtp-source"]["rate"]
        lib_ratio = best["drain"]["rate"] / best["smtplib"]["rate"]
        print(f"drain / smtp-source   = {src_ratio:.2f}  (target >= 0.40: {verdict(src_ratio >= 0.4)})")
        print(f"drain / smtplib       = {lib_ratio:.2f}  (target >= 5.00: {verdict(lib_ratio >= 5)})")
    if small is None or big is None:
        return
    mem_ratio = big["maxrss_kb"] / small["maxrss_kb"]
    print(f"RSS {args.big:,} / {args.small:,} = {mem_ratio:.2f}  (target <= 1.20: {verdict(mem_ratio <= 1.2)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--without-postfix", action="store_true", help="act as if smtp-sink were not installed")
    parser.add_argument("--no-memory", action="store_true", help="throughput only: skip the peak-RSS runs")
    args = parser.parse_args()
    sink_bin, source_bin = (None, None) if args.without_postfix else (tool("smtp-sink"), tool("smtp-source"))
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="publisher-bench-smtp-"))
    sink: subprocess.Popen[bytes] | None = None
    try:
        print(f"setting up stores with {args.messages}, {args.small} and {args.big} queued digests in {work} ...")
        t = time.perf_counter()
        main_site = make_site(work / "site-main", args.messages, port, args.connections).parent
        bare_site = make_site(work / "site-bare", args.messages, port, args.connections, queue=False).parent
        if not args.no_memory:
            small_site = make_site(work / "site-small", args.small, port, args.connections).parent
            big_site = make_site(work / "site-big", args.big, port, args.connections).parent
        size = message_size(main_site / "publisher.toml")
        print(f"  done in {time.perf_counter() - t:.1f} s; one digest is {size} bytes")
        best: dict[str, Any] = {}
        if sink_bin is None or source_bin is None:
            print("smtp-sink / smtp-source not installed (Debian: apt-get install postfix): throughput runs skipped")
            sink = start_python_sink(port)
        else:
            sink = start_sink(sink_bin, port)
            best = throughput(args, work, main_site, bare_site, port, size, source_bin)
        small = big = None
        if not args.no_memory:
            small = run_child("drain", str(fresh_copy(small_site, work / "run-small")))
            big = run_child("drain", str(fresh_copy(big_site, work / "run-big")))
        report(args, best, small, big)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "drain":
        print(json.dumps(child_drain(sys.argv[2])))
    elif len(sys.argv) > 1 and sys.argv[1] == "smtplib":
        print(json.dumps(child_smtplib(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
