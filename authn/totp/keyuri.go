package totp

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeyURI returns the otpauth:// URI to show as a QR code at enrollment, in the Key Uri
// Format of the google-authenticator wiki:
//
//	otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// issuer names the product or tenant ("CallShield", "Acme Call Center") and account the
// user (usually the e-mail address); the app lists the entry as both. The label and
// the issuer parameter are percent-escaped, every byte but the RFC 3986 unreserved
// characters (and '@' in the label, as in the format's examples): a space is %20,
// never '+', which some apps show literally, and a '+' is %2B, which apps decoding the
// label as a form would read as a space. The issuer goes in both the label and the issuer
// parameter, as the format recommends for old and new apps alike.
//
// The format splits the label at its colon after decoding it, so neither name may hold
// a colon, escaped or not: KeyURI refuses one, as it refuses an empty name, invalid
// UTF-8 and control characters, with [ErrInvalidLabel]. It also fails with a
// [ConfigError] for an invalid c and [ErrNoSecret] for the zero Secret. The URI
// contains the secret: show it once, never log or store it.
//
// KeyURI refuses a colon rather than escaping it because no escaping survives the
// split, and silently changing how an account is listed in the user's app would be
// worse than failing.
func KeyURI(issuer, account string, s Secret, c Config) (string, error) {
	c, err := c.resolved()
	if err != nil {
		return "", err
	}
	if s.IsZero() {
		return "", ErrNoSecret
	}
	if !validLabel(issuer) || !validLabel(account) {
		return "", ErrInvalidLabel
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(labelEscape(issuer))
	b.WriteByte(':')
	b.WriteString(labelEscape(account))
	b.WriteString("?secret=")
	b.WriteString(s.Base32())
	b.WriteString("&issuer=")
	b.WriteString(queryEscape(issuer))
	b.WriteString("&algorithm=")
	b.WriteString(string(c.Algorithm))
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(c.Digits))
	b.WriteString("&period=")
	b.WriteString(strconv.FormatInt(int64(c.Period.Seconds()), 10))
	return b.String(), nil
}

// validLabel reports whether name can be an issuer or account name.
func validLabel(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r == ':' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// labelEscape escapes one part of the label: as queryEscape, with '@' kept, so that
// the e-mail address stays readable in the URI (url.PathEscape would leave '+', '&'
// and '=' as they are, which some apps' parsers misread).
func labelEscape(s string) string {
	return strings.ReplaceAll(queryEscape(s), "%40", "@")
}

// queryEscape escapes a query value with %20 for spaces. url.QueryEscape writes '+',
// which some authenticator apps display as is; its own '+' is already %2B, so the
// replacement cannot be confused with one.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
