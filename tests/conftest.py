"""Shared fixtures: the Pulumi mocks every component and program test uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

# What the command provider's `stdout` is under mocks (butane never runs there).
MOCK_IGNITION = '{"ignition":{"version":"3.4.0"}}'


@dataclass
class Registered:
    """One resource as the engine would have been asked to register it."""

    typ: str
    name: str
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)


class Recorder(pulumi.runtime.Mocks):
    """Mocks that record every registration: type, name, inputs, and the resource options
    that reach the engine (replace_on_changes, delete_before_replace, ...)."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self._options: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        opts = self._options.get((args.typ, args.name), {})
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), opts))
        outputs = dict(args.inputs)
        if args.typ == "command:local:Command":
            outputs["stdout"] = MOCK_IGNITION
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def types(self) -> list[str]:
        return [r.typ for r in self.resources]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [r for r in self.resources if r.typ == typ and (name is None or r.name == name)]
        assert len(found) == 1, f"{len(found)} registrations of {typ} {name or ''}: {found}"
        return found[0]

    def run(self, program: Callable[[], Any]) -> Any:
        """Run `program` under these mocks and return the resolved value of what it returns
        (an Output, or anything holding Outputs), once every registration is done. Fails if
        that value never resolves (an unknown in a preview): no check is silently skipped."""
        box: dict[str, Any] = {}

        @pulumi.runtime.test
        def go():
            out = program()
            if out is None:
                box["value"] = None
                return None
            return pulumi.Output.from_input(out).apply(lambda v: box.setdefault("value", v))

        go()
        assert "value" in box, "the program's outputs never resolved (unknown in a preview?)"
        return box["value"]


class _RecordingMonitor(MockMonitor):
    def __init__(self, rec: Recorder) -> None:
        super().__init__(rec)
        self._rec = rec

    def RegisterResource(self, request):
        self._rec._options[(request.type, request.name)] = {
            "replace_on_changes": list(request.replaceOnChanges),
            "delete_before_replace": request.deleteBeforeReplace,
            "retain_on_delete": request.retainOnDelete,
            "additional_secret_outputs": list(request.additionalSecretOutputs),
            "replace_with": list(request.replace_with),
        }
        return super().RegisterResource(request)


@pytest.fixture
def mocks() -> Iterator[Callable[..., Recorder]]:
    """`mocks(stack=..., preview=...)` installs a fresh Recorder and returns it."""

    def install(stack: str = "stack", preview: bool = False) -> Recorder:
        rec = Recorder()
        pulumi.runtime.set_mocks(
            rec, project="homelab", stack=stack, preview=preview, monitor=_RecordingMonitor(rec)
        )
        return rec

    yield install


# How a secret input looks to mocks: pulumi's wire form {sig key: secret sig, "value": v}.
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def unsecret(value: Any) -> Any:
    """The value inside a secret input (a plain input as is)."""
    return value["value"] if is_secret(value) else value
