"""`homelab:push:HostPush`: bring a running host to a FileSet over SSH, with drift in preview.

A Pulumi dynamic provider (the engine pickles `HostPushProvider` into the state by reference,
so the provider process imports this module: the project directory must be on sys.path,
which it is because the engine starts providers in the project directory). All the work is
in `homelab.push`; this file maps it onto check/diff/create/update/read.

What the engine shows (`pulumi preview --diff`) is every input of a changed resource, so the
bulky ones stay out of sight: the connection, manifest, file contents, units and Quadlet
extensions travel in ONE secret input, `desired` (one `[secret]` line; the detail is in
`homelab build`); `ssh` shows every connection setting on one line and `files_sha256`, one
hash over the manifest and every non-secret file's content, shows that they changed. The
readable part is `plan`.

- check: ONE SSH connection reads the live state. Into the checked inputs go `drift` (the
  host against what homelab last pushed), `in_sync` (the host already is the stack) and, in
  a preview, `plan` (what `up` would change, as text).
- diff: changes iff the host is not in sync, has drifted, or push settings changed; no
  connection.
- create/update: ONE SSH connection pushes the new generation (homelab/push/remote/apply.sh).
- read (`pulumi refresh`): the live hashes and drift into the outputs.
- delete: leaves the host as it is (data and running services are never removed by a delete)
  and says so in one line (`_tell_engine`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from homelab import push
from homelab.manifest import sha256
from homelab.push.plan import PLAN_HEAD, render_plan, secret_strings

if TYPE_CHECKING:
    # Not at run time: the provider's process imports this module on every preview, and
    # homelab.fileset brings pydantic (~0.3 s) that the provider never needs.
    from homelab.fileset import FileSet
    from homelab.host.config import PushConfig, SshConfig

_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
_SETTINGS = ("ssh", "health_timeout", "settle", "confirm", "pull_timeout", "snapshots_keep")


def _known(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_known(x) for x in v.values())
    if isinstance(v, list):
        return all(_known(x) for x in v)
    return v != _UNKNOWN


def _view(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs with `desired` unpacked (the provider reads them flat)."""
    return {**props, **(props.get("desired") or {})}


def _desired(props: Mapping[str, Any]) -> push.Desired:
    if _old_state(props):
        raise push.PushError(
            "this stack's state was written by an older homelab: run `pulumi up` once (it "
            "changes nothing on a host without drift), then refresh"
        )
    return push.Desired(
        props["manifest"],
        tuple(props["units"]),
        props["quadlet_dir"],
        tuple(props["quadlet_exts"]),
        tuple((ref, tuple(units)) for ref, units in props.get("images") or []),
    )


def _old_state(props: Mapping[str, Any]) -> bool:
    """Pushed by an older homelab (before `files_sha256`; before that, the manifest form
    {files, dirs, links, units, quadlet_dir}). Such state needs one update to carry on (it
    applies nothing when the host already is the stack)."""
    return "desired" not in props


def ssh_line(ssh: Mapping[str, Any]) -> str:
    """homelab:ssh as one line: user@host:port, the pinned key, the private key, sudo."""
    key = ssh.get("private_key_path") or "ssh-agent"
    sudo = {None: "sudo unless root", True: "sudo", False: "no sudo"}[ssh.get("sudo")]
    return (
        f"{ssh['user']}@{ssh['host']}:{ssh['port']} host_key {ssh['host_key']}, key {key}, {sudo}"
    )


def files_sha256(manifest: Mapping[str, Any], contents: Mapping[str, str]) -> str:
    """One hash over the manifest and every non-secret file's content: the visible sign of a
    change to either (secret files are left out: a digest of a secret is not shown)."""
    plain = {p: sha256(c) for p, c in sorted(contents.items())}
    return sha256(json.dumps([manifest, plain], sort_keys=True))


class PushFailed(Exception):
    """What create/update raise for a failed push. The dynamic provider's host prints
    `traceback.format_exc()`; with no frames (tracebacklimit 0) and this name, that is
    `homelab: <the message>`, one homelab message and no Python traceback."""


PushFailed.__module__ = "builtins"
PushFailed.__qualname__ = "homelab"


def _fail(exc: push.PushError) -> PushFailed:
    sys.tracebacklimit = 0  # the provider process only: it serves this one engine run
    return PushFailed(str(exc))


class HostPushProvider(ResourceProvider):
    def _parts(self, props: Mapping[str, Any]) -> tuple[push.Connection, push.Desired]:
        return push.Connection.from_props(_view(props)["connection"]), _desired(_view(props))

    def _hashes(self, props: Mapping[str, Any]) -> dict[str, str]:
        flat = _view(props)
        return push.desired_hashes(
            _desired(flat).manifest, flat["contents"], flat.get("secret_contents") or {}
        )

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = dict(news)
        # Not kept: only says whether this run is a preview (see `plan` below).
        preview = bool(news.pop("preview", True))
        news.pop("live_generation", None)  # kept by older homelab versions
        if not _known(news):
            return CheckResult(news, [])  # preview with unknown inputs: nothing to compare yet
        conn, desired = self._parts(news)
        hashes = self._hashes(news)
        # The host also sends the content of changed non-secret files (only those), for the
        # plan's text diff.
        plain = {p: h for p, h in hashes.items() if not desired.manifest[p]["secret"]}
        try:
            live = push.read_live(conn, desired, texts_unless=plain)
        except push.PushError as exc:
            # A check failure is shown by the engine as one line; an exception would add
            # the provider's traceback to it.
            return CheckResult(news, [CheckFailure("", str(exc))])
        drift = push.compute_drift(live)
        news["in_sync"] = not push.differences(desired, hashes, live) and not drift
        secret_files = news.get("secret_contents") or {}
        # `drift` and `plan` are shown by `pulumi preview --diff` (checked inputs): the engine
        # shows a changed input against the state's copy, so a real `up` stores an empty drift
        # and only the plan's head there: the next preview shows its own drift and plan alone.
        if preview:
            news["drift"] = drift
            news["plan"] = render_plan(
                desired, _view(news)["contents"], hashes, live, secret_strings(secret_files)
            )
        else:
            news["drift"] = {}
            news["plan"] = PLAN_HEAD
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if not _known(news.get("in_sync", _UNKNOWN)):
            return DiffResult(changes=True)
        changed = [k for k in _SETTINGS if olds.get(k) != news.get(k)]
        todo = not news["in_sync"] or bool(news.get("drift"))
        return DiffResult(changes=todo or bool(changed) or _old_state(olds), replaces=[])

    def _push(self, props: dict[str, Any], in_sync: bool = False) -> dict[str, Any]:
        conn, desired = self._parts(props)
        secrets = props.get("secret_contents") or {}
        hashes = self._hashes(props)
        outs = dict(props)
        if not in_sync or not props.get("generation"):
            started_at = time.monotonic()
            try:
                res = push.apply(
                    conn,
                    desired,
                    _view(props)["contents"],
                    secrets,
                    int(props["health_timeout"]),
                    int(props["settle"]),
                    confirm=int(props.get("confirm") or 0),
                    pull_timeout=int(props.get("pull_timeout") or push.PULL_TIMEOUT),
                    snapshots_keep=int(props.get("snapshots_keep") or 5),
                )
                if res.armed is not None:
                    # A NEW connection proves a fresh login still works after the switch.
                    push.confirm_generation(conn, res.armed, res.armed.seconds)
                    res.generation = res.generation or res.armed.generation
            except push.PushError as exc:
                raise _fail(exc) from None
            outs.update(
                generation=res.generation,
                applied_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                restarted=res.restarted,
                started=res.started,
                stopped=res.stopped,
                seconds=round(time.monotonic() - started_at, 1),
            )
        outs["drift"] = {}
        outs["plan"] = PLAN_HEAD
        outs.update(_split_hashes(desired, hashes))
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = dict(props, generation="")
        conn = push.Connection.from_props(_view(props)["connection"])
        return CreateResult(f"{conn.host}:{conn.port}", self._push(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        kept = ("generation", "applied_at", "restarted", "started", "stopped", "seconds")
        news = {**news, **{k: olds.get(k) for k in kept}}
        # In sync and not drifted: only settings (or an older state's form) changed.
        quiet = bool(news.get("in_sync")) and not news.get("drift")
        return UpdateResult(self._push(news, in_sync=quiet))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        conn, desired = self._parts(props)
        live = push.read_live(conn, desired)
        outs = dict(props)
        outs["drift"] = push.compute_drift(live)
        outs["plan"] = PLAN_HEAD
        outs.pop("live_generation", None)
        outs.update(
            _split_hashes(
                desired,
                {
                    p: f.sha256
                    for p, f in live.files.items()
                    if f is not None and p in desired.manifest
                },
            )
        )
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # Deliberately nothing on the host: removing the stack must not take a production
        # host down. It says so, since the engine's summary only says "deleted".
        _tell_engine(delete_notice(id_, _view(props).get("manifest") or {}))


def delete_notice(id_: str, manifest: Mapping[str, Any]) -> str:
    """The one line `pulumi destroy` (or a replace) prints for a pushed host."""
    from homelab.manifest import dirs

    data = [p for p, _ in dirs(manifest)]
    where = f", its data stays in {os.path.commonpath(data)}" if data else ""
    return (
        f"homelab: host {id_} left as it is, a delete never touches it: its units keep running, "
        f"its files stay (linked from {push.CURRENT}){where}"
    )


def _tell_engine(message: str) -> None:
    """One info line in pulumi's output from the provider's process, through the engine's
    Log call (the engine's address is a provider's first argument). A dynamic provider has no
    other way: what it prints goes to the engine's debug log."""
    addr = sys.argv[1] if len(sys.argv) > 1 else ""
    if not re.fullmatch(r"(127\.0\.0\.1|localhost|\[::1\]):\d+", addr):
        return  # not under the engine (a unit test)
    import grpc
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

    with grpc.insecure_channel(addr) as channel, contextlib.suppress(grpc.RpcError):
        # A lost message must never fail the delete itself.
        engine_pb2_grpc.EngineStub(channel).Log(
            engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message), timeout=10
        )


def _split_hashes(desired: push.Desired, hashes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`hashes` (plain files) and `secret_hashes` (a secret output)."""
    secret = {p for p in hashes if desired.manifest[p]["secret"]}
    return {
        "hashes": {p: h for p, h in hashes.items() if p not in secret},
        "secret_hashes": {p: h for p, h in hashes.items() if p in secret},
    }


class _HostPushResource(Resource):
    generation: pulumi.Output[str]
    applied_at: pulumi.Output[str]
    hashes: pulumi.Output[dict[str, str]]
    secret_hashes: pulumi.Output[dict[str, str]]
    drift: pulumi.Output[dict[str, str]]
    restarted: pulumi.Output[list[str]]
    started: pulumi.Output[list[str]]
    stopped: pulumi.Output[list[str]]
    seconds: pulumi.Output[float]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None
    ) -> None:
        outs = dict.fromkeys(
            (
                "generation",
                "applied_at",
                "hashes",
                "secret_hashes",
                "drift",
                "restarted",
                "started",
                "stopped",
                "seconds",
                "in_sync",
                "plan",
            )
        )
        super().__init__(HostPushProvider(), name, {**outs, **props}, opts)


@dataclass(frozen=True)
class HostPushArgs:
    """What a push is made of: the file set, the host's SSH settings (checked when the stack
    was read: kept as is), how health is judged, and the secret values its files need."""

    fileset: FileSet
    ssh: SshConfig
    push: PushConfig
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class HostPush(pulumi.ComponentResource):
    """Bring the host `args.ssh` names to `args.fileset`, with drift in preview."""

    generation: pulumi.Output[str]
    applied_at: pulumi.Output[str]
    hashes: pulumi.Output[dict[str, str]]
    secret_hashes: pulumi.Output[dict[str, str]]
    drift: pulumi.Output[dict[str, str]]
    last_push: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, args: HostPushArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("homelab:push:HostPush", name, None, opts)
        fs = args.fileset
        secret_files: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.all(**args.secrets).apply(lambda vals: push.secret_contents(fs, vals))
        )
        desired = push.Desired.of(fs)
        contents = push.plain_contents(fs)
        ssh = args.ssh.model_dump()
        props: dict[str, Any] = {
            # Every connection setting, on one line, so a change shows as one.
            "ssh": ssh_line(ssh),
            "files_sha256": files_sha256(desired.manifest, contents),
            # Secret so that the engine shows one `[secret]` line, not every path, file and
            # Quadlet extension (not because they hold secrets: `homelab build` shows them).
            "desired": pulumi.Output.secret(
                {
                    "connection": ssh,
                    "manifest": desired.manifest,
                    "contents": contents,
                    "units": list(desired.units),
                    "quadlet_dir": desired.quadlet_dir,
                    "quadlet_exts": list(desired.quadlet_exts),
                    "images": [[ref, list(units)] for ref, units in desired.images],
                }
            ),
            "secret_contents": secret_files,
            "health_timeout": args.push.health_timeout,
            "settle": args.push.settle,
            "confirm": args.push.confirm_seconds,
            "pull_timeout": args.push.pull_timeout,
            "snapshots_keep": args.push.snapshots_keep,
            "preview": pulumi.runtime.is_dry_run(),
        }
        res = _HostPushResource(
            f"{name}-host",
            props,
            pulumi.ResourceOptions(
                parent=self,
                additional_secret_outputs=["desired", "secret_contents", "secret_hashes"],
                # No retain_on_delete: the engine would then skip the provider's delete, which
                # touches nothing on the host and says so (`pulumi destroy` prints it).
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            ),
        )
        self.generation = res.generation
        self.applied_at = res.applied_at
        self.hashes = res.hashes
        self.secret_hashes = res.secret_hashes
        self.drift = res.drift
        # What the last push did on the host, for `pulumi up`'s closing outputs.
        self.last_push = pulumi.Output.all(
            res.generation, res.applied_at, res.seconds, res.restarted, res.started, res.stopped
        ).apply(lambda v: last_push(*v))
        # Drift is known during preview (the checked inputs): say it loudly.
        self.drift.apply(_warn_drift)
        self.register_outputs(
            {
                "generation": self.generation,
                "applied_at": self.applied_at,
                "hashes": self.hashes,
                "secret_hashes": self.secret_hashes,
                "drift": self.drift,
                "last_push": self.last_push,
            }
        )


def last_push(
    generation: str | None,
    at: str | None,
    seconds: float | None,
    restarted: list[str] | None,
    started: list[str] | None,
    stopped: list[str] | None,
) -> dict[str, Any]:
    """generation, when, how long, and the units restarted/started/stopped (those present)."""
    out: dict[str, Any] = {"generation": generation or "", "at": at or ""}
    if seconds is not None:
        out["seconds"] = seconds
    for k, v in (("restarted", restarted), ("started", started), ("stopped", stopped)):
        if v:
            out[k] = " ".join(v)
    return out


def _warn_drift(drift: Mapping[str, str] | None) -> None:
    if drift:
        pulumi.log.warn(push.drift_summary(drift))
