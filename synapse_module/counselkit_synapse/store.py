"""The module's tables in the tenant's Synapse database, as transaction functions for ModuleApi.run_db_interaction.

Placeholders are `?`: Synapse's LoggingTransaction converts them for PostgreSQL, and the unit tests run the same
SQL on SQLite. Every decision that must hold under concurrency (one open enquiry per help-seeker, one counsellor
accepting) is made by the database — a unique index or a conditional UPDATE — never in this process's memory.
"""

from __future__ import annotations

from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS counselkit_help_seekers (
        user_id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        consent_version TEXT NOT NULL,
        postcode TEXT,
        email TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS counselkit_enquiries (
        id TEXT PRIMARY KEY,
        room_id TEXT UNIQUE,
        help_seeker TEXT NOT NULL,
        topic TEXT,
        created_at BIGINT NOT NULL,
        counsellor TEXT,
        accepted_at BIGINT,
        closed_at BIGINT
    )""",
    # Last activity of a help-seeker the module saw (docs/counselling.md#retention-purge). A table of its own, not a
    # column: CREATE TABLE IF NOT EXISTS upgrades a database made by an earlier module on PostgreSQL and SQLite alike.
    """CREATE TABLE IF NOT EXISTS counselkit_activity (
        user_id TEXT PRIMARY KEY,
        last_active_at BIGINT NOT NULL
    )""",
    # The absence notice counsellors set in the app (one row at most): who set it, when.
    """CREATE TABLE IF NOT EXISTS counselkit_absence (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        message TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at BIGINT NOT NULL
    )""",
    # One open enquiry per help-seeker, decided by the database (CK_ENQUIRY_OPEN).
    """CREATE UNIQUE INDEX IF NOT EXISTS counselkit_enquiries_one_open
        ON counselkit_enquiries (help_seeker) WHERE closed_at IS NULL""",
)


def create_schema(txn: Any) -> None:
    for statement in SCHEMA:
        txn.execute(statement)


def absence(txn: Any) -> str | None:
    txn.execute("SELECT message FROM counselkit_absence WHERE id = 1")
    row = txn.fetchone()
    return row[0] if row else None


def set_absence(txn: Any, message: str, set_by: str, now_ms: int) -> None:
    txn.execute("INSERT INTO counselkit_absence (id, message, set_by, set_at) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET message = excluded.message, set_by = excluded.set_by, "
                "set_at = excluded.set_at", (message, set_by, now_ms))


def clear_absence(txn: Any) -> None:
    txn.execute("DELETE FROM counselkit_absence WHERE id = 1")


def is_help_seeker(txn: Any, user_id: str) -> bool:
    txn.execute("SELECT 1 FROM counselkit_help_seekers WHERE user_id = ?", (user_id,))
    return txn.fetchone() is not None


def drop_key_backup(txn: Any, user_id: str) -> None:
    """The help-seeker's server-side key backup (the web app's, docs/webapp.md): Synapse's deactivation removes its
    key from the account data but leaves the encrypted room keys and the backup versions (Synapse's tables)."""
    txn.execute("DELETE FROM e2e_room_keys WHERE user_id = ?", (user_id,))
    txn.execute("DELETE FROM e2e_room_keys_versions WHERE user_id = ?", (user_id,))


def remove_help_seeker(txn: Any, user_id: str, now_ms: int) -> None:
    """Erasure: postcode, e-mail and the key backup go, the open enquiry is closed. The bare row stays so that the
    (deactivated) account can never count as a counsellor, even if an admin reactivated it."""
    txn.execute("UPDATE counselkit_enquiries SET closed_at = ? WHERE help_seeker = ? AND closed_at IS NULL",
                (now_ms, user_id))
    txn.execute("UPDATE counselkit_help_seekers SET postcode = NULL, email = NULL WHERE user_id = ?", (user_id,))
    drop_key_backup(txn, user_id)


def claim_help_seeker(txn: Any, user_id: str, now_ms: int, consent: str, postcode: str | None,
                      email: str | None) -> bool:
    """Recorded *before* the account exists (an account without its row would count as a counsellor); False when
    the name is claimed already, so that a concurrent registration never overwrites another's data."""
    txn.execute("INSERT INTO counselkit_help_seekers (user_id, created_at, consent_version, postcode, email) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", (user_id, now_ms, consent, postcode, email))
    return txn.rowcount == 1


def drop_help_seeker(txn: Any, user_id: str) -> None:
    """Only for a registration that failed before the account was created."""
    txn.execute("DELETE FROM counselkit_help_seekers WHERE user_id = ?", (user_id,))


def reserve_enquiry(txn: Any, enquiry_id: str, help_seeker: str, topic: str | None, now_ms: int) -> bool:
    """Claim the help-seeker's one open enquiry before the room exists; False if one is open already."""
    txn.execute("INSERT INTO counselkit_enquiries (id, help_seeker, topic, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING", (enquiry_id, help_seeker, topic, now_ms))
    return txn.rowcount == 1


def set_room(txn: Any, enquiry_id: str, room_id: str) -> None:
    txn.execute("UPDATE counselkit_enquiries SET room_id = ? WHERE id = ?", (room_id, enquiry_id))


def drop_reservation(txn: Any, enquiry_id: str) -> None:
    txn.execute("DELETE FROM counselkit_enquiries WHERE id = ? AND room_id IS NULL", (enquiry_id,))


COLUMNS = "room_id, help_seeker, topic, created_at, counsellor, accepted_at, closed_at"


def _row(row: Any) -> dict[str, Any]:
    keys = COLUMNS.split(", ")
    return dict(zip(keys, row))


def enquiry_by_room(txn: Any, room_id: str) -> dict[str, Any] | None:
    txn.execute(f"SELECT {COLUMNS} FROM counselkit_enquiries WHERE room_id = ?", (room_id,))
    row = txn.fetchone()
    return _row(row) if row else None


def open_enquiries(txn: Any) -> list[dict[str, Any]]:
    txn.execute(f"SELECT {COLUMNS} FROM counselkit_enquiries WHERE room_id IS NOT NULL AND counsellor IS NULL "
                "AND closed_at IS NULL ORDER BY created_at")
    return [_row(r) for r in txn.fetchall()]


def enquiries_of_counsellor(txn: Any, counsellor: str) -> list[dict[str, Any]]:
    txn.execute(f"SELECT {COLUMNS} FROM counselkit_enquiries WHERE counsellor = ? AND closed_at IS NULL "
                "ORDER BY created_at", (counsellor,))
    return [_row(r) for r in txn.fetchall()]


def enquiries_of_help_seeker(txn: Any, help_seeker: str) -> list[dict[str, Any]]:
    txn.execute(f"SELECT {COLUMNS} FROM counselkit_enquiries WHERE help_seeker = ? AND room_id IS NOT NULL "
                "ORDER BY created_at DESC", (help_seeker,))
    return [_row(r) for r in txn.fetchall()]


def accept(txn: Any, room_id: str, counsellor: str, now_ms: int) -> bool:
    """Exactly one winner: the conditional UPDATE matches only while nobody accepted. Synapse runs transactions in
    REPEATABLE READ on PostgreSQL: a concurrent second UPDATE of the row waits for the first, fails with a
    serialization error (40001), and Synapse's runInteraction retries it — in a new snapshot, where it matches
    nothing (rowcount 0: CK_ALREADY_ACCEPTED)."""
    txn.execute("UPDATE counselkit_enquiries SET counsellor = ?, accepted_at = ? "
                "WHERE room_id = ? AND counsellor IS NULL AND closed_at IS NULL", (counsellor, now_ms, room_id))
    return txn.rowcount == 1


def hand_over(txn: Any, room_id: str, from_counsellor: str, to_counsellor: str) -> bool:
    txn.execute("UPDATE counselkit_enquiries SET counsellor = ? WHERE room_id = ? AND counsellor = ? "
                "AND closed_at IS NULL", (to_counsellor, room_id, from_counsellor))
    return txn.rowcount == 1


def close(txn: Any, room_id: str, counsellor: str, now_ms: int) -> bool:
    txn.execute("UPDATE counselkit_enquiries SET closed_at = ? WHERE room_id = ? AND counsellor = ? "
                "AND closed_at IS NULL", (now_ms, room_id, counsellor))
    return txn.rowcount == 1


def counsellors(txn: Any, server_name: str, service: str, staff_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Every local, non-deactivated, non-guest user that is neither the service, nor a help-seeker, nor one of the
    operator's short-lived accounts (localparts starting with one of `staff_prefixes`)."""
    txn.execute("SELECT name FROM users WHERE deactivated = 0 AND is_guest = 0 AND name <> ? "
                "AND name NOT IN (SELECT user_id FROM counselkit_help_seekers) ORDER BY name", (service,))
    suffix = ":" + server_name
    return [name for (name,) in txn.fetchall()
            if name.endswith(suffix) and not name[1:].startswith(staff_prefixes)]


# --- retention purge (docs/counselling.md#retention-purge) -----------------------------------------------------

def touch_activity(txn: Any, user_id: str, now_ms: int) -> None:
    """Record a help-seeker's activity; never moves it back (a delayed write must not make somebody look idle)."""
    txn.execute("INSERT INTO counselkit_activity (user_id, last_active_at) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET last_active_at = excluded.last_active_at "
                "WHERE counselkit_activity.last_active_at < excluded.last_active_at", (user_id, now_ms))


def purge_candidates(txn: Any, cutoff_ms: int, limit: int) -> list[tuple[str, bool]]:
    """(user ID, account still active) of every help-seeker idle since before cutoff_ms who still has something to
    purge: an account not yet deactivated, or enquiry rows (and so rooms). Idle means: the module's last record
    (or the registration) and Synapse's last request with any of the account's tokens (user_ips) are both older.
    A purged help-seeker has neither, so a second run finds nothing; one interrupted half-way is found again."""
    txn.execute(
        "SELECT h.user_id, COALESCE(u.deactivated, 1) FROM counselkit_help_seekers h "
        "LEFT JOIN counselkit_activity a ON a.user_id = h.user_id "
        "LEFT JOIN users u ON u.name = h.user_id "
        "WHERE COALESCE(a.last_active_at, h.created_at) < ? "
        "AND NOT EXISTS (SELECT 1 FROM user_ips i WHERE i.user_id = h.user_id AND i.last_seen >= ?) "
        "AND (COALESCE(u.deactivated, 1) = 0 "
        "     OR EXISTS (SELECT 1 FROM counselkit_enquiries e WHERE e.help_seeker = h.user_id)) "
        "ORDER BY h.user_id LIMIT ?", (cutoff_ms, cutoff_ms, limit))
    return [(user_id, not deactivated) for user_id, deactivated in txn.fetchall()]


def rooms_of_help_seeker(txn: Any, user_id: str) -> list[str]:
    txn.execute("SELECT room_id FROM counselkit_enquiries WHERE help_seeker = ? AND room_id IS NOT NULL "
                "ORDER BY created_at", (user_id,))
    return [room_id for (room_id,) in txn.fetchall()]


def drop_purged(txn: Any, user_id: str) -> None:
    """After the rooms are gone: the enquiry rows and the activity record go too; the help-seeker row keeps only
    user ID, registration time and consent version (docs/data-protection.md)."""
    txn.execute("DELETE FROM counselkit_enquiries WHERE help_seeker = ?", (user_id,))
    txn.execute("DELETE FROM counselkit_activity WHERE user_id = ?", (user_id,))
    txn.execute("UPDATE counselkit_help_seekers SET postcode = NULL, email = NULL WHERE user_id = ?", (user_id,))
    drop_key_backup(txn, user_id)
