"""Name -> implementation registries, one per config group (dataset, backbone, head, loss...).

Each entry pairs the option's structured-config dataclass (its schema: keys, types, defaults)
with the object that implements it, so that a YAML option, its schema and its code share one
name and a test can check that the config tree and the registries list the same options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from diffclust.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    schema: type
    impl: T
    defaults: dict  # this option's own defaults where it shares its schema with others


class Registry(Generic[T]):
    """Options of one config group."""

    def __init__(self, group: str):
        self.group = group
        self.entries: dict[str, Entry[T]] = {}

    def register(self, name: str, schema: type, **defaults):
        """Decorator: ``@REGISTRY.register("name", SchemaDataclass)`` on the implementation.

        Options that share a schema give their own defaults here (e.g. the file a paper's
        table is published as), so each option's defaults are in one place: the schema and
        its registry line. The YAML option only names the schema."""

        def add(impl: T) -> T:
            if name in self.entries:
                raise ValueError(f"{self.group} option {name!r} is registered twice")
            self.entries[name] = Entry(schema, impl, {"name": name, **defaults})
            return impl

        return add

    def get(self, name: str) -> T:
        if name not in self.entries:
            raise UserError(
                f"unknown {self.group} {name!r}; choose one of {sorted(self.entries)} "
                f"(e.g. {self.group}={min(self.entries)})"
            )
        return self.entries[name].impl

    def names(self) -> list[str]:
        return sorted(self.entries)

    def schemas(self) -> dict[str, Any]:
        """Each option's structured config: its schema with the option's own defaults."""
        return {name: entry.schema(**entry.defaults) for name, entry in self.entries.items()}
