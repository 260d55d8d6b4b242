package token

import (
	"crypto/rand"

	"github.com/google/uuid"
)

// Mint returns a well-formed token of tenant that no store knows: what anyone who
// knows the format and a tenant ID can make.
func Mint(tenant uuid.UUID) string {
	sec, _, err := newSecret(rand.Reader, tenant)
	if err != nil {
		panic(err)
	}
	return sec.Reveal()
}
