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
// their memberships.
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
// [Service.Authenticate] is the password step of signing in. An unknown e-mail, a
// wrong password and a user who may not sign in get the same error
// ([ErrInvalidCredentials]) after the same work (a dummy hash for unknown users); the
// login log records the real reason. The tenant's IP allowlist is checked after the
// password is verified.
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
