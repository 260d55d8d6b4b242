// Package secretfmt is the one definition of the prefixes that mark callshield's own
// secrets (one-time links, API tokens, sessions, pending sign-ins, sign-in flows), and
// the detection of secrets in text that the audit log, its slog bridge and anything
// else that records text rely on: a value holding one of these prefixes followed by a
// token body, or shaped like a JSON Web Token, is a secret wherever it appears.
//
// A package that mints a secret takes its prefix from here, so that a new kind of
// secret is recognised everywhere the day it is added; TestEveryPrefixIsListed fails
// when a "cs…_" literal appears in the module's code without being listed.
package secretfmt

import "strings"

// The prefixes of callshield's secrets. None is the prefix of another, so a secret
// scanner can tell them apart.
const (
	Invitation    = "csinv_" // invitation links (authn)
	PasswordReset = "csrst_" // password-reset links (authn)
	APIToken      = "cst_"   // API tokens (token)
	Session       = "cssn_"  // session IDs (authn)
	PendingSignIn = "cspsi_" // a sign-in waiting for its second factor (authn)
	IdentityFlow  = "csflw_" // linked-identity (OAuth/OIDC) sign-in flows (authn)
	// IdentityConfirm marks the mailed links that confirm a linked identity (authn).
	IdentityConfirm = "csidc_"
	// ShimSession marks the session cookies of examples/server's interim session
	// shim; drop it when the example uses authn's sessions (Session).
	ShimSession = "css_"
)

// prefixes lists every constant above.
var prefixes = [...]string{Invitation, PasswordReset, APIToken, Session, PendingSignIn, IdentityFlow, IdentityConfirm, ShimSession}

// Prefixes returns the prefixes of callshield's secrets, for a secret scanner's rules.
func Prefixes() []string { return append([]string(nil), prefixes[:]...) }

// minBody is the fewest token characters after a prefix for the text to be taken for
// a secret: shorter runs ("cst_x" in prose) are not one, while a secret cut short in
// a log line still is.
const minBody = 8

// minJWTHeader is the fewest base64url characters of a JWT's header after "eyJ".
const minJWTHeader = 8

// Contains reports whether s holds a callshield secret or a JSON Web Token anywhere:
//   - one of the prefixes followed by at least 8 base64url characters
//     (A-Z a-z 0-9 - _), whatever comes before it ("/accept/csinv_…", "t=cst_…");
//   - "eyJ" (the base64url of `{"`, with which every JWS and JWE header begins),
//     at least 8 more base64url characters and a dot: a signed or encrypted JWT, or
//     one with its signature cut off.
//
// It errs on the side of redaction: a value that merely looks like a secret is
// treated as one. It does not allocate.
func Contains(s string) bool {
	for i := 0; i+3 <= len(s); {
		k := strings.IndexAny(s[i:], "ce")
		if k < 0 {
			return false
		}
		i += k
		if s[i] == 'c' {
			for _, p := range prefixes {
				if strings.HasPrefix(s[i:], p) && tokenRun(s[i+len(p):]) >= minBody {
					return true
				}
			}
		} else if strings.HasPrefix(s[i:], "eyJ") {
			n := tokenRun(s[i+3:])
			if n >= minJWTHeader && i+3+n < len(s) && s[i+3+n] == '.' {
				return true
			}
		}
		i++
	}
	return false
}

// tokenRun returns the number of base64url characters at the start of s.
func tokenRun(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return i
		}
	}
	return len(s)
}
