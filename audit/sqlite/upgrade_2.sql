-- privacy-router audit log, SQLite store: upgrade of a version 1 file to version 2.
-- Run by sqlite.py inside BEGIN IMMEDIATE, only while PRAGMA user_version reads 1; schema.sql then
-- creates the anchor table and the new triggers and sets the version to 2.
ALTER TABLE audit_log ADD COLUMN writer TEXT;
