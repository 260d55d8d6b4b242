package mask

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Importing mask, audit or authn must not link a package that builds large tables
// at program start: phonenumbers (its metadata) only through mask/national, zxcvbn
// only as authn's copy, whose tables are built on first use.
func TestNoStartUpTables(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range []string{"mask", "audit", "access", "authn"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/callshield/callshield/"+pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := string(out)
		assert.NotContains(t, deps, "github.com/nyaruka/phonenumbers", pkg)
		assert.NotContains(t, deps, "github.com/trustelem/zxcvbn", pkg)
		assert.True(t, strings.Contains(deps, "github.com/callshield/callshield/"+pkg), pkg)
	}
}
