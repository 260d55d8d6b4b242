package authn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/callshield/callshield/authn"
)

// Check a new password against a tenant's policy and turn each broken rule into a
// message.
func ExamplePasswordPolicy_Validate() {
	ctx := context.Background()
	policy := authn.PasswordPolicy{Mode: authn.ModeClasses, SingleFactor: true}
	account := authn.PasswordContext{TenantName: "Acme Ltd", Email: "ann@acme.example"}

	err := policy.Validate(ctx, authn.NewPassword("acme2024"), account)
	var pe *authn.PasswordError
	if errors.As(err, &pe) {
		for _, v := range pe.Violations {
			switch v.Rule {
			case authn.RuleTooShort:
				fmt.Printf("%s: use at least %d characters\n", v.Rule, v.Limit)
			case authn.RuleMissingClasses:
				fmt.Printf("%s: add %v\n", v.Rule, v.Missing)
			case authn.RuleContextWord:
				fmt.Printf("%s: do not use %q\n", v.Rule, v.Word)
			default:
				fmt.Println(v.Rule)
			}
		}
	}
	fmt.Println(errors.Is(err, authn.ErrWeakPassword))

	err = policy.Validate(ctx, authn.NewPassword("Tuba-Lighthouse-7-Orbit"), account)
	fmt.Println(err)
	// Output:
	// too_short: use at least 15 characters
	// missing_classes: add [upper symbol]
	// context_word: do not use "acme"
	// true
	// <nil>
}

// Hash a new password and verify it at sign-in.
func ExampleHasher() {
	ctx := context.Background()
	hasher := authn.NewHasher(authn.HasherOptions{}) // OWASP parameters; share one per process

	encoded, err := hasher.Hash(ctx, authn.NewPassword("correct horse battery staple"))
	if err != nil {
		fmt.Println(err) // ErrBusy: answer 503 and let the client retry
		return
	}
	fmt.Println(strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$"))

	ok, needsRehash, err := hasher.Verify(ctx, authn.NewPassword("correct horse battery staple"), encoded)
	fmt.Println(ok, needsRehash, err)
	ok, _, _ = hasher.Verify(ctx, authn.NewPassword("Correct horse battery staple"), encoded)
	fmt.Println(ok)
	// Output:
	// true
	// true false <nil>
	// false
}

// Sign in: rehash an imported bcrypt hash after a successful verification, and spend
// the same work on an unknown e-mail as on a wrong password.
func ExampleHasher_Verify() {
	ctx := context.Background()
	hasher := authn.NewHasher(authn.HasherOptions{})
	// Imported from the previous system: bcrypt of "correct horse battery staple".
	stored := map[string]string{"ann@example.com": "$2y$05$YOCXmThEjvHEDjE.RJFQWeVp5jlXHBWrgp4fIuRzbfqSOGjccvXp."}

	signIn := func(email, password string) bool {
		pw := authn.NewPassword(password)
		encoded, known := stored[email]
		if !known {
			_ = hasher.DummyVerify(ctx, pw)
			return false
		}
		ok, needsRehash, err := hasher.Verify(ctx, pw, encoded)
		if err != nil || !ok {
			return false
		}
		if needsRehash {
			if fresh, err := hasher.Hash(ctx, pw); err == nil {
				stored[email] = fresh // in a Store: replace only if still encoded
			}
		}
		return true
	}

	fmt.Println(signIn("ann@example.com", "correct horse battery staple"))
	fmt.Println(strings.HasPrefix(stored["ann@example.com"], "$argon2id$"))
	fmt.Println(signIn("bob@example.com", "correct horse battery staple"))
	// Output:
	// true
	// true
	// false
}
