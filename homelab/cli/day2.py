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
from homelab.push.errors import PRE_HOMELAB


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
    r.set_defaults(func=main_rollback)


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
        rows = [("UNIT", "STATE", "RESTARTS", "IMAGE")]
        rows += [(u.unit, f"{u.active}/{u.sub}", u.restarts, u.image or "-") for u in st.units]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}".rstrip())
        return 0

    return _run(args, go)


def main_generations(args: argparse.Namespace) -> int:
    def go(conn: Connection) -> int:
        for g in day2.generations(conn):
            when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(g.mtime))
            notes = []
            if g.current:
                notes.append("current")
            if g.name == PRE_HOMELAB:
                notes.append("the host before homelab: its files as the first push found them")
            if g.name.endswith(".failed"):
                notes.append("failed its health gate, rolled back")
            if g.rollback_of:
                notes.append(f"rollback to {g.rollback_of}")
            note = f"  ({'; '.join(notes)})" if notes else ""
            print(f"{'*' if g.current else ' '} {g.name}  {when}{note}")
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


def main_rollback(args: argparse.Namespace) -> int:
    def go(conn: Connection) -> int:
        res = day2.rollback(conn, args.generation)
        print(f"{args.stack}: generation {res.generation} is live (a copy of an earlier one)")
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
