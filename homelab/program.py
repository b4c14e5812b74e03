"""The program's config, from what the Pulumi language host hands it. Pure: `__main__.py`
reads the two inputs through pulumi's public API (`pulumi.runtime.get_config_env()`: the
PULUMI_CONFIG map; `get_config_secret_keys_env()`: the PULUMI_CONFIG_SECRET_KEYS list) and
passes them here, once per run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from homelab.host.config import NAMESPACE, StackConfig
from homelab.host.stack import StackFiles, load_stack_config


def split_config(
    config: Mapping[str, str], secret_keys: Iterable[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(non-secret `homelab:` values, secret values), keys without the namespace."""
    secret = {k.partition(":")[2] for k in secret_keys if k.startswith(NAMESPACE + ":")}
    values: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, raw in config.items():
        ns, _, short = key.partition(":")
        if ns != NAMESPACE or not short:
            continue
        if short in secret:
            secrets[short] = str(raw)
            continue
        try:
            values[short] = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            values[short] = raw
    return values, secrets


def program_config(
    stack: str,
    project_dir: Path,
    config: Mapping[str, str],
    secret_keys: Iterable[str],
    files: StackFiles,
) -> tuple[StackConfig, dict[str, str]]:
    """The stack's validated config and the secret values it was given (checked against what
    it needs by `homelab.host.stack.pick_secrets`).

    The stack file pulumi read is read here too, through the same edge as `build`
    (`homelab.inputs`: bytes, size, YAML that both readers read alike), so both refuse the
    same files; the values themselves are the runtime's."""
    files[stack]  # read and checked now: a problem raises ConfigError
    values, secrets = split_config(config, secret_keys)
    return load_stack_config(stack, values, project_dir, files), secrets


def snapshots_notice(cfg: StackConfig) -> str | None:
    """One line when containers ask for a dataset on a host without a pool (vm-test)."""
    asked = [n for n in cfg.enabled if cfg.containers[n].dataset is not None]
    if cfg.host.zfs_pool or not asked:
        return None
    return (
        f"snapshots are off on stack {cfg.stack!r}: no host.zfs_pool, so the `dataset` of "
        f"{', '.join(asked)} is ignored and their data is a plain directory"
    )


def exit_quietly_on_interrupt() -> None:
    """When a resource fails (say the host is unreachable), the engine has already shown its
    one-line error and stops the program with SIGINT; Python's default would add a
    KeyboardInterrupt traceback of the language host's event loop. Leave without it."""
    import os
    import signal
    import sys

    def leave(_sig: int, _frame: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    signal.signal(signal.SIGINT, leave)
