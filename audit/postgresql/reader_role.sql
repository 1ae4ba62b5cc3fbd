-- Grants for compliance tools (`privacy-router audit query|verify|checkpoint --dsn`): read only.
-- Applied by `privacy-router audit migrate --reader-role NAME`, as the owner; idempotent.
-- {schema} and {role} are replaced by quoted identifiers.
REVOKE ALL ON {schema}.audit_log FROM {role};
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT ON {schema}.audit_log TO {role};
GRANT SELECT ON {schema}.schema_migrations TO {role};
GRANT SELECT ON {schema}.audit_anchor TO {role};
