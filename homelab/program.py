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
from homelab.host.stack import ConfigError, StackFiles, load_stack_config


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
        except (TypeError, ValueError):
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
    it needs by `homelab.host.stack.pick_secrets`). A plain value under a key the stack names
    as a secret is refused."""
    values, secrets = split_config(config, secret_keys)
    referenced = {
        s
        for c in (values.get("containers") or {}).values()
        if isinstance(c, dict)
        for s in (c.get("secrets") or {}).values()
    }
    plain = sorted(referenced & set(values))
    if plain:
        raise ConfigError(
            [
                files.problem(
                    [stack],
                    (k,),
                    "is set in plain text; remove it and set it as a secret: "
                    f"`pulumi config rm -s {stack} {k} && pulumi config set --secret -s {stack} "
                    f"{k}` (it prompts for the value)",
                )
                for k in plain
            ]
        )
    return load_stack_config(stack, values, project_dir, files), secrets
