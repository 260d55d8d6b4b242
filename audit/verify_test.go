package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingReader is a ChainReader whose Events fails after a number of calls.
type failingReader struct {
	*memory.Store
	okCalls int
}

func (f *failingReader) Events(ctx context.Context, tenant uuid.UUID, q audit.Query) ([]audit.Event, error) {
	if f.okCalls == 0 {
		return nil, errors.New("i/o timeout")
	}
	f.okCalls--
	return f.Store.Events(ctx, tenant, q)
}

func appendActions(t *testing.T, s audit.Store, n int) {
	t.Helper()
	rec := audit.NewRecorder(s, audit.Options{})
	for i := range n {
		require.NoError(t, rec.Record(context.Background(), action(i)))
	}
}

func TestVerifyFailsClosedOnStoreErrors(t *testing.T) {
	// An error is never a pass: the result of an incomplete verification is not OK
	// only by accident, so callers must check err first; here both say "not verified".
	mem := memory.New(memory.Options{})
	appendActions(t, mem, 3)
	_, err := audit.Verify(context.Background(), &failingReader{Store: mem}, audit.Chain{}, tenantA, time.Time{}, time.Time{})
	assert.ErrorContains(t, err, "i/o timeout")
	_, err = audit.Purge(context.Background(), &failingReader{Store: mem}, audit.Chain{}, tenantA, time.Now())
	assert.ErrorContains(t, err, "i/o timeout")
}

func TestVerifyWithAnotherKeyFails(t *testing.T) {
	// A keyed chain does not verify with another key, nor unkeyed: only the key's
	// holder can vouch for it (or forge it).
	key := audit.Chain{Key: []byte("the right key")}
	mem := memory.New(memory.Options{Chain: key})
	appendActions(t, mem, 3)
	res, err := audit.Verify(context.Background(), mem, key, tenantA, time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.True(t, res.OK())
	assert.Equal(t, 3, res.Checked)
	for _, other := range []audit.Chain{{}, {Key: []byte("another key")}} {
		res, err := audit.Verify(context.Background(), mem, other, tenantA, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.NotNil(t, res.FirstBroken)
		assert.Equal(t, int64(1), res.FirstBroken.Seq)
		assert.Equal(t, audit.ReasonHashMismatch, res.FirstBroken.Reason)
		assert.Equal(t, "seq 1: hash mismatch", res.FirstBroken.String())
	}
}
