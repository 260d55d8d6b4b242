package zxcvbn

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The first estimates of a process, made concurrently, build the tables once and
// agree (run with -race: the build is a sync.OnceValue). That importing the package
// builds nothing is measured with GODEBUG=inittrace=1 (see the README).
func TestTablesBuiltOnFirstUse(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan int, 4)
	for range 4 {
		go func() { done <- PasswordStrength("Tr0ub4dor&3", []string{"acme"}).Score }()
	}
	for range 4 {
		assert.Equal(t, <-done, PasswordStrength("Tr0ub4dor&3", []string{"acme"}).Score)
	}
	runtime.ReadMemStats(&after)
	// The dictionaries are several megabytes: they were not there before the call.
	assert.Greater(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "the first estimate builds the tables")
}
