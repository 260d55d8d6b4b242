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
