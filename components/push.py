"""`homelab:push:HostPush`: bring a running host to a FileSet over SSH, with drift in preview.

A Pulumi dynamic provider (the engine pickles `HostPushProvider` into the state by reference,
so the provider process imports this module: the project directory must be on sys.path,
which it is because the engine starts providers in the project directory). All the work is
in `homelab.push`; this file maps it onto check/diff/create/update/read.

- check: ONE SSH connection reads the live state; the drift (path -> what differs) is put
  into the checked inputs as `drift`, so `pulumi preview --diff` shows every drifted path.
- diff: changes iff there is drift (or push settings changed); no connection.
- create/update: ONE SSH connection pushes the new generation (homelab/push/remote/apply.sh).
- read (`pulumi refresh`): the live hashes and drift.
- delete: leaves the host as it is (data and running services are never removed by a delete).
"""

from __future__ import annotations

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
from homelab.push.plan import PLAN_HEAD, render_plan, secret_strings

if TYPE_CHECKING:
    # Not at run time: the provider's process imports this module on every preview, and
    # homelab.fileset brings pydantic (~0.3 s) that the provider never needs.
    from homelab.fileset import FileSet
    from homelab.host.config import PushConfig, SshConfig

_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
_SETTINGS = ("connection", "health_timeout", "settle", "snapshots_keep")


def _known(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_known(x) for x in v.values())
    if isinstance(v, list):
        return all(_known(x) for x in v)
    return v != _UNKNOWN


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
    )


def _old_state(props: Mapping[str, Any]) -> bool:
    """Pushed before the one manifest form: {files, dirs, links, units, quadlet_dir}, modes
    as numbers, no Quadlet extensions. Such state needs one update to carry on (it applies
    nothing: there is a generation, and without drift nothing is pushed)."""
    return "quadlet_exts" not in props


class HostPushProvider(ResourceProvider):
    def _parts(self, props: Mapping[str, Any]) -> tuple[push.Connection, push.Desired]:
        return push.Connection.from_props(props["connection"]), _desired(props)

    def _hashes(self, props: Mapping[str, Any]) -> dict[str, str]:
        return push.desired_hashes(
            _desired(props).manifest, props["contents"], props.get("secret_contents") or {}
        )

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = dict(news)
        # Not kept: only says whether this run is a preview (see `plan` below).
        preview = bool(news.pop("preview", True))
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
        news["drift"] = push.compute_drift(desired, hashes, live)
        news["live_generation"] = live.generation
        secret_files = news.get("secret_contents") or {}
        # Shown by `pulumi preview --diff` (a checked input, like drift). The engine shows a
        # changed input as a line diff against the state's copy, so a real `up` stores only
        # the plan's head there: the next preview shows the new plan alone, every line added.
        news["plan"] = (
            render_plan(desired, news["contents"], hashes, live, secret_strings(secret_files))
            if preview
            else PLAN_HEAD
        )
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if not _known(news.get("drift", _UNKNOWN)):
            return DiffResult(changes=True)
        changed = [k for k in _SETTINGS if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(news["drift"]) or bool(changed) or _old_state(olds), replaces=[]
        )

    def _push(self, props: dict[str, Any]) -> dict[str, Any]:
        conn, desired = self._parts(props)
        secrets = props.get("secret_contents") or {}
        hashes = self._hashes(props)
        drift = props.get("drift") or {}
        outs = dict(props)
        if drift or not props.get("generation"):
            res = push.apply(
                conn,
                desired,
                props["contents"],
                secrets,
                int(props["health_timeout"]),
                int(props["settle"]),
                snapshots_keep=int(props.get("snapshots_keep") or 5),
            )
            outs.update(
                generation=res.generation,
                applied_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                restarted=res.restarted,
                started=res.started,
                stopped=res.stopped,
            )
        outs["healed"] = drift
        outs["drift"] = {}
        outs["plan"] = PLAN_HEAD
        outs.update(_split_hashes(desired, hashes))
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = dict(props, generation="")
        conn = push.Connection.from_props(props["connection"])
        return CreateResult(f"{conn.host}:{conn.port}", self._push(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        kept = ("generation", "applied_at", "restarted", "started", "stopped")
        news = {**news, **{k: olds.get(k) for k in kept}}
        return UpdateResult(self._push(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        conn, desired = self._parts(props)
        live = push.read_live(conn, desired)
        outs = dict(props)
        outs["drift"] = push.compute_drift(desired, self._hashes(props), live)
        outs["live_generation"] = live.generation
        outs["plan"] = PLAN_HEAD
        outs.update(
            _split_hashes(desired, {p: f.sha256 for p, f in live.files.items() if f is not None})
        )
        return ReadResult(id_, outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Deliberately nothing: removing the stack must not take a production host down.
        return None


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
    healed: pulumi.Output[dict[str, str]]
    restarted: pulumi.Output[list[str]]

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
                "healed",
                "restarted",
                "started",
                "stopped",
                "live_generation",
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

    def __init__(
        self, name: str, args: HostPushArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("homelab:push:HostPush", name, None, opts)
        fs = args.fileset
        secret_files: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.all(**args.secrets).apply(lambda vals: push.secret_contents(fs, vals))
        )
        desired = push.Desired.of(fs)
        props: dict[str, Any] = {
            "connection": args.ssh.model_dump(),
            "manifest": desired.manifest,
            "units": list(desired.units),
            "quadlet_dir": desired.quadlet_dir,
            "quadlet_exts": list(desired.quadlet_exts),
            "contents": push.plain_contents(fs),
            "secret_contents": secret_files,
            "health_timeout": args.push.health_timeout,
            "settle": args.push.settle,
            "snapshots_keep": args.push.snapshots_keep,
            "preview": pulumi.runtime.is_dry_run(),
        }
        res = _HostPushResource(
            f"{name}-host",
            props,
            pulumi.ResourceOptions(
                parent=self,
                additional_secret_outputs=["secret_contents", "secret_hashes"],
                # Deleting the resource never touches the host (see HostPushProvider.delete).
                retain_on_delete=True,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            ),
        )
        self.generation = res.generation
        self.applied_at = res.applied_at
        self.hashes = res.hashes
        self.secret_hashes = res.secret_hashes
        self.drift = res.drift
        # Drift is known during preview (the checked inputs): say it loudly.
        self.drift.apply(_warn_drift)
        self.register_outputs(
            {
                "generation": self.generation,
                "applied_at": self.applied_at,
                "hashes": self.hashes,
                "secret_hashes": self.secret_hashes,
                "drift": self.drift,
            }
        )


def _warn_drift(drift: Mapping[str, str] | None) -> None:
    if drift:
        pulumi.log.warn(push.drift_summary(drift))
