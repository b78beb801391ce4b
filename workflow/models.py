"""The tables. Generic: a record's fields live in a JSON column declared by its process.

Timestamps are aware UTC datetimes (SQLModel stores them as UTC); dates are calendar dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from workflow.ledger import GENESIS


class User(SQLModel, table=True):
    __tablename__ = "wf_user"

    name: str = Field(primary_key=True, max_length=200)
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_by: str
    created_at: datetime


class Record(SQLModel, table=True):
    __tablename__ = "wf_record"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=40)
    process: str
    state: str  # not indexed: every firing changes it (revision 0015)
    version: int = 1
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    participants: dict[str, list[str]] = Field(sa_column=Column(JSON, nullable=False))
    due_on: date | None = Field(default=None, index=True)
    created_by: str
    created_at: datetime


class History(SQLModel, table=True):
    """One leaf of the Merkle log: ``seq`` numbers rows without gaps in commit order."""

    __tablename__ = "wf_history"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    record_id: int = Field(foreign_key="wf_record.id", index=True)
    ref: str
    event: str
    from_state: str | None
    to_state: str
    actor: str
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    at: datetime = Field(index=True)
    reason: str | None
    changes: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    consulted: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    process_version: str
    leaf_hash: str = Field(max_length=64)
    root_hash: str = Field(max_length=64)
    # the roles that admitted the actor to this event (of those in ``roles``, which lists every
    # role held); None on rows written before the log kept it (revision 0009)
    acted_as: list[str] | None = Field(default=None,
                                        sa_column=Column(JSON(none_as_null=True), nullable=True))
    # the request's version after this row: its place in the request's history, from 1 (its
    # drafting); None on rows written before the log kept it (revision 0010)
    version: int | None = Field(default=None, nullable=True)


class LogHead(SQLModel, table=True):
    """The single row holding the log's size and its frontier (the perfect subtrees' roots)."""

    __tablename__ = "wf_log_head"

    id: int = Field(default=1, primary_key=True)
    size: int = 0
    frontier: list[str] = Field(sa_column=Column(JSON, nullable=False))
    refusals: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    refusal_chain: str = Field(default=GENESIS, max_length=64,
                               sa_column_kwargs={"server_default": GENESIS})
    policy_changes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    policy_chain: str = Field(default=GENESIS, max_length=64,
                              sa_column_kwargs={"server_default": GENESIS})
    user_changes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    user_chain: str = Field(default=GENESIS, max_length=64,
                            sa_column_kwargs={"server_default": GENESIS})


class Refusal(SQLModel, table=True):
    """A refused attempt: recorded without touching the record it aimed at.

    ``chain`` links each refusal to the one before (SHA-256 of the previous link and the
    row's canonical bytes), and the log head keeps the last link and the count, so a deleted,
    altered or reordered refusal shows in ``audit verify``.
    """

    __tablename__ = "wf_refusal"

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(index=True)
    ref: str | None
    event: str
    state: str | None
    rule: str
    message: str
    chain: str | None = Field(default=None, max_length=64)


class RefCounter(SQLModel, table=True):
    """The last sequence number handed out per reference prefix and year."""

    __tablename__ = "wf_ref_counter"
    __table_args__ = (UniqueConstraint("prefix", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    prefix: str
    year: int
    last: int


class PolicyEntry(SQLModel, table=True):
    """A dated restriction on a subject (a country, for the transfer process)."""

    __tablename__ = "wf_policy_entry"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(index=True)
    kind: str
    since: date
    until: date | None = None
    reason: str


class PolicyChange(SQLModel, table=True):
    """Every change to the policy, with who made it and why.

    Chained as the refusals are (``chain``; the log head keeps the count and the last link),
    and the entries must equal what the changes say, so ``audit verify`` finds a change or an
    entry altered, removed or slipped in.
    """

    __tablename__ = "wf_policy_change"

    seq: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="wf_policy_entry.id")
    action: str
    subject: str
    kind: str
    since: date
    until: date | None
    actor: str
    at: datetime
    reason: str
    chain: str | None = Field(default=None, max_length=64)
    # how many history rows were written before it: its place in the history's order; None on
    # changes made before the log kept it (revision 0012)
    after_row: int | None = Field(default=None, nullable=True)


class UserChange(SQLModel, table=True):
    """Every change to who may act: a user added (with roles) or disabled, by whom and when.

    Chained as the policy changes are (``chain``; the log head keeps the count and the last
    link), and the users must equal what the changes say, so ``audit verify`` finds a role
    granted, a user slipped in or re-enabled behind the program's back. ``found`` records a
    user as an upgrade found them, before changes were recorded (``?`` marks what was not).
    """

    __tablename__ = "wf_user_change"

    seq: int | None = Field(default=None, primary_key=True)
    action: str  # add, disable, found
    name: str = Field(max_length=200)
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    active: bool
    actor: str
    at: datetime
    chain: str = Field(max_length=64)
    after_row: int | None = Field(default=None, nullable=True)  # as PolicyChange's
    # why, if the admin said (None on changes made before revision 0012 kept it)
    reason: str | None = Field(default=None, nullable=True)


class Setting(SQLModel, table=True):
    """Database-wide settings, such as who authenticates the actor."""

    __tablename__ = "wf_setting"

    key: str = Field(primary_key=True, max_length=100)
    value: str


def locked_head(session: Any) -> LogHead:
    """The log head row, locked as every writer takes it first (FOR UPDATE on PostgreSQL;
    SQLite's write sessions are serialised already)."""
    from sqlmodel import select

    return session.exec(select(LogHead).where(LogHead.id == 1).with_for_update()).one()


def after_row(head: LogHead) -> int | None:
    """A user or policy change's place in the history's order: how many rows the log holds
    while the change holds the head."""
    return head.size


def record_id(ref: str) -> Any:
    """The id of the record ``ref``, as a subquery: one request's history is found by it (and
    by its own ``ref`` too, which its leaf hash covers)."""
    from sqlmodel import select

    return select(Record.id).where(Record.ref == ref).scalar_subquery()
