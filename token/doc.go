// Package token issues and verifies per-user API tokens, authenticates HTTP requests
// with them, logs every call and counts their daily usage.
//
// # Tokens
//
// A user holding the integrations right (access.Integrations) gets one API token
// ([Service.Issue]); regenerating ([Service.Regenerate]) replaces it in one store
// transaction, at most once per [Options.RegenerateInterval] (a minute by default;
// sooner is [ErrRegenerateTooSoon], HTTP 429), and the user or a user manager revokes
// it ([Service.Revoke]), without limit. A user has at most one active token: the store
// settles races, also between app instances.
// Revoked and expired tokens stay, for the reports, until [Service.Purge] (a periodic
// job of the host) deletes those dead for longer than its retention.
// The token is shown once, as a [Secret] that redacts itself in every printed, logged
// or marshalled form; only the SHA-256 of its random part is stored.
//
// The format is "cst_", 55 base62 characters (the tenant ID and 192 random bits from
// crypto/rand) and a 6-character base62 CRC-32 of them: secret scanners recognise the
// prefix, and [Parse] refuses a mistyped or foreign string (any single changed
// character) before any store lookup. The tenant travels in the token so that its
// lookup is tenant-scoped like every other read.
//
// # Acting as the user, never with more
//
// A token acts as its user with their current rights: every request is judged
// against the user's status (through [UserStatus]: package token does not import
// authn; use [StatusFunc] with authn.Service.Status), their current role and
// projects, and the tenant's IP allowlist unless their role ignores it. Removing the
// right, a project membership or blocking the user applies on the next request on
// every instance. [Service.EndUserSessions] has the shape of authn.SessionEnder, so
// that blocking or removing a user revokes their token too.
//
// Wired that way (authn.Options.Sessions), a password reset, and a password change
// that ends the other sessions (authn.Service.ChangePassword with endOtherSessions, as
// ChangePasswordAndRotate), revoke the user's API token as well: authn ends the user's
// other sessions through the same ender, and a token is not a session it can spare
// (except names a session, never a token). This is deliberate: whoever learnt the old password may
// have issued a token with it. An integration must get a new token after its user's
// password changes; the revocation is in the audit log as token.revoke with reason
// "sessions_ended".
//
// # HTTP
//
// [Service.Middleware] reads "Authorization: Bearer" only, refuses tokens in URLs and
// forms, answers every unusable token with one generic 401, and puts the
// access.Subject (with the token ID) in the request context, so that
// access.Guard.Require and Policy.Scope work behind it unchanged. Every request the
// token authenticates (allowed or denied by the policy) is one action-log event
// through the batched audit.Writer. Requests refused because the token is revoked,
// expired or its user may not act are logged bounded: per token and process, one
// event per [Options.RefusalLogInterval] (a minute by default) and one
// [ActionRefusals] event counting the rest ([DetailRefusals]), so that whoever holds a
// dead token cannot grow the audit log at will; unknown and malformed tokens are not
// logged at all.
//
// # Usage
//
// Requests and errors (status 400 or more) are counted per token per day (UTC, or the
// tenant's zone from [Options.Location]) in memory and flushed in batches with
// additive upserts ([Store.AddUsage]), so several instances sum correctly;
// [Service.Close] flushes the rest. [Service.Usage] is the "API usage" report. Only
// requests the token authenticated count: a token's usage ends when it stops working
// (its refusals are in the action log, see above).
//
// # Performance and caching
//
// By default [Service.Verify] makes one store read by hash and one status lookup per
// request, and no write, with no cache: a revocation, an expiry or a blocked user apply
// on the next request on every instance. [Options.CacheTTL] adds an in-process cache of
// verified tokens (keyed by tenant and hash, never by the secret): revocations through
// the same Service apply at once (also against verifications racing with them);
// revocations and blocks made through another instance are seen within CacheTTL (at
// most [MaxCacheTTL], a minute: NewService refuses more); expiry and the whole policy
// decision (role, projects, allowlist, and a blocked user holding no right when authn
// shares the store) are still checked on every request. See the README for the
// benchmark against HMAC-SHA256.
package token
