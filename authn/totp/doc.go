// Package totp is the algorithmic core of two-factor authentication with an
// authenticator app (Google Authenticator, Microsoft Authenticator, and any app
// following RFC 6238): secrets, codes, verification with replay protection, recovery
// codes, and sealing secrets for storage. It stores nothing itself: the enrollment and
// sign-in flows, and the store that keeps what is listed below, come with the authn
// service.
//
// # Built on github.com/pquerna/otp
//
// The library does the standard work: key generation ([GenerateKey], its
// totp.Generate with a crypto/rand reader and 160-bit secrets), the otpauth:// key URI
// and its QR code ([Key.URI], [Key.PNG], its otp.Key.Image), and the code of one time
// step ([HOTP], [Code], [Verify]: its hotp.GenerateCodeCustom). This package keeps what
// the library does not give: the ordered step window that returns the matched step
// (replay protection needs it; pquerna's totp.ValidateCustom only says yes or no),
// constant-time work whatever matches, redacting types ([Secret], [Key]: pquerna's
// otp.Key.String() returns the secret, so an otp.Key never leaves this package),
// sealing, and recovery codes. The RFC 4226/6238 vectors, an oathtool cross-check and
// a differential test against pquerna's own TOTP path hold the result.
//
// # Enrollment
//
//  1. [GenerateKey] makes a 160-bit secret from crypto/rand (ASVS 6.5.3) with its key
//     URI for the issuer (product or tenant) and account (e-mail).
//  2. [Key.PNG] is the QR code to show, [Key.URI] the URI it holds, and
//     [Secret.Base32] the key to type in by hand. Show them once; never log them.
//  3. The user types the first code; [Verify] it (with lastStep 0) to be sure the app
//     holds the right key, before 2FA is turned on.
//  4. [Sealer.Seal] encrypts the secret with AES-256-GCM, bound by [BindAAD] to the
//     tenant, the user and the Config.
//  5. [NewRecoveryCodes] makes a set of recovery codes to show once ([RecoveryCode.Reveal]);
//     [HashRecoveryCode] gives what to store.
//
// # Sign-in
//
//  1. [Sealer.Open] the stored secret with the same [BindAAD].
//  2. [Verify] the typed code at the server's clock (ASVS 6.5.8) with the stored last
//     step. It accepts the current step ±1 (30-second steps, ASVS 6.5.5) and only a
//     step after the last accepted one, so a code works once (ASVS 6.5.1): a second
//     use, and an older code after a newer one, fail with [ErrReplayed].
//  3. Store the returned step with a conditional update (… SET last_step = $step
//     WHERE … AND last_step < $step): of two concurrent sign-ins with the same code,
//     on one instance or several, only the one whose update changes a row succeeds.
//
// A recovery code instead: [MatchRecoveryCode] against the stored hashes, then delete
// the matched hash, again conditionally, so each code works once.
//
// # What the caller stores, per user
//
//   - the sealed secret ([Sealer.Seal]'s output) and the [Config] it was enrolled
//     with (the zero Config for the defaults);
//   - the last accepted step (an int64, from [Verify]);
//   - the SHA-256 hashes of the unused recovery codes ([HashRecoveryCode]).
//
// Never the secret in clear, the otpauth URI, a code or a recovery code. [Secret] and
// [RecoveryCode] redact themselves in fmt, slog and JSON output, and no error of this
// package contains a code or a secret (ASVS 16.2.5).
//
// # Parameters
//
// The defaults (SHA-1, 6 digits, 30 s, ±1 step) are the only parameters every
// authenticator app honours; see [Config]. HMAC-SHA-1 remains sound for HOTP: its use
// here depends on HMAC being a PRF, which collisions in SHA-1 do not affect.
package totp
