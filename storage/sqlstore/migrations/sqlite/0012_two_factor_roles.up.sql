-- +goose Up
-- callshield 0012: the roles whose members must sign in with a second factor
-- (authn.Settings.RequireTwoFactorRoles): role IDs, sorted, comma-separated; '' for none.

ALTER TABLE cs_authn_settings ADD COLUMN require_two_factor_roles TEXT NOT NULL DEFAULT '';
