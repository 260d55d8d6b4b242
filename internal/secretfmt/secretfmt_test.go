package secretfmt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContains(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	for _, s := range []string{
		"csinv_AZJ3q8m2Yc7kLpX0vN4tR6sWbE1uHgFd", "/accept/csinv_AZJ3q8m2Yc7kLpX0vN4tR6sWbE1u", "t=csrst_abcdefgh",
		"cst_0123456789abcdefABCDEF", "Bearer cst_9f8e7d6c5b4a39281706", "cssn_Qk9PTGVhbkZsYWc", "cspsi_--__--__",
		"csflw_abcdefgh12", jwt, "Bearer " + jwt, "id_token=" + jwt[:60], "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"xcsinv_abcdefgh", // glued to a word: still redacted
	} {
		assert.True(t, Contains(s), "%q", s)
	}
	for _, s := range []string{
		"", "csinv_", "csinv_short", "cst_abc", "docs_abcdefghij", "cs_live_9f8e7d6c5b4a", "eyJ", "eyJhbGciOiJIUzI1NiIs",
		"eyJ hello.world", "a normal query", "4111111111111111", "01a2b3c4-65ad-73de-9a7e-446655440000",
		"https://example.com/accept#abc",
	} {
		assert.False(t, Contains(s), "%q", s)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { Contains("a query with c and e and cst_ but nothing more") }))
}

func TestPrefixesAreDistinct(t *testing.T) {
	ps := Prefixes()
	for i, p := range ps {
		require.True(t, strings.HasPrefix(p, "cs") && strings.HasSuffix(p, "_"), p)
		for j, q := range ps {
			assert.False(t, i != j && strings.HasPrefix(q, p), "%s is a prefix of %s", p, q)
		}
	}
	ps[0] = "changed"
	assert.Equal(t, Invitation, Prefixes()[0], "Prefixes returns a copy")
}

// secretLiteral matches a Go string literal that begins with a callshield secret
// prefix: "cs", a few lower-case letters and "_".
var secretLiteral = regexp.MustCompile(`^cs[a-z]{1,5}_`)

// notSecrets are "cs…_" literals of the module that mark no secret.
var notSecrets = []string{"cstest_"} // internal/pgtest's schema names

// TestEveryPrefixIsListed parses every non-test Go file of the module and fails on a
// string literal that begins like a secret prefix ("cs" + letters + "_") without being
// one of Prefixes: a secret minted with a prefix of its own would not be recognised by
// Contains, so it would reach the audit log and the slog bridge in clear.
func TestEveryPrefixIsListed(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if m := secretLiteral.FindString(s); m != "" && !slices.Contains(notSecrets, m) {
				seen++
				assert.Contains(t, Prefixes(), m, "%s: %q begins with a secret prefix that secretfmt does not list", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, seen, "the prefixes defined here are found")
}
