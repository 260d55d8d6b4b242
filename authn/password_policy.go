package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/callshield/callshield/authn/internal/zxcvbn"
	"golang.org/x/text/unicode/norm"
)

// PasswordMode selects the composition rules of a [PasswordPolicy].
type PasswordMode int

const (
	// ModeNIST (the default) follows NIST SP 800-63B and OWASP ASVS 6.2.5: length,
	// blocklist and context words, and no composition rules, which push users to
	// predictable patterns ("Password1!") without making passwords harder to guess.
	ModeNIST PasswordMode = iota
	// ModeClasses adds the seed product's composition rule to everything ModeNIST
	// checks: the password must mix character classes (by default all four: lower case,
	// upper case, digits and symbols). Offered for tenants whose own rules require it.
	ModeClasses
)

// String returns "nist" or "classes".
func (m PasswordMode) String() string {
	switch m {
	case ModeNIST:
		return "nist"
	case ModeClasses:
		return "classes"
	}
	return fmt.Sprintf("PasswordMode(%d)", int(m))
}

// Length limits, in Unicode code points after NFKC normalisation.
const (
	// MinPasswordLength is the floor of PasswordPolicy.MinLength (ASVS 6.2.1).
	MinPasswordLength = 8
	// MinSingleFactorPasswordLength is the floor when the password is the only
	// authentication factor (NIST SP 800-63B rev 4).
	MinSingleFactorPasswordLength = 15
	// MinMaxPasswordLength is the floor of PasswordPolicy.MaxLength: at least 64
	// characters are always accepted (ASVS 6.2.9).
	MinMaxPasswordLength = 64
	// MaxPasswordLength is the default and the ceiling of PasswordPolicy.MaxLength. With
	// at most 4 bytes a code point it keeps every acceptable password within
	// [MaxPasswordBytes], which bounds the cost of hashing and of the strength estimate.
	MaxPasswordLength = 256
)

// DefaultProductName is the context word PasswordContext.ProductName defaults to.
const DefaultProductName = "callshield"

// strengthMaxRunes bounds the input of the zxcvbn estimate, whose cost grows faster
// than the square of the length (measured: 64 code points take at most ~15 ms and
// 3 MB; 256 take up to 0.8 s and 120 MB). A longer password is scored on this prefix,
// which can only underrate it: its remaining characters add guesses.
const strengthMaxRunes = 64

// contextSubstringMin is the length (code points) from which a context word is matched
// anywhere in the password; shorter words are matched against the whole password only.
const contextSubstringMin = 4

// PasswordPolicy is a tenant's password rules. The zero value is valid: NIST mode, at
// least 8 characters, at most 256, the built-in blocklist, context words, no strength
// estimate.
//
// Whatever the mode, [PasswordPolicy.Validate] always checks the length, the blocklist
// and the context words. Lengths count Unicode code points after NFKC normalisation (so
// "ﬁ" counts as two, and an emoji as one or more, as it is encoded).
type PasswordPolicy struct {
	// Mode is ModeNIST (the zero value) or ModeClasses.
	Mode PasswordMode
	// SingleFactor says the password is the only authentication factor (no TOTP or
	// other second factor is enforced). It raises the minimum length to 15.
	SingleFactor bool
	// MinLength is the minimum length. If it is 0 or below the floor — 8, or 15 with
	// SingleFactor — the floor is used. A negative value makes the policy invalid.
	MinLength int
	// MaxLength is the maximum length. If it is 0, 256 is used; a value below 64 is
	// raised to 64 (at least 64 characters are always accepted) and one above 256 is
	// lowered to 256. A negative value makes the policy invalid.
	MaxLength int
	// MinClasses is, in ModeClasses, how many of the four character classes (lower
	// case, upper case, digits, symbols) the password must contain: 1 to 4, and 0 means
	// 4, the seed product's rule. It is ignored in ModeNIST.
	MinClasses int
	// MinScore is a minimum zxcvbn strength score (0 to 4: 1 "too guessable", 2
	// "somewhat guessable", 3 "safely unguessable", 4 "very unguessable"). 0 disables
	// the estimate. The estimate also counts the context words as known to attackers,
	// and reads at most the first 64 code points (a prefix can only score lower).
	MinScore int
	// Blocklist is the list of passwords refused whatever their length. If nil,
	// [CommonPasswords] is used. To add a breach corpus to the built-in list, set
	// AnyBlocklist(CommonPasswords(), corpus).
	Blocklist Blocklist
}

// PasswordContext is what is known about the account whose password is being set, to
// reject passwords built from it (ASVS 6.2.11).
//
// Each value is normalised (NFKC, Unicode case folding) and split into words at every
// character that is neither a letter nor a digit; the words joined together count as a
// word too ("Acme Call-Center" gives "acme", "call", "center" and "acmecallcenter"). A
// word of 4 or more characters is refused anywhere in the password, case-insensitively
// ("MyAcme2024!" is refused for tenant "Acme"). A shorter word is refused only as the
// whole password: short words occur by chance in strong passwords and passphrases (an
// e-mail "al@..." would otherwise forbid "totally-normal-horse"), while a password of
// fewer than 4 characters built on them is already far below every minimum length.
type PasswordContext struct {
	// TenantName is the name of the user's company (tenant).
	TenantName string
	// Email is the user's e-mail address; its local part (before the last '@') is used.
	Email string
	// ProductName is the name of the product the user signs in to. If empty,
	// DefaultProductName ("callshield") is used.
	ProductName string
	// Words are more context words: the user's name, the site's name, a team name...
	Words []string
}

// PasswordRule names a rule a password broke. The values are stable codes, meant as keys
// for the host's translated messages.
type PasswordRule string

// The rules, in the order [PasswordError] lists them.
const (
	// RuleInvalidUTF8: the password is not valid UTF-8 (no browser sends that).
	RuleInvalidUTF8 PasswordRule = "invalid_utf8"
	// RuleTooShort: fewer code points than Limit.
	RuleTooShort PasswordRule = "too_short"
	// RuleTooLong: more code points than Limit (or more than MaxPasswordBytes bytes).
	RuleTooLong PasswordRule = "too_long"
	// RuleMissingClasses: ModeClasses, and fewer than Limit character classes; Missing
	// names the absent ones.
	RuleMissingClasses PasswordRule = "missing_classes"
	// RuleBlocklisted: the whole password is on the blocklist.
	RuleBlocklisted PasswordRule = "blocklisted"
	// RuleContextWord: the password contains a context word, given in Word.
	RuleContextWord PasswordRule = "context_word"
	// RuleTooWeak: the zxcvbn score, given in Score, is below Limit.
	RuleTooWeak PasswordRule = "too_weak"
)

// CharClass is a character class of ModeClasses. The values are stable codes.
type CharClass string

// The character classes. A code point is a digit if unicode.IsDigit, upper or lower
// case if unicode.IsUpper or unicode.IsLower, and a symbol if it is neither a letter nor
// a digit (punctuation, symbols, spaces). Letters without case (Chinese, Arabic, ...)
// count in no class.
const (
	ClassLower  CharClass = "lower"
	ClassUpper  CharClass = "upper"
	ClassDigit  CharClass = "digit"
	ClassSymbol CharClass = "symbol"
)

// PasswordViolation is one broken rule and the parameters a message about it needs.
type PasswordViolation struct {
	// Rule is the broken rule.
	Rule PasswordRule
	// Limit is the rule's parameter: the minimum length (too_short), the maximum length
	// (too_long), the number of classes required (missing_classes) or the minimum score
	// (too_weak). It is 0 for the other rules.
	Limit int
	// Missing lists the absent character classes (missing_classes).
	Missing []CharClass
	// Word is the context word found in the password (context_word), case-folded.
	Word string
	// Score is the password's zxcvbn score, 0 to 4 (too_weak).
	Score int
}

// ErrWeakPassword is matched (errors.Is) by every [*PasswordError].
var ErrWeakPassword = errors.New("authn: password does not meet the policy")

// ErrInvalidPolicy: a PasswordPolicy field is out of its range. Validate accepts no
// password under an invalid policy.
var ErrInvalidPolicy = errors.New("authn: invalid password policy")

// PasswordError is the error of [PasswordPolicy.Validate] for a password that breaks the
// policy. It lists every broken rule; its message names the rules only and never
// contains the password or parts of it. errors.Is(err, ErrWeakPassword) holds.
type PasswordError struct {
	Violations []PasswordViolation
}

// Error returns "authn: password does not meet the policy: " and the rule codes.
func (e *PasswordError) Error() string {
	var b strings.Builder
	b.WriteString(ErrWeakPassword.Error())
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(string(v.Rule))
	}
	return b.String()
}

// Unwrap returns ErrWeakPassword.
func (e *PasswordError) Unwrap() error { return ErrWeakPassword }

// Violation returns the violation of rule r, if r was broken.
func (e *PasswordError) Violation(r PasswordRule) (PasswordViolation, bool) {
	for _, v := range e.Violations {
		if v.Rule == r {
			return v, true
		}
	}
	return PasswordViolation{}, false
}

// Rules returns the codes of the broken rules, in order.
func (e *PasswordError) Rules() []PasswordRule {
	out := make([]PasswordRule, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Rule
	}
	return out
}

// lengthFloor is the least MinLength the policy applies: 8, or 15 with SingleFactor.
func (p PasswordPolicy) lengthFloor() int {
	if p.SingleFactor {
		return MinSingleFactorPasswordLength
	}
	return MinPasswordLength
}

// Effective returns the policy as Validate applies it — every default, floor and
// ceiling filled in, Blocklist set — for instance to tell users the rules before they
// type. The error wraps ErrInvalidPolicy if a field is out of range.
func (p PasswordPolicy) Effective() (PasswordPolicy, error) {
	switch {
	case p.Mode != ModeNIST && p.Mode != ModeClasses:
		return p, fmt.Errorf("%w: unknown mode %d", ErrInvalidPolicy, int(p.Mode))
	case p.MinLength < 0 || p.MaxLength < 0:
		return p, fmt.Errorf("%w: negative length", ErrInvalidPolicy)
	case p.MinClasses < 0 || p.MinClasses > 4:
		return p, fmt.Errorf("%w: MinClasses must be 0 to 4", ErrInvalidPolicy)
	case p.MinScore < 0 || p.MinScore > 4:
		return p, fmt.Errorf("%w: MinScore must be 0 to 4", ErrInvalidPolicy)
	}
	p.MinLength = max(p.MinLength, p.lengthFloor())
	if p.MaxLength == 0 {
		p.MaxLength = MaxPasswordLength
	}
	p.MaxLength = min(max(p.MaxLength, MinMaxPasswordLength), MaxPasswordLength)
	if p.MinLength > p.MaxLength {
		return p, fmt.Errorf("%w: MinLength %d exceeds MaxLength %d", ErrInvalidPolicy, p.MinLength, p.MaxLength)
	}
	if p.Mode == ModeClasses && p.MinClasses == 0 {
		p.MinClasses = 4
	}
	if p.Mode == ModeNIST {
		p.MinClasses = 0
	}
	if p.Blocklist == nil {
		p.Blocklist = CommonPasswords()
	}
	return p, nil
}

// Validate checks a new password against the policy and returns nil, a
// [*PasswordError] listing every broken rule (errors.Is(err, ErrWeakPassword)), an error
// wrapping [ErrInvalidPolicy], or one wrapping [ErrBlocklistUnavailable] when the
// blocklist could not answer. ctx reaches the Blocklist, which may be a remote service.
//
// The checks, in order: valid UTF-8; length (code points after NFKC); in ModeClasses,
// the character classes; the blocklist (whole password, case-insensitive); the context
// words of pc; the zxcvbn score if MinScore > 0, of the first 64 code points (the
// estimate's cost grows faster than the square of the length). A password over the
// length limit is not sent to the blocklist nor to the estimate.
//
// Validate is for choosing a password (invitation, reset, change); signing in only
// verifies the hash, so that a user is never locked out by a later change of policy.
func (p PasswordPolicy) Validate(ctx context.Context, pw Password, pc PasswordContext) error {
	p, err := p.Effective()
	if err != nil {
		return err
	}
	var vs []PasswordViolation
	s := pw.Reveal()
	validUTF8 := utf8.ValidString(s)
	if !validUTF8 {
		vs = append(vs, PasswordViolation{Rule: RuleInvalidUTF8})
	}
	n := utf8.RuneCountInString(s)
	tooLong := pw.tooLong() || n > p.MaxLength
	if !tooLong && n < p.MinLength {
		vs = append(vs, PasswordViolation{Rule: RuleTooShort, Limit: p.MinLength})
	}
	if tooLong {
		vs = append(vs, PasswordViolation{Rule: RuleTooLong, Limit: p.MaxLength})
	}
	if p.Mode == ModeClasses && !pw.tooLong() {
		if missing, have := missingClasses(s); have < p.MinClasses {
			vs = append(vs, PasswordViolation{Rule: RuleMissingClasses, Limit: p.MinClasses, Missing: missing})
		}
	}
	if !tooLong {
		blocked, err := p.Blocklist.Blocked(ctx, pw)
		if err != nil {
			return blocklistError(err)
		}
		if blocked {
			vs = append(vs, PasswordViolation{Rule: RuleBlocklisted})
		}
	}
	words := pc.words()
	if !pw.tooLong() {
		if w, found := containsContextWord(foldString(s), words); found {
			vs = append(vs, PasswordViolation{Rule: RuleContextWord, Word: w})
		}
	}
	if p.MinScore > 0 && !tooLong && validUTF8 {
		inputs := make([]string, len(words))
		for i, w := range words {
			inputs[i] = w.word
		}
		if score := zxcvbn.PasswordStrength(runePrefix(s, strengthMaxRunes), inputs).Score; score < p.MinScore {
			vs = append(vs, PasswordViolation{Rule: RuleTooWeak, Limit: p.MinScore, Score: score})
		}
	}
	if len(vs) > 0 {
		return &PasswordError{Violations: vs}
	}
	return nil
}

// runePrefix returns the first n code points of s.
func runePrefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// missingClasses returns the character classes absent from s and how many are present.
func missingClasses(s string) (missing []CharClass, have int) {
	var lower, upper, digit, symbol bool
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case !unicode.IsLetter(r):
			symbol = true
		}
	}
	for _, c := range []struct {
		ok    bool
		class CharClass
	}{{lower, ClassLower}, {upper, ClassUpper}, {digit, ClassDigit}, {symbol, ClassSymbol}} {
		if c.ok {
			have++
		} else {
			missing = append(missing, c.class)
		}
	}
	return missing, have
}

// contextWord is a folded context word and how it is matched.
type contextWord struct {
	word      string
	substring bool // matched anywhere; otherwise only as the whole password
}

// words returns the context words of pc, folded and deduplicated, in the order tenant
// name, e-mail local part, product name, Words.
func (pc PasswordContext) words() []contextWord {
	email := pc.Email
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		email = email[:at]
	}
	product := pc.ProductName
	if product == "" {
		product = DefaultProductName
	}
	var out []contextWord
	seen := map[string]bool{}
	add := func(w string) {
		if w == "" || seen[w] {
			return
		}
		seen[w] = true
		out = append(out, contextWord{word: w, substring: utf8.RuneCountInString(w) >= contextSubstringMin})
	}
	for _, v := range append([]string{pc.TenantName, email, product}, pc.Words...) {
		// Bound the work on host-supplied values: no real context word is this long.
		if len(v) > MaxPasswordBytes {
			v = v[:MaxPasswordBytes]
		}
		f := foldString(norm.NFKC.String(v))
		tokens := strings.FieldsFunc(f, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		add(strings.Join(tokens, ""))
		for _, t := range tokens {
			add(t)
		}
	}
	return out
}

// containsContextWord reports the first context word found in the folded password.
func containsContextWord(folded string, words []contextWord) (string, bool) {
	for _, w := range words {
		if folded == w.word || (w.substring && strings.Contains(folded, w.word)) {
			return w.word, true
		}
	}
	return "", false
}
