"""Session fixtures shared by the e2e tests: one simulated host per session (defined once
here, so every module gets the same instance), with mouse's stand-in images in the test
registry (scripts/registry, stopped at the end when the session started it)."""

from tests.e2e.mouse_stack import mouse_host
from tests.e2e.registry import registry
from tests.e2e.simhost import simhost

__all__ = ["mouse_host", "registry", "simhost"]
