"""The durable contact log: write-ahead session events and one contact record per session."""

from broker.contactlog.base import ContactLog, LoggedEvent
from broker.contactlog.sqlite import SqliteContactLog

__all__ = ["ContactLog", "LoggedEvent", "SqliteContactLog"]
