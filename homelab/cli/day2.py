"""`homelab status|logs|generations|rollback STACK`: day-2 commands on a pushed host, over
the same pinned SSH connection as `pulumi up` (the stack file's `homelab:ssh`, read as
`build` reads it: no Pulumi engine, no secrets). Failures are one line: host, port and what
to check."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from homelab.cli.build import BuildError, load_for_build
from homelab.cli.project import add_project_arg, project_of
from homelab.host.stack import ConfigError
from homelab.push import Connection, PushError, day2
from homelab.push.places import PRE_HOMELAB


def connection(stack: str, args: argparse.Namespace) -> Connection:
    cfg = load_for_build(stack, project_of(args))
    if cfg.ssh is None:
        raise BuildError(f"stack {stack!r} has no homelab:ssh: it is not pushed over SSH")
    return Connection.from_props(cfg.ssh.model_dump())


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    def parser(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help)
        p.add_argument("stack")
        add_project_arg(p)
        return p

    s = parser(
        "status",
        "each managed unit's state and image, and the host's current generation",
    )
    s.set_defaults(func=main_status)
    g = parser("generations", "the generations kept on the host (* = current)")
    g.set_defaults(func=main_generations)
    lg = parser("logs", "a managed unit's journal")
    lg.add_argument("name", help="container or unit name (rustfs, rustfs.service)")
    lg.add_argument("-n", "--lines", type=int, default=50, help="last N lines (default 50)")
    lg.set_defaults(func=main_logs)
    r = parser(
        "rollback",
        "make an earlier generation live again (switch, restart what differs, health gate); "
        "`pulumi preview` then shows the host as drifted until `pulumi up`",
    )
    r.add_argument("generation", nargs="?", default="", help="default: the one before current")
    r.add_argument(
        "--with-data",
        action="store_true",
        help="also roll the datasets of its containers back to the snapshots taken when that "
        "generation was replaced (their units are stopped first); refuses over snapshots "
        "homelab did not make",
    )
    r.add_argument(
        "--force-data",
        action="store_true",
        help="with --with-data: roll back even over snapshots homelab did not make (they are "
        "destroyed, as `zfs rollback -r` does)",
    )
    r.set_defaults(func=main_rollback)
    sn = parser("snapshots", "homelab's snapshots on the host, per container and generation")
    sn.set_defaults(func=main_snapshots)


def _run(args: argparse.Namespace, fn: Callable[[Connection], int]) -> int:
    try:
        return int(fn(connection(args.stack, args)))
    except (ConfigError, BuildError, PushError) as exc:
        print(f"homelab {args.command} {args.stack}: {exc}", file=sys.stderr)
        return 1


def main_status(args: argparse.Namespace) -> int:
    def go(conn: Connection) -> int:
        st = day2.status(conn)
        print(f"{args.stack}: {conn.host} port {conn.port}, generation {st.generation or '-'}")
        if st.rolled_back:
            gen, replaced, when = [*st.rolled_back.split("\t"), "?", "?"][:3]
            print(
                f"rolled back at {when} to {gen} (in place of {replaced}); "
                f"`pulumi up -s {args.stack}` brings it back to the stack"
            )
        if st.pending:
            print(f"restart pending (an interrupted push): {', '.join(st.pending)}")
        rows = [("UNIT", "STATE", "RESTARTS", "IMAGE (locked)", "RUNNING")]
        rows += [
            (u.unit, f"{u.active}/{u.sub}", u.restarts, u.image or "-", _running(u))
            for u in st.units
        ]
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print(
                f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}".rstrip()
            )
        return 0

    return _run(args, go)


def _running(u: day2.UnitStatus) -> str:
    """The digest the unit's container runs, next to the locked one."""
    if not u.running:
        return "-"
    if u.runs_locked:
        return "the locked digest"
    digest = u.running[0].rpartition("@")[2]
    return digest + (" (NOT the locked digest)" if u.runs_locked is False else "")


def main_generations(args: argparse.Namespace) -> int:
    def go(conn: Connection) -> int:
        for g in day2.generations(conn):
            when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(g.mtime))
            notes = []
            if g.current:
                notes.append("current")
            if g.name == PRE_HOMELAB:
                notes.append(
                    "the host before homelab: its files as the first push found them; "
                    "not a rollback target"
                )
            if g.name.endswith(".failed"):
                notes.append("failed its health gate, rolled back")
            if g.rollback_of:
                notes.append(f"rollback to {g.rollback_of}")
            note = f"  ({'; '.join(notes)})" if notes else ""
            print(f"{'*' if g.current else ' '} {g.name}  {when}{note}")
        return 0

    return _run(args, go)


def main_snapshots(args: argparse.Namespace) -> int:
    def go(conn: Connection) -> int:
        snaps, why = day2.snapshots(conn)
        if not snaps:
            print(f"{args.stack}: no homelab snapshots{': ' + why if why else ''}")
            return 0
        rows = [("DATASET", "GENERATION", "UNITS", "USED", "CREATED")]
        rows += [(s.dataset, s.generation, s.units, s.used, s.created) for s in snaps]
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join(f"{r[i]:<{w[i]}}" for i in range(4)) + f"  {r[4]}")
        return 0

    return _run(args, go)


def main_logs(args: argparse.Namespace) -> int:
    unit = args.name if "." in args.name else f"{args.name}.service"
    if args.lines < 1:
        print(f"homelab logs: -n must be at least 1, not {args.lines}", file=sys.stderr)
        return 2

    def go(conn: Connection) -> int:
        sys.stdout.write(day2.logs(conn, unit, args.lines))
        return 0

    return _run(args, go)


NO_POOL = "snapshots are off: stack {stack!r} has no host.zfs_pool (or no container `dataset`)"


def main_rollback(args: argparse.Namespace) -> int:
    if args.force_data and not args.with_data:
        print("homelab rollback: --force-data goes with --with-data", file=sys.stderr)
        return 2
    if args.with_data:
        try:
            cfg = load_for_build(args.stack, project_of(args))
        except (ConfigError, BuildError) as exc:
            print(f"homelab rollback {args.stack}: {exc}", file=sys.stderr)
            return 1
        if not cfg.host.zfs_pool or not any(
            cfg.containers[n].dataset is not None for n in cfg.enabled
        ):
            print(
                f"homelab rollback {args.stack}: --with-data: " + NO_POOL.format(stack=args.stack),
                file=sys.stderr,
            )
            return 1
    data = ("data-force" if args.force_data else "data") if args.with_data else ""

    def go(conn: Connection) -> int:
        res = day2.rollback(conn, args.generation, data=data)
        print(f"{args.stack}: generation {res.generation} is live (a copy of an earlier one)")
        for line in day2.data_lines(res.log, "ROLLBACK"):
            print(f"data: rolled back {line}")
        for line in day2.data_lines(res.log, "OFF"):
            print(f"data: {line}")
        changed = day2.data_lines(res.log, "CHANGED")
        if changed:
            gen = args.generation or "<the generation rolled back to>"
            print("data: not rolled back; datasets changed since that generation:")
            for line in changed:
                print(f"  {line}")
            print(
                f"  to restore them: homelab rollback {args.stack} {gen} --with-data "
                "(roll back to that generation again, with its data)"
            )
        for what, units in (
            ("restarted", res.restarted),
            ("started", res.started),
            ("stopped", res.stopped),
        ):
            print(f"{what}: {', '.join(units) or '-'}")
        print(
            f"`pulumi preview -s {args.stack}` shows the host as drifted from the stack until "
            f"`pulumi up -s {args.stack}`"
        )
        return 0

    return _run(args, go)
