"""Roles enforced by PostgreSQL itself: one group role per workflow role, least privilege.

After :func:`grant`, the database authenticates who acts: the actor is the login
(``session_user``), and naming anyone else is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from workflow.errors import Refused, WorkflowError

AUTH_KEY = "actor_authentication"
AUTH_BY_LOGIN = "database_login"

READ_ALL = "SELECT"
APPEND = {"wf_history": "INSERT", "wf_refusal": "INSERT"}
ADVANCE = {"wf_record": "UPDATE", "wf_log_head": "UPDATE"}
CREATE = {"wf_record": "INSERT, UPDATE", "wf_ref_counter": "INSERT, UPDATE"}  # those who draft
ADMINISTER = {"wf_user": "INSERT, UPDATE", "wf_user_change": "INSERT",
              "wf_policy_entry": "INSERT, UPDATE", "wf_policy_change": "INSERT"}


# Rows that name who acted are written by that very login: table rights alone would let a
# drafter's login insert a decision in an approver's name, with hashes anyone can recompute.
# The function looks its tables up in its own schema only, with temporary tables last: a login
# may create a temporary table of any name, which would otherwise be found first.
WRITTEN_BY_ACTOR = ("wf_history", "wf_refusal", "wf_policy_change", "wf_user_change")
ACTOR_IS_LOGIN = """
CREATE OR REPLACE FUNCTION wf_written_by_its_actor() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
    IF NEW.actor IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'the login % may not write a % row for %', session_user, TG_TABLE_NAME,
            NEW.actor;
    END IF;
    IF TG_TABLE_NAME = 'wf_history' THEN  -- nested: NEW.roles exists on that table only
        IF NOT EXISTS (SELECT 1 FROM wf_user u WHERE u.name = session_user AND u.active
                       AND CAST(u.roles AS jsonb) = CAST(NEW.roles AS jsonb)) THEN
            RAISE EXCEPTION 'the login % may write history rows only as an active user, with '
                'its own roles', session_user;
        END IF;
        IF NEW.acted_as IS NULL OR jsonb_typeof(CAST(NEW.acted_as AS jsonb)) <> 'array'
           OR jsonb_array_length(CAST(NEW.acted_as AS jsonb)) = 0
           OR NOT CAST(NEW.acted_as AS jsonb) <@ CAST(NEW.roles AS jsonb) THEN
            RAISE EXCEPTION 'the login % may write history rows only acting as roles it holds',
                session_user;
        END IF;
    END IF;
    RETURN NEW;
END
$$
"""


# What a login writes keeps the log whole, checked when its transaction commits (the program
# writes a request before its history rows, and the log head last): a request changes only one
# version at a time and with the history row of its new version, into the state that row
# enters, drafted by whoever the drafting row names and never re-dated or given to another
# drafter (what separation of duties reads), so that every change is a row verification holds
# to the process; a history row lies within the log head, so that a row
# slipped in past it cannot take the number the next write needs; and the log head's tree is
# that of its last row (its root the one stored with that row), so that a login cannot leave
# the next writer a tree to append to that gives every later row a wrong root.
LOG_KEPT = """
CREATE OR REPLACE FUNCTION wf_kept_in_the_log() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
DECLARE
    nodes text[];
    root bytea;
BEGIN
    IF TG_TABLE_NAME = 'wf_record' THEN
        IF (TG_OP = 'UPDATE' AND (NEW.version IS DISTINCT FROM OLD.version + 1
                                  OR NEW.ref IS DISTINCT FROM OLD.ref
                                  OR NEW.process IS DISTINCT FROM OLD.process
                                  OR NEW.created_by IS DISTINCT FROM OLD.created_by
                                  OR NEW.created_at IS DISTINCT FROM OLD.created_at))
           OR (TG_OP = 'INSERT' AND NEW.version IS DISTINCT FROM 1)
           OR NOT EXISTS (SELECT 1 FROM wf_history h WHERE h.record_id = NEW.id
                          AND h.version = NEW.version AND h.ref = NEW.ref
                          AND h.to_state = NEW.state
                          AND (TG_OP = 'UPDATE' OR (h.from_state IS NULL
                                                    AND h.actor = NEW.created_by))) THEN
            RAISE EXCEPTION 'the login % may change request % only a version at a time, with '
                'the history row of its new version (the state it enters; drafting it, its '
                'drafter), and never who drafted it or when', session_user, NEW.ref;
        END IF;
    ELSIF TG_TABLE_NAME = 'wf_log_head' THEN
        IF NEW.size > 0 THEN
            nodes := ARRAY(SELECT n FROM jsonb_array_elements_text(CAST(NEW.frontier AS jsonb))
                           WITH ORDINALITY AS f(n, i) ORDER BY i);
            root := decode(nodes[cardinality(nodes)], 'hex');
            FOR i IN REVERSE cardinality(nodes) - 1 .. 1 LOOP
                root := sha256(decode('01', 'hex') || decode(nodes[i], 'hex') || root);
            END LOOP;
            IF root IS DISTINCT FROM (SELECT decode(h.root_hash, 'hex') FROM wf_history h
                                      WHERE h.seq = NEW.size) THEN
                RAISE EXCEPTION 'the login % may not set the log head to a tree other than '
                    'that of its last row', session_user;
            END IF;
        END IF;
    ELSIF NEW.seq > (SELECT size FROM wf_log_head WHERE id = 1) THEN
        RAISE EXCEPTION 'the login % may not write history row % past the log head',
            session_user, NEW.seq;
    END IF;
    RETURN NULL;
END
$$
"""
KEPT_IN_THE_LOG = {"wf_record": "INSERT OR UPDATE", "wf_history": "INSERT",
                   "wf_log_head": "UPDATE"}  # each table, and the writes checked


def log_kept(schema: str) -> list[str]:
    """The function and triggers that keep what logins write in the log (see LOG_KEPT)."""
    statements = [LOG_KEPT.format(schema=quoted(schema))]
    for table, events in KEPT_IN_THE_LOG.items():
        statements += [f"DROP TRIGGER IF EXISTS {table}_kept_in_the_log ON {table}",
                       f"CREATE CONSTRAINT TRIGGER {table}_kept_in_the_log AFTER {events} ON "
                       f"{table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION wf_kept_in_the_log()"]
    return statements


def actor_is_login(schema: str) -> str:
    """The function of the triggers that make each login write rows in its own name only."""
    return ACTOR_IS_LOGIN.format(schema=quoted(schema))


def quoted(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def actor_triggers(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_by_its_actor ON {table}",
            f"CREATE TRIGGER {table}_by_its_actor BEFORE INSERT ON {table} FOR EACH ROW "
            "EXECUTE FUNCTION wf_written_by_its_actor()"]


def group_role(database: str, schema: str, role: str) -> str:
    """The database role of one workflow role in one schema of one database: roles are
    server-wide, so the name carries a digest of both (and stays short whatever they are)."""
    digest = hashlib.sha256(f"{database}\x00{schema}".encode()).hexdigest()[:10]
    return f"wf_{role}_{digest}"[:63]


def legacy_role(schema: str, role: str) -> str:
    """The name :func:`group_role` gave before it told databases apart: shared by every
    database with a schema of that name, so a database no longer grants it anything once its
    own roles are made."""
    return f"wf_{schema}_{role}"[:63]


def _where(session: Any) -> tuple[str, str]:
    row = session.execute(text("SELECT current_database(), current_schema()")).one()
    return str(row[0]), str(row[1])


def may_own(session: Any) -> bool:
    """The login owns the workflow's tables (or is a superuser): it may grant on them."""
    return bool(session.execute(text(
        "SELECT r.rolsuper OR t.tableowner = session_user FROM pg_roles r, pg_tables t "
        "WHERE r.rolname = session_user AND t.schemaname = current_schema() "
        "AND t.tablename = 'wf_log_head'")).scalar())


def privileges(role: str, read_only: bool, creates: bool = True) -> dict[str, str]:
    """Table -> privileges beyond SELECT for a workflow role; read-only roles get none, and
    only roles that draft requests may insert them."""
    if read_only:
        return {}
    granted = {**APPEND, **ADVANCE, **(CREATE if creates else {})}
    if role == "admin":
        granted.update(ADMINISTER)
    return granted


def grant(session: Any, roles: tuple[str, ...], read_only: Any,
          creates: Any = lambda _role: True) -> dict[str, Any]:
    from sqlmodel import select

    from workflow.models import Setting, User

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        raise WorkflowError("database roles need PostgreSQL; SQLite has no logins")
    database, schema = _where(session)
    names = {role: group_role(database, schema, role) for role in roles}
    made = {r for r, name in names.items() if _exists(session, name)}
    if may_own(session) or not _by_login(session):
        statements = _privileges(session, schema, names, read_only, creates)
    elif made == set(roles):  # an admin's login: the roles and their rights are there already
        statements = []
    else:
        raise WorkflowError("this database's roles are not all made yet, which takes the login "
                            "that owns its tables: run `workflow db grant` over that connection")
    for statement in statements:
        session.execute(text(statement))
    members: dict[str, list[str]] = {}
    for user in session.exec(select(User).where(User.active.is_(False))):
        revoke(session, user.name, user.roles)  # disabled before the database knew its roles
    for user in session.exec(select(User).where(User.active)):
        login = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n AND rolcanlogin"),
                                {"n": user.name}).first()
        if login is None:
            continue
        revoke(session, user.name, set(roles) - set(user.roles), "db grant")  # roles taken away
        for role in user.roles:
            group = group_role(database, schema, role)
            if not _member(session, group, user.name):  # an admin's login may lack CREATEROLE
                _change(session, "db grant", f'GRANT "{group}" TO "{user.name}"', group,
                        user.name, True)
        members[user.name] = list(user.roles)
    setting = session.get(Setting, AUTH_KEY) or Setting(key=AUTH_KEY, value=AUTH_BY_LOGIN)
    setting.value = AUTH_BY_LOGIN
    session.add(setting)
    return {"schema": schema, "roles": list(names.values()), "logins": members}


def _exists(session: Any, name: str) -> bool:
    return session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                           {"n": name}).first() is not None


def _by_login(session: Any) -> bool:
    from workflow.models import Setting

    setting = session.get(Setting, AUTH_KEY)
    return setting is not None and setting.value == AUTH_BY_LOGIN


def _holds_schema(session: Any, name: str, schema: str) -> bool:
    """The role has rights on this schema's tables (schema usage alone says nothing: PUBLIC
    has it on ``public``)."""
    return _exists(session, name) and bool(session.execute(
        text("SELECT has_table_privilege(:n, quote_ident(:s) || '.wf_log_head', 'SELECT')"),
        {"n": name, "s": schema}).scalar())


def _privileges(session: Any, schema: str, names: dict[str, str], read_only: Any,
                creates: Any) -> list[str]:
    """What the login owning the tables runs: each role made and given its rights, the roles
    named as before taken out of this schema, the login and log triggers made."""
    at = quoted(schema)
    statements: list[str] = []
    for role, name in names.items():
        if not _exists(session, name):
            statements.append(f'CREATE ROLE "{name}" NOLOGIN')
        elif not creates(role):  # granted by an earlier version to every role that writes
            statements += [f'REVOKE INSERT ON "wf_record" FROM "{name}"',
                           f'REVOKE INSERT, UPDATE ON "wf_ref_counter" FROM "{name}"']
        statements += [
            f'GRANT USAGE ON SCHEMA {at} TO "{name}"',
            f'GRANT {READ_ALL} ON ALL TABLES IN SCHEMA {at} TO "{name}"',
        ]
        if not read_only(role):
            statements.append(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA {at} TO "{name}"')
        statements += [f'GRANT {p} ON "{t}" TO "{name}"'
                       for t, p in privileges(role, read_only(role), creates(role)).items()]
        legacy = legacy_role(schema, role)
        if legacy != name and _holds_schema(session, legacy, schema):
            statements += [f'REVOKE ALL ON ALL TABLES IN SCHEMA {at} FROM "{legacy}"',
                           f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA {at} FROM "{legacy}"',
                           f'REVOKE ALL ON SCHEMA {at} FROM "{legacy}"']
    statements.append(actor_is_login(schema))
    statements += [sql for table in WRITTEN_BY_ACTOR for sql in actor_triggers(table)]
    return _unless_in_place(session, statements + log_kept(schema))


_TRIGGER_NAMED = re.compile(r"(?:DROP|CREATE(?: CONSTRAINT)?) TRIGGER (?:IF EXISTS )?(\w+) ")


def _unless_in_place(session: Any, statements: list[str]) -> list[str]:
    """The statements less the dropping and making again of a trigger that is already as
    they make it. Dropping a trigger locks its table against every other transaction, one that
    waits for the log head behind this one included: `db grant` run again (after users are
    added) would deadlock with their writes."""
    from workflow.protections import PG_TRIGGERS_SQL, in_place

    kept = in_place([tuple(row) for row in session.execute(text(PG_TRIGGERS_SQL))])
    return [sql for sql in statements
            if (named := _TRIGGER_NAMED.match(sql)) is None or named.group(1) not in kept]


def revoke(session: Any, name: str, roles: Iterable[str], event: str = "user disable") -> None:
    """A user's login leaves the group roles of ``roles`` that :func:`grant` put it in, where
    the database authenticates by login (a user disabled, or a role taken away), so that it can
    no longer read or write with them outside the program either. Part of the change's
    transaction: if the acting login may not revoke them, nothing changes."""
    if not _logins_kept(session):
        return
    database, schema = _where(session)
    for role in roles:
        groups = [group_role(database, schema, role)]
        legacy = legacy_role(schema, role)
        if _holds_schema(session, legacy, schema):  # granted before roles told databases apart
            groups.append(legacy)
        for group in groups:
            if _member(session, group, name):
                _change(session, event, f'REVOKE "{group}" FROM "{name}"', group, name, False)


def admit(session: Any, name: str, roles: Iterable[str], event: str) -> None:
    """A user's login joins the group roles of ``roles`` (a user enabled again, or a role
    given), where the database authenticates by login and the user has a login: as `db grant`
    would, at once. Part of the change's transaction, like :func:`revoke`."""
    if not _logins_kept(session) or session.execute(text(
            "SELECT 1 FROM pg_roles WHERE rolname = :n AND rolcanlogin"), {"n": name}
            ).first() is None:
        return
    database, schema = _where(session)
    for role in roles:
        group = group_role(database, schema, role)
        if _exists(session, group) and not _member(session, group, name):
            _change(session, event, f'GRANT "{group}" TO "{name}"', group, name, True)


UNCHANGED = {"user disable": "stays enabled", "user enable": "stays disabled",
             "user set-roles": "keeps the roles it had"}


def _logins_kept(session: Any) -> bool:
    return session.get_bind().dialect.name == "postgresql" and _by_login(session)


def _member(session: Any, group: str, name: str) -> bool:
    return session.execute(text(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = :g AND u.rolname = :u"),
        {"g": group, "u": name}).first() is not None


def _change(session: Any, event: str, statement: str, group: str, name: str,
            joins: bool) -> None:
    """One login into or out of one group role; a login not allowed to (refused, or, where the
    server only warns, not changed afterwards) is refused in the process's terms, and the
    change is then undone with the rest of its transaction."""
    from sqlalchemy.exc import DBAPIError

    try:
        session.execute(text(statement))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
    else:
        if _member(session, group, name) is joins:
            return
    moved = "put {} into" if joins else "take {} out of"
    raise Refused(event, "database-permission",
                  f"this login may not {moved.format(name)} database role {group}, so {name} "
                  f"{UNCHANGED.get(event, 'stays as it was')}: an admin's login needs "
                  "CREATEROLE for this (a superuser gives it: ALTER ROLE <login> CREATEROLE; "
                  "from PostgreSQL 16 on, also GRANT "
                  f'"{group}" TO <login> WITH ADMIN OPTION)')
