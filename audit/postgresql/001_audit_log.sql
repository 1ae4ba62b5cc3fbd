-- privacy-router audit log, PostgreSQL store. Migration 001: the chained table and its guards.
--
-- Applied by `privacy-router audit migrate --dsn OWNER_DSN`, as the OWNER role, inside one
-- transaction; {schema} is replaced by the quoted schema name (audit.pg_schema). The router itself
-- connects as a different role that `--runtime-role` grants INSERT and SELECT only (runtime_role.sql).
--
-- Same chain as the SQLite store: `canon` holds the RFC 8785 bytes of the record exactly as hashed,
--     entry_hash = SHA-256(prev_hash || canon), prev_hash of seq 1 = 32 zero bytes.
-- `canon` is bytea on purpose, never jsonb: jsonb reorders keys, drops duplicate keys and rewrites
-- numbers (1.0 -> 1.0, 1e2 -> 100), so its text is not the hashed bytes (threats.md 1.4).
-- `seq` is assigned by the writer under pg_advisory_xact_lock (max+1), not by an identity column:
-- sequences are not gap-free, rolled-back transactions consume values (threats.md 1.4).
--
-- Three lines of defence, each tested (tests/audit/test_postgresql.py):
--   1. privileges: the runtime role holds INSERT and SELECT only (UPDATE, DELETE, TRUNCATE, upsert,
--      ALTER/DROP TRIGGER and session_replication_role are refused to it);
--   2. triggers refusing UPDATE, DELETE and TRUNCATE for everyone who has not disabled them, and an
--      INSERT trigger that only accepts the next link of the chain;
--   3. FORCE ROW LEVEL SECURITY with INSERT and SELECT policies only, so even the owner's UPDATE or
--      DELETE matches 0 rows (silently: threats.md 1.5 observed "UPDATE 0", so tests count rows).
-- The owner and superusers can still disable all three; the chain plus signed checkpoints kept
-- off the machine is what detects that (audit/README.md "Limits").

CREATE TABLE {schema}.audit_log (
    seq         bigint  PRIMARY KEY CHECK (seq >= 1),
    record_id   text    NOT NULL UNIQUE,
    ts          text    NOT NULL,
    record_type text    NOT NULL,
    request_id  text,
    tenant      text,
    action      text,
    canon       bytea   NOT NULL,
    prev_hash   bytea   NOT NULL CHECK (octet_length(prev_hash) = 32),
    entry_hash  bytea   NOT NULL CHECK (octet_length(entry_hash) = 32)
);

CREATE INDEX audit_log_ts ON {schema}.audit_log (ts);
CREATE INDEX audit_log_tenant_ts ON {schema}.audit_log (tenant, ts);
CREATE INDEX audit_log_request_id ON {schema}.audit_log (request_id);

CREATE FUNCTION {schema}.audit_log_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Only the next link of the chain may be inserted: seq = max+1, prev_hash = the head's entry_hash,
-- entry_hash = SHA-256(prev_hash || canon). PostgreSQL's sha256(bytea) exists since version 11.
-- Two racing inserts of the same seq are still separated by the primary key.
CREATE FUNCTION {schema}.audit_log_check_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
BEGIN
    SELECT seq, entry_hash INTO head_seq, head_hash
      FROM {schema}.audit_log ORDER BY seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;
    IF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash
       OR NEW.entry_hash <> sha256(NEW.prev_hash || NEW.canon) THEN
        RAISE EXCEPTION 'audit_log is append-only (seq must be max(seq)+1 and link to the head)'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_reject();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_reject();
CREATE TRIGGER audit_log_insert_next BEFORE INSERT ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_check_link();

REVOKE ALL ON {schema}.audit_log FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.audit_log_reject() FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.audit_log_check_link() FROM PUBLIC;

ALTER TABLE {schema}.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.audit_log FORCE ROW LEVEL SECURITY;
-- Policies for INSERT and SELECT only: there is no UPDATE or DELETE policy, so those match no row
-- for any role subject to RLS (the owner too, because of FORCE). Who may insert or select at all
-- is decided by the table privileges above; the policies do not widen them.
CREATE POLICY audit_log_insert ON {schema}.audit_log FOR INSERT TO PUBLIC WITH CHECK (true);
CREATE POLICY audit_log_select ON {schema}.audit_log FOR SELECT TO PUBLIC USING (true);
