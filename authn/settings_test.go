package authn

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A stored RequireTwoFactor (written before this rule, or behind the service's back)
// does not lower the password floor while sign-in enforces no second factor.
func TestRequireTwoFactorKeepsSingleFactorFloor(t *testing.T) {
	p := Settings{RequireTwoFactor: true}.withDefaults().passwordPolicy()
	assert.True(t, p.SingleFactor)
	assert.ErrorIs(t, Settings{RequireTwoFactor: true}.withDefaults().validate(), ErrTwoFactorUnavailable)
	assert.NoError(t, Settings{}.withDefaults().validate())
}

// A minimum length the floor would raise is refused, not stored: Settings must never
// report a rule other than the one enforced. A value stored before the rule is reported
// by EffectivePasswordMinLength as enforced.
func TestPasswordMinLengthBelowFloorIsRefused(t *testing.T) {
	for _, n := range []int{8, 12, 14} {
		err := Settings{PasswordMinLength: n}.withDefaults().validate()
		assert.ErrorIs(t, err, ErrPasswordMinLength, "%d is below the single-factor floor", n)
		assert.ErrorIs(t, err, ErrInvalidSettings)
	}
	for _, n := range []int{0, 15, 20, 64} {
		assert.NoError(t, Settings{PasswordMinLength: n}.withDefaults().validate(), "%d", n)
	}
	assert.Equal(t, MinSingleFactorPasswordLength, Settings{PasswordMinLength: 8}.EffectivePasswordMinLength())
	assert.Equal(t, MinSingleFactorPasswordLength, Settings{}.EffectivePasswordMinLength())
	assert.Equal(t, 20, Settings{PasswordMinLength: 20}.EffectivePasswordMinLength())
	p, err := Settings{PasswordMinLength: 20}.passwordPolicy().Effective()
	assert.NoError(t, err)
	assert.Equal(t, Settings{PasswordMinLength: 20}.EffectivePasswordMinLength(), p.MinLength, "what is reported is what is enforced")
}
