// Package authn manages accounts: invitations, passwords, sign-in and the user
// lifecycle, for every tenant a process serves.
//
// # Accounts and invitations
//
// Users are invited by e-mail ([Service.Invite]) with their role and projects fixed at
// invitation. The mailed link carries 256 random bits ([LinkToken]); only its SHA-256 is
// stored, bound to tenant, user, e-mail and purpose. It is valid for 7 days (per-tenant
// [Settings]), used at most once even when two app instances race (the store consumes
// it with a conditional write), and voided by a re-invitation or a revocation.
// [Service.AcceptInvitation] checks the chosen password against the tenant's policy and
// then, in one store transaction, marks the link used, activates the user and creates
// their memberships. [Service.CleanupSessions], a periodic job, removes the links that
// have expired (used or not) and the two-factor enrolments that expired unconfirmed.
//
// # Passwords
//
// [PasswordPolicy] has two modes: NIST (length, blocklist and context words, no
// composition rules; minimum 15 characters when the password is the only factor, 8
// otherwise; at least 64 accepted) and Classes (the seed product's rule: digits, upper
// and lower case, symbols). Both always check the shipped blocklist of common passwords
// and context words (tenant name, e-mail local part, product name), and report every
// failed rule in a [PasswordError] with stable codes the host translates.
//
// Passwords are normalised once (NFKC) and otherwise verified exactly as received. The
// [Hasher] uses argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1) as the floor,
// stores them in the PHC string, rehashes on sign-in when they rise, verifies bcrypt
// hashes imported from another system (and rehashes them), and runs a bounded number of
// hashes at once, each slot in one reused buffer, so that hashing never holds more than
// Slots × m memory: past its queue a caller gets [ErrBusy] instead of the process
// running out of memory.
//
// [Password] and [LinkToken] are secret types: they redact themselves in fmt, slog and
// JSON output. Audit events record that a password changed, never what it is.
//
// # Sign-in
//
// [Service.SignIn] is the one flow of every first factor: the factor (the password
// step, [Service.Authenticate]), throttling, the user's status, the tenant's IP
// allowlist (unless the role ignores it), then either a [PendingSignIn] when the user
// has a second factor ([Service.CompleteSignIn] completes it) or a new [Session]. An
// unknown e-mail, a wrong password and a user who may not sign in get the same error
// ([ErrInvalidCredentials]) after the same work (a dummy hash for unknown users); the
// login log records the real reason. From an address outside the tenant's allowlist
// every failed attempt is [ErrIPNotAllowed], whatever was wrong, so the allowlist is no
// oracle for password guesses; only a right password of a role that ignores the
// allowlist signs in from there.
//
// # Sessions
//
// A session's secret ([SessionToken], 256 bits from crypto/rand, tenant ID in clear)
// is given to the client once, in a cookie ([Cookie]: "__Host-" prefix, Secure,
// HttpOnly, SameSite=Lax); only its SHA-256 is stored. Every sign-in issues a new
// secret (a value the client had before is never promoted: no fixation), and
// [Service.RotateSession] replaces it at a privilege change, keeping the absolute
// deadline. Sessions end after the tenant's idle timeout (default 30 minutes) and
// absolute lifetime (default 12 hours, [SessionSettings]), at logout, and when the
// user is blocked, archived, removed or changes or resets their password; every end
// is a "session.end" event with who ended it and why.
//
// [Service.Middleware] authenticates requests. A request whose session is not cached
// costs one indexed read: the session by (tenant, secret hash) with its user's status
// and the tenant's idle timeout (the SQL adapter keeps copies of both in the session
// row, written by the transactions that change them, so the read is one row of one
// table and never out of step). The compiled policy is taken from the [access.Engine]
// cache: on the memory store and SQLite the lookup also reads the policy version, and
// the cache is used when it is at that version; on PostgreSQL the engine's change
// listener (storage/pglisten) vouches for the cache without a round trip, and without
// a healthy listener the engine reads the version (a second round trip).
//
// The session cache ([Options.SessionCache], on by default) serves a session's
// repeat requests without that read, and only while a change feed vouches that every
// change of a cached answer reaches it: the memory store announces its own changes
// synchronously ([SessionFeed]: exact); on PostgreSQL, pglisten given the Service
// passes on the notifications migration 0015's triggers send in every transaction
// that ends a session or changes what its lookup returns, and the cache is trusted
// only for the engine's ListenLease (default 250 ms) after each heartbeat that came
// back through the same channel. So a block, a logout or an ended session on any
// instance sharing the database stops the session everywhere when its notification
// arrives (measured p50 0.2 ms between two instances), and never later than the
// lease once a listener stalls; a listener that fails empties the cache. A read that
// raced an announcement is never cached, a cached session that looks idle, ended or
// re-assigned is read again before anything is decided, and a touch refreshes the
// cached copy. SQLite has no feed, so there every request reads its session (a local
// read). The
// session's last request (time, address, browser, path) is written at most once per
// TouchInterval (default 30 s) per session, with a conditional UPDATE so that several
// instances write once between them; the idle timeout is therefore exact to within
// one interval. Cross-origin state-changing requests are refused by Go's
// http.CrossOriginProtection before the session is read.
//
// # Linked identities
//
// A user may link an account at Google, Facebook or any OpenID Connect issuer
// ([IdentityProvider]; package authn/oidc implements them) from their profile and then
// sign in with it. authn speaks no OAuth itself, so a host without social sign-in
// compiles none; it owns what decides who signs in:
//
//   - Linking ([Service.StartLink], [Service.CompleteLink]) needs a user signed in with a
//     session. Each authorization-code flow has a 256-bit secret the browser keeps in a
//     short-lived cookie; the state, nonce and PKCE verifier are derived from it (HMAC),
//     and only its SHA-256 is stored, with the flow's purpose, provider, session and
//     user and a 10-minute expiry. The callback consumes the flow (single use, before
//     the code is redeemed), checks the state in constant time and that the session and
//     user are the ones that started it, and has the provider redeem the code with the
//     verifier and verify the ID token.
//   - A new identity is pending until the user opens the link mailed to their account's
//     address ([Service.ConfirmIdentity]: hashed, single use, 24 hours); a pending
//     identity does not sign in.
//   - Identities are keyed by (issuer, subject), never by e-mail, and nothing is ever
//     linked because an e-mail matches: the provider's address is kept for display only.
//     One (issuer, subject) belongs to at most one user of a tenant, settled by the store.
//   - [Service.Unlink] keeps a way to sign in (a password or another confirmed
//     identity); [Service.RemoveIdentity] lets a user manager remove another user's
//     identities (manage-above rule). Every change is in the change log, without tokens.
//   - Provider tokens are not kept unless IdentityOptions.TokenSealer is set; then the
//     refresh token is sealed with AES-256-GCM, bound to tenant, user and identity, and
//     replaced when a sign-in brings a new one ([Service.IdentityToken] opens it).
//   - [Service.SignInWithIdentity] is the password's flow with another first factor:
//     throttling, status, allowlist, second factor, session. An unknown or pending
//     identity is [ErrInvalidCredentials], as a wrong password is.
//
// # Throttling
//
// Failed attempts of every secret-checking path (password, re-authentication, second
// factors, linked identities, one-time links) are counted in the store, shared by all
// instances: per account (a lock after the tenant's LockThreshold, default 10, at most
// 100, for LockDuration, default 15 minutes, lifting by itself or by [Service.Unlock]),
// per account and address (an IPv6 client by its /64: an escalating delay from the
// second failure, and a lock at half the threshold) and per address. Attempts refused
// by a counter never count against the account, so one address by itself cannot lock
// a victim out. A refused attempt answers exactly as a wrong password, after the same
// work. The rules in full are in throttle.go; [Service.CleanupSessions] removes stale
// counters.
//
// # Lifecycle
//
// [Service.Block] turns access off while keeping the user's data for reports;
// [Service.Unblock] turns it on again; [Service.Archive] puts a blocked user aside, and
// [Service.Purge] deletes archived users once the tenant's retention period has passed;
// [Service.Remove] excludes a user from the company at once. Deleted users become
// tombstones without personal data, and every lookup of them returns [ErrUserDeleted].
// Nobody manages a user whose role holds rights they lack, or themselves.
//
// # Two-factor
//
// Users add an authenticator app (Google or Microsoft Authenticator, any RFC 6238 app)
// as a second factor. [Service.StartTwoFactor] ("Connect", in a signed-in session that
// re-authenticated within the last few minutes) returns the QR code, the otpauth URI
// (issuer: the tenant's name, account: the e-mail) and the secret for typing in; the
// secret is kept only sealed (Options.TwoFactorSealer, AES-256-GCM bound to tenant and
// user) until [Service.ConfirmTwoFactor] turns two-factor on with the app's first code.
// Confirmation records that code's time step as used, makes 10 recovery codes to show
// once (stored as SHA-256 hashes), writes a change-log event without secrets, and gives
// the session a new secret. From then on sign-in owes a second factor: a TOTP code
// (each time step accepted once per user, by a conditional update of the last used
// step, so two requests with one code never both succeed, on one instance or many) or
// a recovery code (each deleted by a conditional delete when used). Failed codes count
// in the second-factor throttle. [Service.DisableTwoFactor] turns it off (one's own:
// edit profile and re-authentication; another user's: user management, never above
// the actor); [Service.RegenerateRecoveryCodes] voids the old set;
// [Service.TwoFactorStatusOf] and User.TwoFactor in [Service.Users] show who has it.
// Without Options.TwoFactorSealer two-factor is unavailable
// ([ErrTwoFactorNotConfigured]), and a user who has it cannot complete a sign-in
// (fail closed). The algorithms are in authn/totp, on github.com/pquerna/otp.
//
// Every change is checked against the acting subject's rights (access), and written
// with its change-log event in one store transaction.
package authn
