package blocklist

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The list holds at least the 10,000 most common passwords, each stored in the folded
// form the lookup expects.
func TestListShape(t *testing.T) {
	r := Ranked()
	require.GreaterOrEqual(t, len(r), 10_000)
	assert.Equal(t, []string{"123456", "password", "12345678", "qwerty"}, r[:4])
	seen := make(map[string]bool, len(r))
	fold := cases.Fold()
	for _, w := range r {
		assert.False(t, seen[w], "duplicate %q", w)
		seen[w] = true
		assert.Equal(t, fold.String(norm.NFKC.String(w)), w, "entry not in folded NFKC form")
		assert.NotContains(t, w, " ")
	}
}

func TestContains(t *testing.T) {
	for _, w := range []string{"123456", "password", "michael", "jennifer", "iloveyou", "bajingan", "#name?"} {
		assert.True(t, Contains(w), w)
	}
	for _, w := range []string{"", "Password", "password ", "correct horse battery staple", "#"} {
		assert.False(t, Contains(w), w)
	}
}

// zxcvbn exposes its password list as a Go value (frequency.FrequencyLists["passwords"]),
// but that list is filtered: a password that ranks better in another of its dictionaries
// (names, English words) is moved there, so "michael" or "jennifer", among the 20 most
// common passwords, are not in it. That is why the full list is embedded here. This test
// also proves the embedded list is a superset of the Go value.
func TestSupersetOfZxcvbnPasswords(t *testing.T) {
	goList := frequency.FrequencyLists["passwords"]
	require.NotEmpty(t, goList)
	inGo := make(map[string]bool, len(goList))
	for _, w := range goList {
		inGo[w] = true
		assert.True(t, Contains(w), "%q from zxcvbn's Go list is missing", w)
	}
	assert.False(t, inGo["michael"], "zxcvbn's Go list now has michael: reconsider embedding")
}

// The embedded file is the module's data/passwords.txt, in order, without counts.
func TestMatchesModuleData(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/trustelem/zxcvbn").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("zxcvbn module source not available (%v)", err)
	}
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(out)), "data", "passwords.txt"))
	if err != nil {
		t.Skipf("zxcvbn data not available: %v", err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 {
			want = append(want, fs[0])
		}
	}
	require.NoError(t, sc.Err())
	got := Ranked()
	require.Len(t, got, len(want), "regenerate with: go run gen.go")
	for i := range want {
		require.Equal(t, want[i], got[i], "rank %d differs; regenerate with: go run gen.go", i+1)
	}
}

func BenchmarkContains(b *testing.B) {
	Contains("warmup")
	for b.Loop() {
		Contains("correcthorse")
	}
}
