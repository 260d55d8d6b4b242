-- +goose Up
-- callshield 0019: the token rate limit (token.Service: Issue and Regenerate) reads a
-- user's newest token, revoked ones included (Store.LatestUserToken, and the condition
-- of Store.CreateTokenAfter), so that read is one index probe instead of a scan of
-- the tenant's tokens.

CREATE INDEX cs_tokens_user_created_idx ON cs_tokens (tenant_id, user_id, created_at, id);
