"""Live state: where sessions, device bindings and access-code lookups live while they run."""

from broker.store.base import Store
from broker.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
