package national_test

import (
	"fmt"
	"testing"

	"github.com/callshield/callshield/mask"
	"github.com/callshield/callshield/mask/national"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParser(t *testing.T) {
	var p national.Parser
	assert.True(t, p.SupportsRegion("IT"))
	assert.False(t, p.SupportsRegion("XX"))
	cc, nsn, ok := p.ParseNational("06 1234 5588", "IT")
	require.True(t, ok)
	assert.Equal(t, 39, cc)
	assert.Equal(t, "0612345588", nsn)
	_, _, ok = p.ParseNational("12", "IT")
	assert.False(t, ok, "not a possible number")
	var _ mask.NationalParser = p
}

// Mask national numbers as written in Italy.
func ExampleParser() {
	m := mask.MustNew(mask.Options{DefaultRegion: "IT", National: national.Parser{}})
	fmt.Println(m.Phone("06 1234 5588"))
	// Output: +39********88
}
