package authn

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One generator (newToken) makes link tokens and session and pending sign-in secrets;
// each parser keeps its own refusal rules, spelled out here: a link token is refused
// with ErrTicketInvalid, a session secret with ok=false, for the same inputs.
func TestTokenParsersRefuseWhatTheyShould(t *testing.T) {
	tenant := uuid.New()
	link, linkHash, err := newLinkToken(rand.Reader, PurposeInvitation, tenant)
	require.NoError(t, err)
	sess, sessHash, err := newSessionToken(rand.Reader, sessionPrefix, tenant)
	require.NoError(t, err)

	// Round trip: the tenant comes back, and the hash is SHA-256 of the random part.
	gotTenant, gotHash, err := ParseLinkToken(PurposeInvitation, link.Reveal())
	require.NoError(t, err)
	assert.Equal(t, tenant, gotTenant)
	assert.Equal(t, linkHash, gotHash)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(link.Reveal(), tokenPrefix[PurposeInvitation]))
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(raw[16:]), gotHash)
	gotTenant, gotHash, ok := parseSessionToken(sessionPrefix, sess.Reveal())
	require.True(t, ok)
	assert.Equal(t, tenant, gotTenant)
	assert.Equal(t, sessHash, gotHash)

	// Deterministic with a given reader: the same bytes make the same secret.
	seed := bytes.Repeat([]byte{7}, tokenSecretLen)
	a, _, err := newToken(bytes.NewReader(seed), "x_", tenant)
	require.NoError(t, err)
	b, _, err := newToken(bytes.NewReader(seed), "x_", tenant)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	_, _, err = newToken(bytes.NewReader(seed[:5]), "x_", tenant)
	assert.Error(t, err, "a short random source is an error, never a weak secret")

	body := func(s, prefix string) string { return strings.TrimPrefix(s, prefix) }
	nilTenant := base64.RawURLEncoding.EncodeToString(make([]byte, 16+tokenSecretLen))
	for _, tc := range []struct {
		name string
		mut  func(prefix, body string) string
	}{
		{"empty", func(string, string) string { return "" }},
		{"prefix only", func(p, _ string) string { return p }},
		{"no prefix", func(_, b string) string { return b }},
		{"wrong prefix", func(_, b string) string { return "csxx_" + b }},
		{"one character short", func(p, b string) string { return p + b[:len(b)-1] }},
		{"one character long", func(p, b string) string { return p + b + "A" }},
		{"four characters long (three more bytes)", func(p, b string) string { return p + b + "AAAA" }},
		{"not base64url", func(p, b string) string { return p + "+" + b[1:] }},
		{"padded", func(p, b string) string { return p + b[:len(b)-2] + "==" }},
		{"nil tenant", func(p, _ string) string { return p + nilTenant }},
		{"very long", func(p, b string) string { return p + strings.Repeat(b, 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lp := tokenPrefix[PurposeInvitation]
			_, _, err := ParseLinkToken(PurposeInvitation, tc.mut(lp, body(link.Reveal(), lp)))
			assert.ErrorIs(t, err, ErrTicketInvalid, "link token")
			_, _, ok := parseSessionToken(sessionPrefix, tc.mut(sessionPrefix, body(sess.Reveal(), sessionPrefix)))
			assert.False(t, ok, "session secret")
		})
	}

	// Each parser takes only its own prefix: a link of another purpose, a pending
	// sign-in secret as a session, a session secret as a link.
	_, _, err = ParseLinkToken(PurposePasswordReset, link.Reveal())
	assert.ErrorIs(t, err, ErrTicketInvalid)
	_, _, ok = parseSessionToken(pendingPrefix, sess.Reveal())
	assert.False(t, ok)
	_, _, err = ParseLinkToken(PurposeInvitation, sess.Reveal())
	assert.ErrorIs(t, err, ErrTicketInvalid)
	_, _, err = ParseLinkToken(Purpose("unknown"), link.Reveal())
	assert.ErrorIs(t, err, ErrTicketInvalid)
}
