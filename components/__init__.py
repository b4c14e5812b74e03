"""Pulumi component resources: thin wiring around the pure logic in `homelab`."""
