package totp_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/authn/totp"
)

// userRow is what the store keeps per user for 2FA: never the secret in clear.
type userRow struct {
	sealedSecret   []byte
	lastStep       int64
	recoveryHashes [][]byte
}

// Enrollment (NewSecret, KeyURI, Seal) and two sign-ins (Open, Verify, storing the
// step): the second use of the same code is refused as a replay.
func Example() {
	// Once per deployment: the sealing keyring, from a secret manager.
	key := make([]byte, totp.SealKeyBytes)
	_, _ = rand.Read(key)
	sealer, err := totp.NewSealer(map[uint32][]byte{1: key}, 1)
	if err != nil {
		panic(err)
	}
	tenantID, userID := [16]byte{0: 0xA1}, [16]byte{0: 0xB2} // uuid.UUIDs in practice
	// Binds the sealed secret to this row and to its parameters.
	aad, err := totp.BindAAD(tenantID, userID, totp.Config{})
	if err != nil {
		panic(err)
	}

	// Enrollment.
	secret, err := totp.NewSecret(nil) // 160 bits from crypto/rand
	if err != nil {
		panic(err)
	}
	uri, err := totp.KeyURI("CallShield", "alice@example.com", secret, totp.Config{})
	if err != nil {
		panic(err)
	}
	u, _ := url.Parse(uri) // show uri as a QR code; here, its parts without the secret
	fmt.Println("QR code for:", u.Scheme, u.Host, u.Path, u.Query().Get("digits"), u.Query().Get("period"))
	sealed, err := sealer.Seal(secret, aad)
	if err != nil {
		panic(err)
	}
	codes, err := totp.NewRecoveryCodes(nil, totp.DefaultRecoveryCodes)
	if err != nil {
		panic(err)
	}
	row := userRow{sealedSecret: sealed}
	for _, c := range codes { // show each c.Reveal() to the user once
		row.recoveryHashes = append(row.recoveryHashes, c.Hash())
	}

	// Sign-in: the user types what their app shows (here computed from the secret).
	now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC) // the server's clock
	typed := totp.Code(secret, now, totp.Config{})
	signIn := func() {
		s, err := sealer.Open(row.sealedSecret, aad)
		if err != nil {
			fmt.Println("cannot open:", err)
			return
		}
		step, err := totp.Verify(s, typed, now, row.lastStep, totp.Config{})
		switch {
		case errors.Is(err, totp.ErrReplayed):
			fmt.Println("refused: code already used")
		case err != nil:
			fmt.Println("refused:", err)
		default:
			// In SQL: UPDATE … SET last_step = $step WHERE … AND last_step < $step,
			// succeeding only if a row changed.
			row.lastStep = step
			fmt.Println("signed in at step", step)
		}
	}
	signIn()
	signIn() // the same code again

	// A recovery code, typed loosely, matches once.
	typedCode := strings.ToLower(strings.ReplaceAll(codes[2].Reveal(), "-", " "))
	i, ok := totp.MatchRecoveryCode(typedCode, row.recoveryHashes)
	fmt.Println("recovery code", i, ok)
	row.recoveryHashes = slices.Delete(row.recoveryHashes, i, i+1) // conditionally, in SQL
	_, ok = totp.MatchRecoveryCode(typedCode, row.recoveryHashes)
	fmt.Println("again:", ok)

	// Output:
	// QR code for: otpauth totp /CallShield:alice@example.com 6 30
	// signed in at step 59116013
	// refused: code already used
	// recovery code 2 true
	// again: false
}
