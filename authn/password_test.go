package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn"
)

const secretPassword = "Tr0ub4dor&3-zebra-kumquat"

// A Password never shows its value through fmt, log/slog or encoders, alone or inside
// structs (exported or unexported fields, values or pointers).
func TestPasswordRedaction(t *testing.T) {
	pw := authn.NewPassword(secretPassword)
	require.Equal(t, secretPassword, pw.Reveal())

	type exported struct {
		Email    string
		Password authn.Password
	}
	type unexported struct {
		email string
		pw    authn.Password
	}
	values := map[string]any{
		"value":              pw,
		"pointer":            &pw,
		"exported field":     exported{"ann@example.com", pw},
		"exported field ptr": &exported{"ann@example.com", pw},
		"unexported field":   unexported{"ann@example.com", pw},
		"unexported ptr":     &unexported{"ann@example.com", pw},
		"slice":              []authn.Password{pw},
		"map":                map[string]authn.Password{"pw": pw},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3s"} {
				out := fmt.Sprintf(verb, v)
				assertNoSecret(t, out, verb)
			}
			assertNoSecret(t, fmt.Sprint(v), "Sprint")
			assertNoSecret(t, fmt.Sprintln(v), "Sprintln")

			var jsonBuf, textBuf bytes.Buffer
			slog.New(slog.NewJSONHandler(&jsonBuf, nil)).Info("login", "pw", v, slog.Any("any", v), slog.Group("g", "pw", v))
			slog.New(slog.NewTextHandler(&textBuf, nil)).Info("login", "pw", v, slog.Any("any", v), slog.Group("g", "pw", v))
			assertNoSecret(t, jsonBuf.String(), "slog JSON")
			assertNoSecret(t, textBuf.String(), "slog text")

			if b, err := json.Marshal(v); err == nil {
				assertNoSecret(t, string(b), "json")
			}
			if b, err := xml.Marshal(struct{ V any }{v}); err == nil {
				assertNoSecret(t, string(b), "xml")
			}
		})
	}

	assert.Equal(t, "[REDACTED]", pw.String())
	assert.Equal(t, "[REDACTED]", pw.GoString())
	assert.Equal(t, "[REDACTED]", fmt.Sprintf("%v", pw))
	b, err := json.Marshal(exported{Password: pw})
	require.NoError(t, err)
	assert.JSONEq(t, `{"Email":"","Password":"[REDACTED]"}`, string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "pw", pw)
	assert.Contains(t, buf.String(), `"pw":"[REDACTED]"`)
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "pw", pw)
	assert.Contains(t, buf.String(), `pw=[REDACTED]`)
}

func assertNoSecret(t *testing.T, out, how string) {
	t.Helper()
	assert.NotContains(t, out, secretPassword, how)
	assert.NotContains(t, out, "zebra", how)
	assert.NotContains(t, strings.ToLower(out), fmt.Sprintf("%x", "zebra"), how)
}

// A request body decodes straight into a normalised Password.
func TestPasswordUnmarshal(t *testing.T) {
	var req struct {
		Email    string         `json:"email"`
		Password authn.Password `json:"password"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"email":"a@b.c","password":"ｐａｓｓ ﬁ"}`), &req))
	assert.Equal(t, "pass fi", req.Password.Reveal())
	assert.True(t, req.Password.Equal(authn.NewPassword("pass fi")))
}

func TestPasswordNormalisation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ﬁsh", "fish"},
		{"１２３", "123"},
		{"cafe\u0301", "caf\u00e9"},
		{"Ⅻ", "XII"},
		{"  spaces kept  ", "  spaces kept  "},
		{"CaSe KePt", "CaSe KePt"},
		{"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, authn.NewPassword(tt.in).Reveal(), "%q", tt.in)
	}
	assert.True(t, authn.Password{}.IsZero())
	assert.True(t, authn.NewPassword("").IsZero())
	assert.False(t, authn.NewPassword(" ").IsZero())
	assert.False(t, authn.NewPassword(strings.Repeat("a", 1<<20)).IsZero())
	assert.Equal(t, "", authn.NewPassword(strings.Repeat("a", 1<<20)).Reveal(), "oversized input is dropped")

	assert.True(t, authn.NewPassword("ﬁ").Equal(authn.NewPassword("fi")))
	assert.False(t, authn.NewPassword("pass").Equal(authn.NewPassword("PASS")))
	assert.False(t, authn.NewPassword(strings.Repeat("a", 1<<20)).Equal(authn.NewPassword(strings.Repeat("a", 1<<20))))
}

// policyCtx is the context of most policy tests.
var policyCtx = authn.PasswordContext{TenantName: "Acme Call Center", Email: "john.smith@example.com"}

func validate(t *testing.T, p authn.PasswordPolicy, pw string, pc authn.PasswordContext) *authn.PasswordError {
	t.Helper()
	err := p.Validate(context.Background(), authn.NewPassword(pw), pc)
	if err == nil {
		return nil
	}
	var pe *authn.PasswordError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, authn.ErrWeakPassword)
	assert.NotContains(t, err.Error(), pw, "the message never contains the password")
	return pe
}

func rules(pe *authn.PasswordError) []authn.PasswordRule {
	if pe == nil {
		return nil
	}
	return pe.Rules()
}

// 6.2.1: at least 8 characters; 15 when the password is the only factor; a tenant's
// higher minimum; code points after NFKC, not bytes.
func TestPasswordPolicyMinimumLength(t *testing.T) {
	nist := authn.PasswordPolicy{}
	pe := validate(t, nist, "xkcd-zq", policyCtx) // 7
	require.NotNil(t, pe)
	v, ok := pe.Violation(authn.RuleTooShort)
	require.True(t, ok)
	assert.Equal(t, 8, v.Limit)
	assert.Nil(t, validate(t, nist, "xkcd-zqw", policyCtx)) // 8

	// Code points, not bytes: 8 two-byte letters pass, 7 fail.
	assert.Nil(t, validate(t, nist, "ŵŷžąęįųð", policyCtx))
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooShort}, rules(validate(t, nist, "ŵŷžąęįų", policyCtx)))

	single := authn.PasswordPolicy{SingleFactor: true}
	pe = validate(t, single, "xkcd-zqwv-plmn", policyCtx) // 14
	v, ok = pe.Violation(authn.RuleTooShort)
	require.True(t, ok)
	assert.Equal(t, 15, v.Limit)
	assert.Nil(t, validate(t, single, "xkcd-zqwv-plmnb", policyCtx)) // 15

	// A tenant minimum below the floor is raised; above it applies.
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooShort}, rules(validate(t, authn.PasswordPolicy{MinLength: 4}, "xkcd-zq", policyCtx)))
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooShort}, rules(validate(t, authn.PasswordPolicy{SingleFactor: true, MinLength: 10}, "xkcd-zqwv-plmn", policyCtx)))
	pe = validate(t, authn.PasswordPolicy{MinLength: 12}, "xkcd-zqwv-p", policyCtx)
	v, _ = pe.Violation(authn.RuleTooShort)
	assert.Equal(t, 12, v.Limit)

	// Both modes check length.
	pe = validate(t, authn.PasswordPolicy{Mode: authn.ModeClasses}, "Xk-9", policyCtx)
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooShort}, rules(pe))
}

// 6.2.1 / 6.2.5: ModeNIST has no composition rules; ModeClasses requires the classes.
func TestPasswordPolicyModes(t *testing.T) {
	lowerOnly := "purple monkey dishwasher"
	assert.Nil(t, validate(t, authn.PasswordPolicy{}, lowerOnly, policyCtx), "NIST: no composition rules")
	assert.Nil(t, validate(t, authn.PasswordPolicy{Mode: authn.ModeNIST, MinClasses: 4}, lowerOnly, policyCtx), "MinClasses is ignored in NIST mode")

	classes := authn.PasswordPolicy{Mode: authn.ModeClasses}
	pe := validate(t, classes, "purplemonkey", policyCtx)
	v, ok := pe.Violation(authn.RuleMissingClasses)
	require.True(t, ok)
	assert.Equal(t, 4, v.Limit)
	assert.Equal(t, []authn.CharClass{authn.ClassUpper, authn.ClassDigit, authn.ClassSymbol}, v.Missing)

	pe = validate(t, classes, "Purple monkey 9", policyCtx) // space is a symbol
	assert.Nil(t, pe)
	pe = validate(t, classes, "Purple-Monkey-x", policyCtx)
	v, _ = pe.Violation(authn.RuleMissingClasses)
	assert.Equal(t, []authn.CharClass{authn.ClassDigit}, v.Missing)
	assert.Nil(t, validate(t, classes, "Ünïcödé-Straße-٣", policyCtx), "Unicode letters and digits count")

	three := authn.PasswordPolicy{Mode: authn.ModeClasses, MinClasses: 3}
	assert.Nil(t, validate(t, three, "Purple-Monkey-x", policyCtx))
	pe = validate(t, three, "purple-monkey-x", policyCtx)
	v, _ = pe.Violation(authn.RuleMissingClasses)
	assert.Equal(t, 3, v.Limit)

	// Classes do not make a common password acceptable.
	assert.Equal(t, []authn.PasswordRule{authn.RuleBlocklisted}, rules(validate(t, classes, "P@ssw0rd", policyCtx)))
}

// 6.2.9: 64 and 128 characters are accepted (and 256 by default); a tenant cannot go
// below 64; beyond the maximum is too_long with the limit.
func TestPasswordPolicyLongPasswords(t *testing.T) {
	p := authn.PasswordPolicy{}
	word := "correct horse battery staple "
	for _, n := range []int{64, 128, authn.MaxPasswordLength} {
		pw := strings.Repeat(word, n/len(word)+1)[:n]
		assert.Nil(t, validate(t, p, pw, policyCtx), "%d characters", n)
		assert.Nil(t, validate(t, authn.PasswordPolicy{Mode: authn.ModeClasses, MinClasses: 2}, pw, policyCtx), "%d characters", n)
	}
	emoji := strings.Repeat("🐴🔋📎", 100)[:authn.MaxPasswordLength*4] // 256 four-byte code points
	assert.Nil(t, validate(t, p, emoji, policyCtx))

	pe := validate(t, p, strings.Repeat("z", authn.MaxPasswordLength+1), policyCtx)
	v, ok := pe.Violation(authn.RuleTooLong)
	require.True(t, ok)
	assert.Equal(t, authn.MaxPasswordLength, v.Limit)

	// A tenant's MaxLength below 64 is raised to 64.
	low := authn.PasswordPolicy{MaxLength: 20}
	assert.Nil(t, validate(t, low, strings.Repeat("abcdefgh", 8), policyCtx))
	pe = validate(t, low, strings.Repeat("abcdefgh", 8)+"x", policyCtx)
	v, _ = pe.Violation(authn.RuleTooLong)
	assert.Equal(t, 64, v.Limit)

	// Oversized input: too_long, bounded work.
	pe = validate(t, p, strings.Repeat("a", 1<<20), policyCtx)
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooLong}, rules(pe))
}

// 6.2.11: the tenant name, the e-mail local part, the product name and extra words are
// refused, case-insensitively, as substrings from 4 characters and whole below.
func TestPasswordContextWords(t *testing.T) {
	p := authn.PasswordPolicy{}
	pc := authn.PasswordContext{
		TenantName: "Acme Dial-Center",
		Email:      "Jo.Smithers+work@Example.com",
		Words:      []string{"Zanzibar Team", "Q7"},
	}
	tests := []struct {
		pw   string
		word string // "" = accepted
	}{
		{"MyAcme2024!zq", "acme"},
		{"ACMEDIALCENTER", "acmedialcenter"},
		{"xx-dial-center-xx", "dial"},
		{"winter-smithers-9", "smithers"},
		{"JoSmithersWork", "josmitherswork"},
		{"I love CallShield!", "callshield"},
		{"zanzibar-sunrise", "zanzibar"},
		{"ﬁne-ＡＣＭＥ-ﬁsh", "acme"}, // after NFKC
		{"jo-and-q7-are-ok", ""}, // short words are matched whole only
		{"dolphin-harbour-lights", ""},
	}
	for _, tt := range tests {
		t.Run(tt.pw, func(t *testing.T) {
			pe := validate(t, p, tt.pw, pc)
			if tt.word == "" {
				assert.Nil(t, pe)
				return
			}
			require.NotNil(t, pe)
			v, ok := pe.Violation(authn.RuleContextWord)
			require.True(t, ok, "%v", rules(pe))
			assert.Equal(t, tt.word, v.Word)
			assert.NotContains(t, pe.Error(), v.Word, "the message names rules only")
		})
	}

	// A configured product name replaces "callshield".
	own := authn.PasswordContext{ProductName: "Dialtone Pro"}
	pe := validate(t, p, "dialtone-rocks", own)
	v, ok := pe.Violation(authn.RuleContextWord)
	require.True(t, ok)
	assert.Equal(t, "dialtone", v.Word)
	assert.Nil(t, validate(t, p, "callshield-rocks", own))

	// A short word is refused when it is the whole password.
	pe = validate(t, p, "Q7", authn.PasswordContext{Words: []string{"q7"}})
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooShort, authn.RuleContextWord}, rules(pe))
}

// Every broken rule is listed, in a fixed order, with its parameters.
func TestPasswordErrorListsEveryRule(t *testing.T) {
	p := authn.PasswordPolicy{Mode: authn.ModeClasses, MinScore: 3}
	pe := validate(t, p, "center", policyCtx) // common, short, lower case, and a tenant word
	require.NotNil(t, pe)
	assert.Equal(t, []authn.PasswordRule{
		authn.RuleTooShort, authn.RuleMissingClasses, authn.RuleBlocklisted, authn.RuleContextWord, authn.RuleTooWeak,
	}, rules(pe))
	v, _ := pe.Violation(authn.RuleTooWeak)
	assert.Equal(t, 3, v.Limit)
	assert.Less(t, v.Score, 3)
	assert.Equal(t, "authn: password does not meet the policy: too_short, missing_classes, blocklisted, context_word, too_weak", pe.Error())
	_, ok := pe.Violation(authn.RuleTooLong)
	assert.False(t, ok)

	pe = validate(t, authn.PasswordPolicy{}, "abc\xffdefgh", policyCtx)
	assert.Equal(t, []authn.PasswordRule{authn.RuleInvalidUTF8}, rules(pe))
}

// The optional zxcvbn minimum score, with the context words as known inputs.
func TestPasswordPolicyMinScore(t *testing.T) {
	strong := "correct horse battery staple tarmac"
	p := authn.PasswordPolicy{MinScore: 4}
	assert.Nil(t, validate(t, p, strong, policyCtx))
	pe := validate(t, p, "password2024!", policyCtx) // not on the list, but guessable
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooWeak}, rules(pe))
	assert.Nil(t, validate(t, authn.PasswordPolicy{}, "password2024!", policyCtx), "no estimate unless MinScore is set")
}

func TestPasswordPolicyEffective(t *testing.T) {
	eff, err := authn.PasswordPolicy{}.Effective()
	require.NoError(t, err)
	assert.Equal(t, 8, eff.MinLength)
	assert.Equal(t, 256, eff.MaxLength)
	assert.Equal(t, 0, eff.MinClasses)
	assert.NotNil(t, eff.Blocklist)

	eff, err = authn.PasswordPolicy{Mode: authn.ModeClasses, SingleFactor: true, MaxLength: 1000}.Effective()
	require.NoError(t, err)
	assert.Equal(t, 15, eff.MinLength)
	assert.Equal(t, 256, eff.MaxLength)
	assert.Equal(t, 4, eff.MinClasses)

	for name, p := range map[string]authn.PasswordPolicy{
		"mode":        {Mode: 7},
		"min length":  {MinLength: -1},
		"max length":  {MaxLength: -1},
		"min > max":   {MinLength: 100, MaxLength: 80},
		"min classes": {Mode: authn.ModeClasses, MinClasses: 5},
		"min score":   {MinScore: 5},
		"neg score":   {MinScore: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Effective()
			assert.ErrorIs(t, err, authn.ErrInvalidPolicy)
			err = p.Validate(context.Background(), authn.NewPassword("a perfectly fine passphrase"), policyCtx)
			assert.ErrorIs(t, err, authn.ErrInvalidPolicy, "fail closed")
			assert.False(t, errors.Is(err, authn.ErrWeakPassword))
		})
	}
	assert.Equal(t, "nist", authn.ModeNIST.String())
	assert.Equal(t, "classes", authn.ModeClasses.String())
}

// The strength estimate reads a bounded prefix (64 code points): a 256-character
// password costs what a 64-character one does, and a weak prefix is not rescued by a
// strong tail.
func TestPasswordPolicyMinScoreBoundedInput(t *testing.T) {
	p := authn.PasswordPolicy{MinScore: 3}
	long := strings.Repeat("correct horse battery staple tarmac ", 8)[:authn.MaxPasswordLength]
	assert.Nil(t, validate(t, p, long, policyCtx))
	tail := "Vq8#kz!Lw2@Xr9$Tm"
	assert.Nil(t, validate(t, p, "aaaa"+tail, policyCtx), "the tail alone is strong")
	pe := validate(t, p, strings.Repeat("a", 64)+tail, policyCtx)
	assert.Equal(t, []authn.PasswordRule{authn.RuleTooWeak}, rules(pe), "scored on the first 64 code points")
}
