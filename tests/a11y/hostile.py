"""The role matrix's world, made hostile for the accessibility crawl."""

from __future__ import annotations

from tests.security import world as world_module


def build(users: dict):
    w = world_module.build(users)
    return w
