-- +goose Up
-- callshield 0020: audit chain key IDs, for rotating the chain key (audit.Chain.Keys).
--
-- Each event and each retention checkpoint records the ID of the ring key its link or
-- seal was computed with. Rows stored before this migration get key ID 1: the ID of
-- the single audit.Chain.Key they were linked with (audit.LegacyKeyID), and the rows
-- of an unkeyed chain get it too; audit.Verify accepts the encoding of before key IDs
-- for key ID 1 only (see its doc). New rows always name their key ID; the default stays
-- so that an instance of the previous release writing during a rolling upgrade stores
-- rows that still verify.
ALTER TABLE cs_audit_events ADD COLUMN key_id INTEGER NOT NULL DEFAULT 1
    CHECK (key_id >= 0 AND key_id <= 4294967295);
ALTER TABLE cs_audit_checkpoints ADD COLUMN key_id INTEGER NOT NULL DEFAULT 1
    CHECK (key_id >= 0 AND key_id <= 4294967295);
