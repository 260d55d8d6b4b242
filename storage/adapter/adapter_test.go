package adapter_test

import (
	"github.com/callshield/callshield/storage/adapter"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/sqlstore"
)

// Both shipped adapters are complete: a missing method is a compile error here.
var (
	_ adapter.Store = (*memory.Store)(nil)
	_ adapter.Store = (*sqlstore.Store)(nil)
)
