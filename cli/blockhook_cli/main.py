"""The `blockhook` command."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from blockhook_cli import __version__
from blockhook_cli.addresses import BadRows, read_csv, write_csv
from blockhook_cli.apply import execute, send_addresses
from blockhook_cli.client import ApiError, Client, Unreachable, quoted
from blockhook_cli.plan import PlanError, make_plan, needs_addresses, render, summary
from blockhook_cli.spec import SpecError, load
from blockhook_cli.times import parse_time, show_time

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_DIFFERENCES = 4
POLL_SECONDS = 1.0


class BadInput(Exception):
    """A bad file or argument found by the command (not by click's parser): exit 2, with every problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class SmokeFailed(Exception):
    """A step of `smoke` found something wrong: exit 1."""


class Cli(click.Group):
    """Turns what goes wrong into the documented exit codes and one `error:` message on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as error:
            _error(f"{error.code}: {error.message}", [_detail(detail) for detail in error.details])
            ctx.exit(EXIT_API_ERROR)
        except Unreachable as error:
            _error(str(error))
            ctx.exit(EXIT_UNREACHABLE)
        except SpecError as error:
            _error(f"{error.source}: not applied, nothing was changed", error.problems)
            ctx.exit(EXIT_USAGE)
        except BadRows as error:
            _error(f"{error.source}: {len(error.problems)} bad rows, nothing was sent", error.problems)
            ctx.exit(EXIT_USAGE)
        except PlanError as error:
            _error("not applied, nothing was changed", error.problems)
            ctx.exit(EXIT_USAGE)
        except BadInput as error:
            _error(error.message, error.problems)
            ctx.exit(EXIT_USAGE)
        except SmokeFailed as error:
            _error(str(error))
            ctx.exit(EXIT_API_ERROR)


def _error(message: str, lines: list[str] | None = None) -> None:
    click.echo(f"error: {message}", err=True)
    for line in lines or ():
        click.echo(f"  {line}", err=True)


def _detail(detail: Any) -> str:
    if isinstance(detail, dict) and "message" in detail:
        where = detail.get("field") or detail.get("in")
        return f"{where}: {detail['message']}" if where else str(detail["message"])
    return detail if isinstance(detail, str) else json.dumps(detail)


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    for row in [headers, *cells]:
        click.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--api-url", envvar="BLOCKHOOK_API_URL", metavar="URL",
              help="The API's base URL, with or without /v1 (env BLOCKHOOK_API_URL), e.g. http://127.0.0.1:8080")  # fmt: skip
@click.option("--api-key", envvar="BLOCKHOOK_API_KEY", metavar="KEY", help="The API key (env BLOCKHOOK_API_KEY)")
@click.version_option(__version__, prog_name="blockhook")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, api_key: str | None) -> None:
    """blockhook's REST API from the command line. MONITOR is a monitor's id or its exact name.

    \b
    Exit codes:
      0  success
      1  the API answered an error (stderr: `error: <code>: <message>` and its details, one per line);
         `test`: the endpoint did not answer 2xx; a backfill or reconcile job failed; a `smoke` step failed
      2  bad usage, or a bad file or argument (nothing was changed or sent)
      3  the API could not be reached or did not answer in time
      4  `apply --dry-run --exit-code`: the file differs from the monitors
    Answers 429 and 503 are retried a few times, with backoff, before giving up.
    """
    ctx.obj = {"api_url": api_url, "api_key": api_key}


def client_of(ctx: click.Context) -> Client:
    settings = ctx.find_root().obj
    if not settings["api_url"]:
        raise BadInput("no API URL: give --api-url or set BLOCKHOOK_API_URL (e.g. http://127.0.0.1:8080)")
    try:
        return Client(settings["api_url"], settings["api_key"])
    except ValueError as error:
        raise BadInput(str(error)) from None


def find_monitor(client: Client, reference: str) -> dict[str, Any]:
    """The monitor of this id, else the one monitor of this exact name."""
    if reference.startswith("mon_"):
        try:
            return client.get(f"/monitors/{quoted(reference)}")
        except ApiError as error:
            if error.status != 404:
                raise
    matches = [monitor for monitor in client.monitors() if monitor["name"] == reference]
    if not matches:
        raise ApiError(404, "not_found", f"no monitor has the id or name {reference!r}")
    if len(matches) > 1:
        raise BadInput(
            f"{len(matches)} monitors are named {reference!r}: give the id of one",
            [f"{monitor['id']}" for monitor in matches],
        )
    return matches[0]


def monitor_path(client: Client, reference: str) -> tuple[dict[str, Any], str]:
    monitor = find_monitor(client, reference)
    return monitor, f"/monitors/{quoted(monitor['id'])}"


# apply


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change, change nothing.")
@click.option("--prune", is_flag=True, help="Also delete the tenant's monitors that are not in the file.")
@click.option("--exit-code", is_flag=True, help="With --dry-run: exit 4 when the file differs from the monitors.")
@click.pass_context
def apply(ctx: click.Context, file: Path, dry_run: bool, prune: bool, exit_code: bool) -> None:
    """Make the tenant's monitors what FILE says, matched by name.

    \b
    FILE (YAML) holds `monitors:`, a list of monitor bodies as the API takes them:
      name, chain_ids, webhook_url, filters (kinds, addresses, contracts, event_signatures),
      condition, confirmations, active; and optionally addresses_file: a CSV file of
      address,label rows (its path relative to FILE), added to filters.addresses.
    Missing monitors are created (their secret is printed once: it is shown only then), changed
    ones PATCHed in the fields that differ, their addresses added and removed in calls of at most
    10,000. A monitor without filters.addresses and addresses_file watches every party. An address
    listed without a label keeps the label it has. A monitor's chain_ids cannot change.
    The whole file is checked before any call.
    """
    desired = load(file)
    client = client_of(ctx)
    current = client.monitors()
    by_id = {monitor["id"]: monitor for monitor in current}
    wanted = {monitor.name: monitor for monitor in desired}

    def addresses_of(monitor_id: str) -> list[dict[str, Any]]:
        monitor = by_id[monitor_id]
        assert needs_addresses(wanted[monitor["name"]], monitor)
        return client.addresses(monitor_id)

    plan = make_plan(desired, current, addresses_of, prune=prune)
    if dry_run:
        for line in render(plan, dry_run=True):
            click.echo(line)
        if exit_code and plan.changes_anything:
            ctx.exit(EXIT_DIFFERENCES)
        return
    execute(client, plan, click.echo)
    for line in summary(plan, dry_run=False):
        click.echo(line)


# monitors


@cli.group()
def monitors() -> None:
    """List, show and delete monitors."""


@monitors.command("list")
@click.option("--json", "as_json", is_flag=True, help="The monitors as the API answers them, as one JSON list.")
@click.pass_context
def monitors_list(ctx: click.Context, as_json: bool) -> None:
    """The tenant's monitors."""
    items = client_of(ctx).monitors()
    if as_json:
        _json(items)
        return
    rows = []
    for monitor in items:
        last = monitor.get("last_delivery")
        scope = monitor["address_count"] if monitor["filters"]["address_scope"] == "list" else "all"
        rows.append([
            monitor["id"], monitor["name"], ",".join(map(str, monitor["chain_ids"])),
            "yes" if monitor["active"] else "no", scope, (monitor.get("health") or {}).get("status", "-"),
            f"{last['status']} {show_time(last['created_at'])}" if last else "-",
        ])  # fmt: skip
    _table(["ID", "NAME", "CHAINS", "ACTIVE", "ADDRESSES", "HEALTH", "LAST DELIVERY"], rows)


@monitors.command("get")
@click.argument("monitor")
@click.pass_context
def monitors_get(ctx: click.Context, monitor: str) -> None:
    """One monitor, as JSON."""
    client = client_of(ctx)
    _, path = monitor_path(client, monitor)
    _json(client.get(path))


@monitors.command("delete")
@click.argument("monitor")
@click.pass_context
def monitors_delete(ctx: click.Context, monitor: str) -> None:
    """Delete a monitor: no delivery for it after that."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    client.delete(path)
    click.echo(f"deleted {found['name']!r} ({found['id']})")


# addresses


@cli.group()
def addresses() -> None:
    """Import and export a monitor's watched addresses as CSV."""


@addresses.command("import")
@click.argument("monitor")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def addresses_import(ctx: click.Context, monitor: str, file: Path) -> None:
    """Add the addresses of FILE (rows address,label; the header line and the labels are optional).

    Every row is checked first: if any is bad, they are listed with their line numbers and nothing
    is sent. Sent in calls of 10,000. An address already watched takes the file's label, if it has one.
    """
    entries = read_csv(file)
    client = client_of(ctx)
    found, _ = monitor_path(client, monitor)
    started = time.monotonic()
    added, _ = send_addresses(client, found["id"], entries, label="importing")
    seconds = time.monotonic() - started
    click.echo(f"{len(entries)} addresses sent to {found['name']!r} ({found['id']}): {added} new, in {seconds:.1f} s")


@addresses.command("export")
@click.argument("monitor")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--prefix", help="Only addresses starting with this hex prefix (0x...).")
@click.pass_context
def addresses_export(ctx: click.Context, monitor: str, file: Path | None, prefix: str | None) -> None:
    """Write the monitor's addresses as CSV (address,label with a header line) to FILE, or to stdout."""
    client = client_of(ctx)
    _, path = monitor_path(client, monitor)

    def items():
        for page in client.pages(f"{path}/addresses", 1000, prefix=prefix):
            yield from page

    if file is None:
        write_csv(items(), sys.stdout)
        return
    partial = file.with_name(file.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        count = write_csv(items(), out)
    partial.replace(file)  # a file that is there is whole
    click.echo(f"{count} addresses written to {file}", err=True)


# deliveries


@cli.group()
def deliveries() -> None:
    """A monitor's delivery log."""


STATUSES = click.Choice(["pending", "delivered", "failed"])


def _delivery_line(item: dict[str, Any]) -> str:
    code = item.get("last_status_code")
    return (
        f"{show_time(item['created_at'])}  {item['id']}  {item['status']:<9}  chain {item['chain_id']}  "
        f"block {item['block_number']}  seq {item['sequence'] if item.get('sequence') is not None else '-'}  "
        f"{item['event_count']} events  {item['attempts']} attempts  "
        f"last {code if code is not None else '-'}  {item.get('origin') or '-'}"
        + ("  removed" if item.get("removed") else "")
    )


@deliveries.command("list")
@click.argument("monitor")
@click.option("--status", type=STATUSES, help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="As the API answers them, as one JSON list.")
@click.pass_context
def deliveries_list(ctx: click.Context, monitor: str, status: str | None, limit: int, as_json: bool) -> None:
    """The monitor's deliveries, newest first."""
    client = client_of(ctx)
    _, path = monitor_path(client, monitor)
    items: list[dict[str, Any]] = []
    for page in client.pages(f"{path}/deliveries", min(limit, 100), status=status):
        items += page
        if len(items) >= limit:
            break
    items = items[:limit]
    if as_json:
        _json(items)
        return
    for item in items:
        click.echo(_delivery_line(item))


@deliveries.command("get")
@click.argument("monitor")
@click.argument("delivery")
@click.option("--json", "as_json", is_flag=True, help="As the API answers it.")
@click.pass_context
def deliveries_get(ctx: click.Context, monitor: str, delivery: str, as_json: bool) -> None:
    """One delivery: the body sent and its attempts."""
    client = client_of(ctx)
    _, path = monitor_path(client, monitor)
    item = client.get(f"{path}/deliveries/{quoted(delivery)}")
    if as_json:
        _json(item)
        return
    click.echo(_delivery_line(item))
    if item.get("next_attempt_at"):
        click.echo(f"next attempt: {show_time(item['next_attempt_at'])}")
    click.echo("body:")
    try:
        click.echo(json.dumps(json.loads(item["body"]), indent=2, ensure_ascii=False))
    except ValueError:
        click.echo(item["body"])
    click.echo("attempts:")
    for attempt in item.get("attempt_log") or []:
        code = attempt.get("status_code")
        click.echo(
            f"  {show_time(attempt['at'])}  {code if code is not None else '-'}  {attempt['duration_ms']} ms"
            + (f"  {attempt['error']}" if attempt.get("error") else "")
            + (f"  {attempt['response']!r}" if attempt.get("response") else "")
        )


@deliveries.command("tail")
@click.argument("monitor")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--interval", type=click.FloatRange(0.1), default=POLL_SECONDS, show_default=True,
              help="Seconds between polls of the log.")  # fmt: skip
@click.pass_context
def deliveries_tail(ctx: click.Context, monitor: str, as_json: bool, interval: float) -> None:
    """Follow the monitor's new deliveries: each is printed once, when it first appears. Ctrl-C stops."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    seen = {item["id"] for item in client.get(f"{path}/deliveries", limit=100)["items"]}
    click.echo(f"following the deliveries of {found['name']!r} ({found['id']}); Ctrl-C stops", err=True)
    # Python leaves SIGINT ignored when it starts so (a shell's background job, some CI runners): Ctrl-C
    # must stop this loop all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(interval)
            new: list[dict[str, Any]] = []
            for page in client.pages(f"{path}/deliveries", 100):
                fresh = [item for item in page if item["id"] not in seen]
                new += fresh
                if len(fresh) < len(page):  # reached what was seen before: the rest is older
                    break
            for item in reversed(new):  # oldest first
                seen.add(item["id"])
                click.echo(json.dumps(item, ensure_ascii=False) if as_json else _delivery_line(item))
    except KeyboardInterrupt:
        return


# replay


@cli.command()
@click.argument("monitor")
@click.argument("delivery", required=False)
@click.option("--status", type=click.Choice(["failed", "delivered"]), default="failed", show_default=True,
              help="Replay the deliveries in this state.")  # fmt: skip
@click.option("--since", help="From this time: a duration back from now (30m, 2h, 3d) or an ISO time.")
@click.option("--until", help="Up to this time (default now): a duration back from now or an ISO time.")
@click.pass_context
def replay(ctx: click.Context, monitor: str, delivery: str | None, status: str, since: str | None, until: str | None) -> None:
    """Send deliveries again: DELIVERY alone, or all of the monitor's in --status created in
    --since..--until (in calls of up to 500, oldest first)."""
    if delivery is not None:
        if since or until:
            raise click.UsageError("give DELIVERY, or --since (and --until), not both")
    elif not since:
        raise click.UsageError("give DELIVERY, or --since (e.g. --since 2h) for all of a status")
    now = time.time()
    try:
        window = (parse_time(since, now), parse_time(until, now) if until else int(now)) if since else None
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    if window is None:
        client.post(f"{path}/deliveries/{quoted(delivery or '')}/replay")
        click.echo(f"replaying {delivery} of {found['name']!r}")
        return
    if window[0] > window[1]:
        raise click.BadParameter(f"--since ({show_time(window[0])}) is after --until ({show_time(window[1])})")
    total = 0
    while True:
        answer = client.post(f"{path}/deliveries/replay", {"status": status, "since": window[0], "until": window[1]})
        total += answer["replayed"]
        for delivery_id in answer["delivery_ids"]:
            click.echo(delivery_id)
        if not answer.get("more") or not answer["replayed"]:
            break
    click.echo(
        f"replayed {total} {status} deliveries of {found['name']!r} created "
        f"{show_time(window[0])} .. {show_time(window[1])}",
        err=True,
    )


# jobs


def _wait_job(client: Client, path: str, read: Any, job_id: str, label: str) -> dict[str, Any]:
    """Poll the job until it ends, with a progress bar on stderr; the job as it ended."""
    job = read()
    total = job["to_block"] - job["from_block"] + 1
    with click.progressbar(length=total, label=label, file=click.get_text_stream("stderr"), show_pos=True) as bar:
        shown = 0
        while True:
            done = _blocks_done(job)
            bar.update(max(0, done - shown))
            shown = max(shown, done)
            if job["status"] in ("done", "failed"):
                break
            time.sleep(POLL_SECONDS)
            job = read()
            if job is None or job["id"] != job_id:
                raise ApiError(409, "job_replaced", f"another job of this monitor started: {label} {job_id} no longer shows")
    if job["status"] == "failed":
        raise ApiError(200, f"{label}_failed", job.get("error") or f"the {label} failed")
    return job


def _blocks_done(job: dict[str, Any]) -> int:
    through = job.get("checked_through", job["next_block"] - 1)
    return max(0, min(through, job["to_block"]) - job["from_block"] + 1)


@cli.command()
@click.argument("monitor")
@click.option("--from", "from_block", type=click.IntRange(0), required=True, help="First block.")
@click.option("--to", "to_block", type=click.IntRange(0), required=True, help="Last block.")
@click.option("--chain", "chain_id", type=click.IntRange(1), help="The chain, when the monitor watches several.")
@click.option("--no-wait", is_flag=True, help="Start the backfill and return at once.")
@click.pass_context
def backfill(ctx: click.Context, monitor: str, from_block: int, to_block: int, chain_id: int | None, no_wait: bool) -> None:
    """Send the monitor the matches of past blocks, and follow the backfill until it ends."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    job = client.post(f"{path}/backfill", {"from_block": from_block, "to_block": to_block, "chain_id": chain_id})
    click.echo(f"backfill {job['id']} of {found['name']!r}: chain {job['chain_id']} blocks {from_block}..{to_block}")
    if no_wait:
        return
    job = _wait_job(client, path, lambda: client.get(path).get("backfill"), job["id"], "backfill")
    click.echo(f"backfill {job['id']}: {job['status']}")


@cli.command()
@click.argument("monitor")
@click.option("--from", "from_block", type=click.IntRange(0), required=True, help="First block.")
@click.option("--to", "to_block", type=click.IntRange(0), required=True, help="Last block.")
@click.option("--heal", is_flag=True, help="Also send the missing events and take back the extra ones.")
@click.option("--chain", "chain_id", type=click.IntRange(1), help="The chain, when the monitor watches several.")
@click.option("--no-wait", is_flag=True, help="Start the reconcile and return at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished job as the API answers it.")
@click.pass_context
def reconcile(
    ctx: click.Context, monitor: str, from_block: int, to_block: int, heal: bool, chain_id: int | None,
    no_wait: bool, as_json: bool,
) -> None:  # fmt: skip
    """Compare the monitor's deliveries of past blocks with the chain, and print what was never delivered
    (missing) and what was delivered from blocks no longer on the chain (extra)."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    body = {"from_block": from_block, "to_block": to_block, "heal": heal, "chain_id": chain_id}
    job = client.post(f"{path}/reconcile", body)
    click.echo(f"reconcile {job['id']} of {found['name']!r}: chain {job['chain_id']} blocks {from_block}..{to_block}", err=as_json)
    if no_wait:
        return
    job = _wait_job(client, path, lambda: client.get(f"{path}/reconcile"), job["id"], "reconcile")
    if as_json:
        _json(job)
        return
    for kind in ("missing", "extra"):
        count = job[f"{kind}_count"]
        shown = f" (the first {len(job[kind])})" if count > len(job[kind]) else ""
        click.echo(f"{kind}: {count}{shown}")
        for event_id in job[kind]:
            click.echo(f"  {event_id}")
    if heal and (job["missing_count"] or job["extra_count"]):
        click.echo("healed: the missing events are sent, the extra ones taken back with removed: true")


# the rest


@cli.command("test")
@click.argument("monitor")
@click.pass_context
def test_webhook(ctx: click.Context, monitor: str) -> None:
    """Send a signed test delivery now; exit 1 when the endpoint does not answer 2xx."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    answer = client.post(f"{path}/test")
    code = answer.get("status_code")
    click.echo(
        f"{found['webhook_url']} answered {code if code is not None else 'nothing'} in {answer['latency_ms']} ms"
        + (f" ({answer['error']})" if answer.get("error") else "")
        + (f"; delivery {answer['delivery_id']}" if answer.get("delivery_id") else "")
    )
    if not answer["ok"]:
        ctx.exit(EXIT_API_ERROR)


@cli.command("rotate-secret")
@click.argument("monitor")
@click.pass_context
def rotate_secret(ctx: click.Context, monitor: str) -> None:
    """A new webhook secret; the old one keeps signing until the time printed."""
    client = client_of(ctx)
    found, path = monitor_path(client, monitor)
    answer = client.post(f"{path}/rotate-secret")
    click.echo(f"secret: {answer['secret']}")
    click.echo(
        f"(shown only now) the previous secret of {found['name']!r} also signs until "
        f"{show_time(answer['previous_secret_expires_at'])}",
        err=True,
    )


@cli.command()
@click.argument("monitor")
@click.option("--hours", type=click.IntRange(1, 168), default=24, show_default=True, help="The window, in hours.")
@click.option("--json", "as_json", is_flag=True, help="As the API answers it.")
@click.pass_context
def stats(ctx: click.Context, monitor: str, hours: int, as_json: bool) -> None:
    """Deliveries, attempts and latency per hour."""
    client = client_of(ctx)
    _, path = monitor_path(client, monitor)
    answer = client.get(f"{path}/stats", hours=hours)
    if as_json:
        _json(answer)
        return

    def latency(value: dict[str, Any] | None) -> list[Any]:
        return [value[p] for p in ("p50", "p90", "p99")] if value else ["-", "-", "-"]

    rows = [
        [show_time(hour["hour"]), hour["delivered"], hour["failed"], hour["attempts"], hour["failed_attempts"],
         *latency(hour.get("latency_ms"))]
        for hour in answer["hours"]
    ]  # fmt: skip
    _table(["HOUR", "DELIVERED", "FAILED", "ATTEMPTS", "FAILED ATTEMPTS", "P50 MS", "P90 MS", "P99 MS"], rows)
    overall = answer.get("latency_ms")
    if overall:
        click.echo(f"latency over {hours} h: p50 {overall['p50']} ms, p90 {overall['p90']} ms, "
                   f"p99 {overall['p99']} ms ({overall['count']} deliveries)")  # fmt: skip


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="As the API answers it.")
@click.pass_context
def chains(ctx: click.Context, as_json: bool) -> None:
    """Each chain: its head, the last block processed, lag, traces, status."""
    items = client_of(ctx).get("/chains")["items"]
    if as_json:
        _json(items)
        return

    def shown(value: Any) -> Any:
        return "-" if value is None else ("yes" if value is True else "no" if value is False else value)

    _table(
        ["CHAIN", "HEAD", "PROCESSED", "LAG", "SAFE", "FINALIZED", "TRACES", "STATUS"],
        [[item["chain_id"], *(shown(item.get(key)) for key in
          ("head", "last_processed", "lag_blocks", "safe", "finalized", "traces", "status"))] for item in items],
    )  # fmt: skip


@cli.command()
@click.option("--webhook-url", required=True, help="Where the test delivery goes: an HTTPS endpoint you watch "
              "that answers 2xx (a deployed API refuses private addresses).")
@click.option("--chain", "chain_id", type=int, help="The chain of the throwaway monitor (default: the first served).")
@click.pass_context
def smoke(ctx: click.Context, webhook_url: str, chain_id: int | None) -> None:
    """Check a deployment end to end: a throwaway monitor is created, its signed test delivery sent and
    read back from the delivery log, and the monitor deleted (also when a step fails). Exit 1 when a step
    fails, with what it found."""
    client = client_of(ctx)
    health = client.get("/health")
    _step("health", health == {"status": "ok"}, json.dumps(health))
    served = [chain["chain_id"] for chain in client.get("/chains")["items"]]
    chain = chain_id if chain_id is not None else (served[0] if served else None)
    _step("chains", chain in served, f"served: {served}; monitor on chain {chain}")
    monitor = client.post("/monitors", {
        "name": f"blockhook-smoke-{int(time.time())}", "chain_ids": [chain], "webhook_url": webhook_url,
        "filters": {"addresses": []},  # watches nothing: only the test delivery reaches the endpoint
    })  # fmt: skip
    path = f"/monitors/{quoted(monitor['id'])}"
    try:
        _step("create", monitor["secret"].startswith("whsec_"), f"monitor {monitor['id']}")
        sent = client.post(f"{path}/test")
        _step("test delivery", sent["ok"], f"{webhook_url} answered {sent.get('status_code')} in "
              f"{sent['latency_ms']} ms" + (f" ({sent['error']})" if sent.get("error") else ""))  # fmt: skip
        shown = client.get(f"{path}/deliveries/{quoted(sent['delivery_id'])}")
        signed = any(name.lower() == "webhook-signature" for name in (shown.get("headers") or {}))
        _step("read back", shown["origin"] == "test" and bool(shown["attempt_log"]) and signed,
              f"delivery {shown['id']}: origin {shown['origin']}, {len(shown['attempt_log'])} attempt(s), "
              f"{'signed' if signed else 'no signature header'}")  # fmt: skip
    finally:
        client.delete(path)
        click.echo(f"ok    delete: monitor {monitor['id']}")


def _step(name: str, ok: bool, detail: str) -> None:
    if not ok:
        raise SmokeFailed(f"smoke step {name!r} failed: {detail}")
    click.echo(f"ok    {name}: {detail}")


def main() -> NoReturn:
    cli(prog_name="blockhook")
    raise SystemExit(0)
