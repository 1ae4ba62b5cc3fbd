-- Grants for the role the router runs as: read and append, nothing else.
-- Applied by `privacy-router audit migrate --runtime-role NAME` after the numbered migrations, as
-- the owner; idempotent. {schema} and {role} are replaced by quoted identifiers.
-- The explicit REVOKE undoes any wider grant given by hand earlier; the router's start-up check
-- (`check_role()`) refuses to run if UPDATE, DELETE or TRUNCATE is still held some other way.
REVOKE ALL ON {schema}.audit_log FROM {role};
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT ON {schema}.audit_log TO {role};
GRANT SELECT ON {schema}.schema_migrations TO {role};
-- The INSERT trigger runs with the inserting role's rights and calls this function.
GRANT EXECUTE ON FUNCTION {schema}.audit_log_check_link() TO {role};
-- The archive anchor (migration 002): read to verify the live log from it, never written.
REVOKE ALL ON {schema}.audit_anchor FROM {role};
GRANT SELECT ON {schema}.audit_anchor TO {role};
