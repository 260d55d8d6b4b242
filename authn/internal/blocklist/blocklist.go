// Package blocklist holds the list of common passwords that authn ships: the 47,023
// passwords of the zxcvbn frequency list (github.com/trustelem/zxcvbn, MIT), most common
// first, all in lower case. It is embedded in the binary (about 370 KB) and parsed once,
// on first use, into a sorted slice (about 750 KB) whose strings share the embedded
// bytes.
//
// The list is regenerated with "go run gen.go" in this directory; LICENSE-zxcvbn.txt
// carries its licence.
package blocklist

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

//go:embed common-passwords.txt
var data string

// Ranked returns the list in rank order, most common first, as a new slice.
func Ranked() []string {
	lines := strings.Split(data, "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// sorted is the list sorted for binary search; its strings share the embedded bytes.
var sorted = sync.OnceValue(func() []string {
	s := Ranked()
	slices.Sort(s)
	return slices.Clip(slices.Compact(s))
})

// Contains reports whether folded, a password already NFKC-normalised and case-folded
// by the caller, is on the list. It does not allocate.
func Contains(folded string) bool {
	_, found := slices.BinarySearch(sorted(), folded)
	return found
}
