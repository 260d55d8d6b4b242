package authn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/internal/blocklist"
)

// 6.2.4 / 6.2.12: the shipped list holds (at least) the 10,000 most common passwords —
// internal/blocklist's tests prove it is zxcvbn's ranked list, in order — and blocks
// each of them whole and case-insensitively, after NFKC.
func TestCommonPasswordsBlocklist(t *testing.T) {
	ctx := context.Background()
	list := authn.CommonPasswords()
	ranked := blocklist.Ranked()
	require.GreaterOrEqual(t, len(ranked), 10_000)
	for i, w := range ranked[:10_000] {
		for _, variant := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			blocked, err := list.Blocked(ctx, authn.NewPassword(variant))
			require.NoError(t, err)
			if !blocked {
				t.Fatalf("rank %d %q (as %q) not blocked", i+1, w, variant)
			}
		}
	}

	tests := []struct {
		pw      string
		blocked bool
	}{
		{"password", true},
		{"PASSWORD", true},
		{"PassWord", true},
		{"ｐａｓｓｗｏｒｄ", true}, // full-width: NFKC makes it "password"
		{"ＰＡＳＳＷＯＲＤ", true},
		{"Michael", true}, // a name zxcvbn files under names, still a top-20 password
		{"iloveyou", true},
		{"password ", false}, // whole-password match: nothing is trimmed
		{"password-horse-battery", false},
		{"xk9#mQ2!vLp", false},
		{"", false},
	}
	for _, tt := range tests {
		blocked, err := list.Blocked(ctx, authn.NewPassword(tt.pw))
		require.NoError(t, err)
		assert.Equal(t, tt.blocked, blocked, "%q", tt.pw)
	}

	// Through the policy, in both modes: "P@ssw0rd" meets every class rule but is common.
	for _, mode := range []authn.PasswordMode{authn.ModeNIST, authn.ModeClasses} {
		err := authn.PasswordPolicy{Mode: mode}.Validate(ctx, authn.NewPassword("P@ssw0rd"), authn.PasswordContext{})
		var pe *authn.PasswordError
		require.ErrorAs(t, err, &pe, mode.String())
		_, ok := pe.Violation(authn.RuleBlocklisted)
		assert.True(t, ok, mode.String())
	}
}

// 6.2.12: a host plugs its own corpus (e.g. a k-anonymity breach client), alone or
// beside the built-in list; a corpus that cannot answer fails closed.
func TestBlocklistPluggable(t *testing.T) {
	ctx := context.Background()
	breached := authn.BlocklistFunc(func(_ context.Context, pw authn.Password) (bool, error) {
		return pw.Reveal() == "unicorn-rainbow-77", nil
	})
	pc := authn.PasswordContext{}

	onlyBreach := authn.PasswordPolicy{Blocklist: breached}
	assert.ErrorIs(t, onlyBreach.Validate(ctx, authn.NewPassword("unicorn-rainbow-77"), pc), authn.ErrWeakPassword)
	assert.NoError(t, onlyBreach.Validate(ctx, authn.NewPassword("password"), pc), "replaced: the built-in list is not consulted")

	both := authn.PasswordPolicy{Blocklist: authn.AnyBlocklist(authn.CommonPasswords(), nil, breached)}
	assert.ErrorIs(t, both.Validate(ctx, authn.NewPassword("unicorn-rainbow-77"), pc), authn.ErrWeakPassword)
	assert.ErrorIs(t, both.Validate(ctx, authn.NewPassword("password"), pc), authn.ErrWeakPassword)
	assert.NoError(t, both.Validate(ctx, authn.NewPassword("unicorn-rainbow-78"), pc))

	// The blocklist receives the context.
	type key struct{}
	var seen any
	spy := authn.BlocklistFunc(func(ctx context.Context, _ authn.Password) (bool, error) {
		seen = ctx.Value(key{})
		return false, nil
	})
	require.NoError(t, authn.PasswordPolicy{Blocklist: spy}.Validate(context.WithValue(ctx, key{}, "req-1"), authn.NewPassword("unicorn-rainbow-78"), pc))
	assert.Equal(t, "req-1", seen)

	// Unavailable: no password is accepted, and the error is not a weak-password one.
	down := errors.New("breach service timeout")
	broken := authn.BlocklistFunc(func(context.Context, authn.Password) (bool, error) { return false, down })
	for _, p := range []authn.PasswordPolicy{{Blocklist: broken}, {Blocklist: authn.AnyBlocklist(authn.CommonPasswords(), broken)}} {
		err := p.Validate(ctx, authn.NewPassword("unicorn-rainbow-78"), pc)
		assert.ErrorIs(t, err, authn.ErrBlocklistUnavailable)
		assert.ErrorIs(t, err, down)
		assert.False(t, errors.Is(err, authn.ErrWeakPassword))
	}
}
