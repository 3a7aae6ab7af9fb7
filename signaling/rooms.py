"""socket.io room names: who hears a message. Rooms work across processes with a shared manager."""

from __future__ import annotations

from broker.types import SessionId, StaffId, TeamId

ALL_TEAMS = "sup:*"  # admins: the whole load


def customer_room(session_id: SessionId) -> str:
    """The customer's socket of one session (one at a time: the bound device)."""
    return f"cust:{session_id}"


def staff_room(staff_id: StaffId) -> str:
    """Every open console tab of one counsellor."""
    return f"staff:{staff_id}"


def team_room(team: TeamId) -> str:
    """The supervisors of one team."""
    return f"sup:{team}"


def ticket_room(ticket: str) -> str:
    """The pages of one drop-in ticket (its customer's device)."""
    return f"tkt:{ticket}"


def counsellors_room(team: TeamId) -> str:
    """The counsellors' consoles of one team (their callback worklist moved)."""
    return f"cns:{team}"


def callback_room(callback_id: str) -> str:
    """The pages of one callback request's personal link."""
    return f"cbk:{callback_id}"
