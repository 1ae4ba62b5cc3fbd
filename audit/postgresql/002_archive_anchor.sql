-- privacy-router audit log, PostgreSQL store. Migration 002: retention by sealed archives, and the
-- writer column for the dashboard's per-writer view (audit/README.md "Retention").
--
-- `privacy-router audit archive --dsn OWNER_DSN` writes records 1..N (N = the size of a signed
-- checkpoint) to an archive file, then, in one transaction AS THE OWNER, moves the anchor to N and
-- deletes those rows. Only rows at or below the anchor can be deleted, by anyone: the DELETE
-- trigger and a DELETE row-security policy both check it; UPDATE and TRUNCATE stay refused. The
-- runtime role still holds no DELETE privilege (check_role() refuses to start if it does) and only
-- SELECT on the anchor, so the router itself can neither archive nor move the anchor.

-- Which router process appended the row (PRIVACY_ROUTER_AUDIT_WRITER_ID or the host name).
-- Informational, for the integrity page: NOT part of canon, so not covered by the chain.
ALTER TABLE {schema}.audit_log ADD COLUMN writer text;

CREATE TABLE {schema}.audit_anchor (
    id          smallint PRIMARY KEY CHECK (id = 1),
    seq         bigint   NOT NULL CHECK (seq >= 1),
    entry_hash  bytea    NOT NULL CHECK (octet_length(entry_hash) = 32),
    merkle      bytea    NOT NULL,
    checkpoint  text     NOT NULL,
    archive     text     NOT NULL
);

-- The anchor moves forward only, onto an existing row with that entry_hash, never onto the head
-- (one live row always remains, so the INSERT trigger keeps linking to a real row), and is never
-- removed.
CREATE FUNCTION {schema}.audit_anchor_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_anchor cannot be removed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (TG_OP = 'UPDATE' AND NEW.seq <= OLD.seq)
       OR NOT EXISTS (SELECT 1 FROM {schema}.audit_log WHERE seq = NEW.seq AND entry_hash = NEW.entry_hash)
       OR NEW.seq >= (SELECT max(seq) FROM {schema}.audit_log) THEN
        RAISE EXCEPTION 'audit_anchor only moves forward, onto an existing row below the head'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_anchor_guard BEFORE INSERT OR UPDATE OR DELETE ON {schema}.audit_anchor
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_anchor_check();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON {schema}.audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_reject();

-- Version 1 refused every DELETE; now only rows at or below the anchor may go.
CREATE OR REPLACE FUNCTION {schema}.audit_log_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log'
       AND OLD.seq <= COALESCE((SELECT seq FROM {schema}.audit_anchor WHERE id = 1), 0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE POLICY audit_log_delete_archived ON {schema}.audit_log FOR DELETE TO PUBLIC
    USING (seq <= COALESCE((SELECT seq FROM {schema}.audit_anchor WHERE id = 1), 0));

REVOKE ALL ON {schema}.audit_anchor FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.audit_anchor_check() FROM PUBLIC;
