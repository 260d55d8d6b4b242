package zxcvbn_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callshield/callshield/authn/internal/zxcvbn"
	"github.com/stretchr/testify/require"
	upstream "github.com/trustelem/zxcvbn"
)

// The copy scores exactly as upstream: the same score and guesses for the first
// passwords of the shipped corpus, their variants and random strings, with and
// without user inputs.
func TestSameScoresAsUpstream(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "blocklist", "common-passwords.txt"))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	var pws []string
	for _, l := range lines[:min(len(lines), 600)] {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			pws = append(pws, l, strings.ToUpper(l)+"!", l+"2024", "P@"+l+"$w0rd")
		}
	}
	r := rand.New(rand.NewPCG(7, 11))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_ qwertyasdf"
	for range 300 {
		b := make([]byte, 4+r.IntN(20))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		pws = append(pws, string(b))
	}
	pws = append(pws, "correct horse battery staple", "Tr0ub4dor&3", "1qaz2wsx3edc", "19841985", "abcabcabc", "zxcvbn")
	inputs := []string{"acme", "kim@example.com", "callshield"}
	for _, pw := range pws {
		for _, in := range [][]string{nil, inputs} {
			got, want := zxcvbn.PasswordStrength(pw, in), upstream.PasswordStrength(pw, in)
			require.Equal(t, want.Score, got.Score, "%q %v", pw, in)
			require.Equal(t, fmt.Sprint(want.Guesses), fmt.Sprint(got.Guesses), "%q %v", pw, in)
		}
	}
}
