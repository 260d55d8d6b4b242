package access

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// PolicyAt returns the tenant's policy at version v or a newer one, where v is a
// policy version the caller has just read from the store in a query of its own (the
// session lookup reads it with the session, see authn). It skips the version read that
// [Engine.Policy] makes: a cached snapshot at v or newer is current as of the caller's
// read and is returned without a storage call; an older one is reloaded. As with
// Policy, a storage error returns no policy.
func (e *Engine) PolicyAt(ctx context.Context, tenant uuid.UUID, v int64) (*Policy, error) {
	if tenant == uuid.Nil {
		return nil, fmt.Errorf("access: policy of the nil tenant")
	}
	tp := e.cached(tenant)
	if tp != nil {
		if cur := tp.current.Load(); cur != nil && cur.version >= v {
			return cur, nil
		}
	} else {
		tp = e.entry(tenant) // the caller's read found the tenant in the store
	}
	return e.reload(ctx, tp, tenant, v, false, e.opts.Clock().UnixNano())
}
