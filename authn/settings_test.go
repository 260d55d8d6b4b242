package authn

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The password floor is 15 while the password is the only factor, and 8 where the
// tenant requires a second factor, which sign-in enforces.
func TestRequireTwoFactorLowersTheFloor(t *testing.T) {
	assert.True(t, Settings{}.withDefaults().passwordPolicy().SingleFactor)
	assert.Equal(t, MinSingleFactorPasswordLength, Settings{}.EffectivePasswordMinLength())
	p := Settings{RequireTwoFactor: true}.withDefaults().passwordPolicy()
	assert.False(t, p.SingleFactor)
	assert.Equal(t, MinPasswordLength, Settings{RequireTwoFactor: true}.EffectivePasswordMinLength())
	assert.NoError(t, Settings{RequireTwoFactor: true, PasswordMinLength: 8}.withDefaults().validate())
	assert.ErrorIs(t, Settings{PasswordMinLength: 8}.withDefaults().validate(), ErrPasswordMinLength)
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
