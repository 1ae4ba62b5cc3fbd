-- privacy-router audit log, SQLite store. Schema version 2 (PRAGMA user_version).
-- Version 2 added the `writer` column, the `audit_anchor` table and the archive-only DELETE rule
-- (audit/README.md "Retention"); sqlite.py upgrades a version 1 file (upgrade_2.sql) before this runs.
--
-- One table, one hash chain. `canon` holds the RFC 8785 bytes of the record exactly as hashed:
--     entry_hash = SHA-256(prev_hash || canon), prev_hash of seq 1 = 32 zero bytes.
-- record_id .. action duplicate values from `canon` so they can be indexed; `privacy-router audit
-- verify` checks that they equal the canonical values.
--
-- The triggers make the table append-only for every connection that has not dropped them
-- (anyone with write access to the file can; only the chain plus an exported head detects that).
-- See docs in audit/README.md and reference/threats.md section 1.6.
-- The whole script runs inside one write transaction so that two processes opening a fresh file
-- at the same moment do not race each other.
BEGIN IMMEDIATE;

CREATE TABLE IF NOT EXISTS audit_log (
    seq         INTEGER PRIMARY KEY,
    record_id   TEXT    NOT NULL UNIQUE,
    ts          TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    request_id  TEXT,
    tenant      TEXT,
    action      TEXT,
    canon       BLOB    NOT NULL,
    prev_hash   BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash  BLOB    NOT NULL CHECK (length(entry_hash) = 32),
    -- Which process appended the row (store.writer_id()). Informational, for the dashboard's
    -- per-writer view: NOT part of canon, so not covered by the chain.
    writer      TEXT
) STRICT;

-- Where the live log starts once records 1..seq were sealed into a signed archive
-- (`privacy-router audit archive`). One row at most; it only moves forward, and only onto a row
-- that exists with that entry_hash, so rows can only be deleted behind a verified head.
CREATE TABLE IF NOT EXISTS audit_anchor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    entry_hash  BLOB    NOT NULL CHECK (length(entry_hash) = 32),
    merkle      BLOB    NOT NULL,
    checkpoint  TEXT    NOT NULL,
    archive     TEXT    NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant_ts ON audit_log (tenant, ts);
CREATE INDEX IF NOT EXISTS audit_log_request_id ON audit_log (request_id);

CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)');
END;

-- Version 1 refused every DELETE; version 2 lets only archived rows (seq <= the anchor) go.
DROP TRIGGER IF EXISTS audit_log_no_delete;
CREATE TRIGGER IF NOT EXISTS audit_log_delete_archived_only BEFORE DELETE ON audit_log
WHEN OLD.seq > COALESCE((SELECT seq FROM audit_anchor WHERE id = 1), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused: the row is not archived)');
END;

-- The anchor moves forward only, onto an existing row with that entry_hash, and never onto the
-- head (one live row always remains, so the INSERT rule below keeps linking to a real row).
CREATE TRIGGER IF NOT EXISTS audit_anchor_insert BEFORE INSERT ON audit_anchor
WHEN NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND entry_hash = NEW.entry_hash)
  OR NEW.seq >= (SELECT MAX(seq) FROM audit_log)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor must be an existing row below the head');
END;

CREATE TRIGGER IF NOT EXISTS audit_anchor_update BEFORE UPDATE ON audit_anchor
WHEN NEW.id <> OLD.id OR NEW.seq <= OLD.seq
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND entry_hash = NEW.entry_hash)
  OR NEW.seq >= (SELECT MAX(seq) FROM audit_log)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor only moves forward, onto an existing row below the head');
END;

CREATE TRIGGER IF NOT EXISTS audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor cannot be removed');
END;

-- SQLite trap (threats.md 1.6, observed on 3.40.1): INSERT OR REPLACE / REPLACE delete the
-- conflicting row WITHOUT firing the DELETE trigger unless PRAGMA recursive_triggers=ON, which a
-- foreign connection will not set. A BEFORE INSERT trigger runs before conflict resolution, so
-- requiring seq = max(seq)+1 refuses a replace onto an existing seq, and the record_id check
-- refuses a replace that would evict an older row through the UNIQUE record_id.
CREATE TRIGGER IF NOT EXISTS audit_log_insert_next BEFORE INSERT ON audit_log
WHEN NEW.seq IS NULL
  OR NEW.seq <> (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
  OR EXISTS (SELECT 1 FROM audit_log WHERE record_id = NEW.record_id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (seq must be max(seq)+1, record_id new)');
END;

PRAGMA user_version = 2;

COMMIT;
