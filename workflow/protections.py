"""The database's own guards over the logs, judged as the program installs them.

Verify warns of an append-only trigger missing (dropped), and of any trigger, rule or row-level
security that is not the program's, or not as the program made it: disabled, given a condition,
or its function rewritten. Such a thing can refuse nothing while it looks in place, or drop what
the program writes (a refusal, say) without a trace in any chain.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from workflow.append_only import TABLES, trigger_names
from workflow.grants import KEPT_IN_THE_LOG, WRITTEN_BY_ACTOR, quoted

# the schema's triggers on PostgreSQL (the server's own internal ones aside), as
# _postgres_wrong judges them
PG_TRIGGERS_SQL = (
    "SELECT t.tgname, c.relname, t.tgenabled::text, p.proname, p.prosrc, "
    "pg_get_triggerdef(t.oid), p.proconfig, p.prosecdef, l.lanname, "
    "p.pronamespace = c.relnamespace, n.nspname FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
    "JOIN pg_language l ON l.oid = p.prolang "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND NOT t.tgisinternal ORDER BY 1")


def in_place(rows: list[tuple[Any, ...]]) -> set[str]:
    """The names of the PostgreSQL triggers (rows of :data:`PG_TRIGGERS_SQL`) that are as the
    program makes them."""
    return {row[0] for row in rows if not _postgres_wrong(row)}


# each trigger the program makes on PostgreSQL: its table, and its definition as the server
# gives it back, with the table's name (schema-qualified as the server likes) replaced by T
_PG_TRIGGERS = {
    **{f"{t}_append_only": (t, "BEFORE DELETE OR UPDATE OR TRUNCATE ON T FOR EACH STATEMENT "
                               "EXECUTE FUNCTION wf_append_only()") for t in TABLES},
    **{f"{t}_by_its_actor": (t, "BEFORE INSERT ON T FOR EACH ROW EXECUTE FUNCTION "
                                "wf_written_by_its_actor()") for t in WRITTEN_BY_ACTOR},
    **{f"{t}_kept_in_the_log": (t, f"AFTER {events} ON T DEFERRABLE INITIALLY DEFERRED FOR "
                                   "EACH ROW EXECUTE FUNCTION wf_kept_in_the_log()")
       for t, events in KEPT_IN_THE_LOG.items()},
}
# where the texts of the trigger functions are that a database at this revision may hold: the
# program's own, or those of the last revisions that installed each on a database granted
# before (older texts would lack a check the revisions since added)
_FUNCTION_TEXTS = [("workflow.append_only", "_PG_FUNCTION"), ("workflow.grants", "ACTOR_IS_LOGIN"),
                   ("workflow.grants", "LOG_KEPT"),
                   ("workflow.migrations.versions.0011_pinned_trigger_search_path",
                    "ACTOR_IS_LOGIN"),
                   ("workflow.migrations.versions.0014_record_kept_to_its_history",
                    "LOG_KEPT")]
_FUNCTION_NAME = re.compile(r"FUNCTION (\w+)\(\)")


def judged(scanner: Any) -> tuple[list[str], list[str]]:
    """The append-only triggers missing, and what else acts on the tables that is not as the
    program made it, each named."""
    triggers = scanner.triggers()
    present = {row[0] for row in triggers}
    missing = [name for name in trigger_names("sqlite" if scanner.sqlite else "postgresql")
               if name not in present]
    wrong = _sqlite_wrong if scanner.sqlite else _postgres_wrong
    foreign = [f"trigger {row[0]} on {row[1]}" for row in triggers if wrong(row)]
    return missing, foreign + scanner.rewrites()


def _flat(text: Any) -> str:
    return " ".join(str(text).split())


def _sqlite_wrong(row: tuple[Any, ...]) -> bool:
    name, table, sql = row
    for op in ("UPDATE", "DELETE"):
        if name == f"{table}_no_{op.lower()}" and table in TABLES:
            return re.fullmatch(rf"CREATE TRIGGER (IF NOT EXISTS )?{name} BEFORE {op} ON "
                                rf"{table} BEGIN SELECT RAISE\(ABORT, '[^']*'\); END;?",
                                _flat(sql)) is None
    return True


def _postgres_wrong(row: tuple[Any, ...]) -> bool:
    (name, table, enabled, function, body, definition, settings, owners, language, beside,
     schema) = row
    on, expected = _PG_TRIGGERS.get(name, (None, ""))
    constraint = "CONSTRAINT " if name.endswith("_kept_in_the_log") else ""
    shown = re.sub(r" ON \S+ ", " ON T ", _flat(definition), count=1)
    # the login-mode functions look up their tables in their own schema only (revision 0011)
    pinned = None if function == "wf_append_only" else [
        [f"search_path={spelled}, pg_temp"] for spelled in (schema, quoted(schema))]
    return (on != table or enabled not in ("O", "A")  # O: enabled; A: always, even replicas
            or shown != f"CREATE {constraint}TRIGGER {name} {expected}"
            or _flat(body) not in _bodies().get(function, ())
            or owners or language != "plpgsql" or not beside
            or (settings is not None if pinned is None else settings not in pinned))


@cache
def _bodies() -> dict[str, set[str]]:
    """Each trigger function's bodies, as a database at this revision may hold them."""
    bodies: dict[str, set[str]] = {}
    for module, constant in _FUNCTION_TEXTS:
        text = getattr(importlib.import_module(module), constant).replace("%%", "%")
        found = _FUNCTION_NAME.search(text)
        if found is not None:
            body = text.split("$$")[1]
            bodies.setdefault(found.group(1), set()).add(_flat(body))
    return bodies
