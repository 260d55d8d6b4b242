-- +goose Up
-- callshield 0017: PostgreSQL only (session notifications on TRUNCATE, see the
-- PostgreSQL migration of the same number); SQLite has no notifications. The number
-- is kept in both dialects.

SELECT 1;
