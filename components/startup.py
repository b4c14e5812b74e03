"""Program start-up: let the engine start the push's provider while the program imports.

The engine starts a provider's process when the program registers a resource that needs it,
and the Python SDK sends registrations only when the program yields to its event loop, which
a program's body does once, at its end. A push stack's dynamic provider is a python process
(`python -m pulumi.dynamic`, about 0.6 s to start), so it would start only after the program
had imported everything (pydantic, the SDKs: about 0.5 s). Here the provider is registered
first, as an explicit provider resource, and the heavy imports then run on a worker thread
while the event loop sends that registration: both start-ups run at once.

Light on purpose: only `pulumi` is imported before the provider is registered.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib

import pulumi
from pulumi.runtime.sync_await import _sync_await

PUSH_PROVIDER = "homelab-push"


def push_provider() -> pulumi.ProviderResource | None:
    """The dynamic provider of `homelab:push:HostPush`, for stacks that push (`homelab:ssh`)."""
    if pulumi.Config("homelab").get("ssh") is None:
        return None
    return pulumi.ProviderResource("pulumi-python", PUSH_PROVIDER)


def import_while_registering(*modules: str) -> None:
    """Import `modules` on a worker thread while the event loop sends what is registered.

    `_sync_await` is how the SDK's own synchronous calls (invokes) wait inside a program:
    it pumps the event loop until the future is done.
    """
    ctx = contextvars.copy_context()

    def load() -> None:
        for m in modules:
            importlib.import_module(m)

    loop = asyncio.get_event_loop()
    _sync_await(loop.run_in_executor(None, ctx.run, load))
