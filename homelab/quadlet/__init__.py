"""Podman Quadlet unit files: parser, key tables, typed model, canonical render, lint."""

from homelab.quadlet.lint import best_practices, check, lint_unit, newer_than_5_4
from homelab.quadlet.model import (
    ImageRef,
    Line,
    Problem,
    PublishedPort,
    QuadletError,
    QuadletUnit,
    Section,
    VolumeMount,
)
from homelab.quadlet.parser import parse_unit
from homelab.quadlet.render import render
from homelab.quadlet.split import escape_word, join_words, split_words

__all__ = [
    "ImageRef",
    "Line",
    "Problem",
    "PublishedPort",
    "QuadletError",
    "QuadletUnit",
    "Section",
    "VolumeMount",
    "best_practices",
    "check",
    "escape_word",
    "join_words",
    "lint_unit",
    "newer_than_5_4",
    "parse_unit",
    "render",
    "split_words",
]
