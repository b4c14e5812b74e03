"""Compatibility names for code not yet moved (homelab.push's users, tests/e2e/push_program):
the host plan now lives in homelab.host. Remove once nothing imports this module."""

from homelab.fileset import manifest as file_summary
from homelab.host.containers import PlannedContainer, wire_secrets
from homelab.host.plan import HostPlan, plan_host
from homelab.host.problems import PlanError
from homelab.host.system import SECRETS_HELPER, SECRETS_HELPER_TEXT

__all__ = [
    "SECRETS_HELPER",
    "SECRETS_HELPER_TEXT",
    "HostPlan",
    "PlanError",
    "PlannedContainer",
    "file_summary",
    "plan_host",
    "wire_secrets",
]
