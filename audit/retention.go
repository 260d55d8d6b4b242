package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// PurgeBatch is how many events [Purge] deletes per transaction ([Retainer.PurgeAudit]
// call): each batch moves the checkpoint, so a purge interrupted at any point leaves a
// consistent chain, and no transaction holds locks for long.
const PurgeBatch = 5000

// ErrChainBroken is wrapped by the *[ChainBrokenError] that [Purge] returns when the
// events it was about to delete do not verify.
var ErrChainBroken = errors.New("audit: chain broken")

// ChainBrokenError reports a broken link found by [Purge]. Purge deletes nothing from
// the broken link on, so that the evidence stays for investigation.
type ChainBrokenError struct {
	Tenant uuid.UUID
	Link   BrokenLink
}

// Error names the tenant and the broken link.
func (e *ChainBrokenError) Error() string {
	return fmt.Sprintf("audit: chain of tenant %s broken at %s", e.Tenant, e.Link.String())
}

// Unwrap makes errors.Is(err, ErrChainBroken) true.
func (e *ChainBrokenError) Unwrap() error { return ErrChainBroken }

// PurgeResult is what [Purge] did.
type PurgeResult struct {
	// Deleted is the number of events deleted.
	Deleted int64
	// Checkpoint is the tenant's checkpoint afterwards (zero if there never was one).
	Checkpoint Checkpoint
}

// Purge deletes the tenant's events older than before, keeping a checkpoint so that
// [Verify] still starts from a trusted link. It deletes a prefix of the chain: the
// events from the current checkpoint up to, not including, the first event (in Seq
// order) whose Time is at or after before. An old event that follows a newer one in the
// chain (clock skew between instances) is therefore kept until every event before it is
// due too; retention is a minimum keep time, never a hole in the chain.
//
// Purge verifies every event before deleting it, with chain (the Chain the store links
// with), and writes checkpoints sealed with it ([Chain.Seal]). If a link is broken it
// deletes the intact events before the break, stops, and returns a *[ChainBrokenError]:
// a purge never erases the evidence of tampering. Events are deleted in batches of
// [PurgeBatch], each one transaction that also moves the checkpoint.
//
// Two purges of one tenant running at once (two app instances) are safe: the store
// refuses a checkpoint that another purge has passed, and the purge that lost starts
// again from the new checkpoint (up to five times, then it returns an error wrapping
// [ErrCheckpointStale]).
func Purge(ctx context.Context, store Retainer, chain Chain, tenant uuid.UUID, before time.Time) (PurgeResult, error) {
	var total PurgeResult
	for attempt := 0; ; attempt++ {
		res, err := purgeOnce(ctx, store, chain, tenant, before)
		total.Deleted += res.Deleted
		total.Checkpoint = res.Checkpoint
		if err == nil || !errors.Is(err, ErrCheckpointStale) || attempt == purgeAttempts-1 {
			return total, err
		}
		// Another purge moved the checkpoint: carry on from where it is now.
	}
}

// purgeAttempts bounds how many times Purge starts again after losing a race with
// another purge of the same tenant.
const purgeAttempts = 5

// purgeOnce is one pass of Purge from the current checkpoint.
func purgeOnce(ctx context.Context, store Retainer, chain Chain, tenant uuid.UUID, before time.Time) (PurgeResult, error) {
	var res PurgeResult
	st, err := store.AuditState(ctx, tenant)
	if err != nil {
		return res, fmt.Errorf("audit: purge: %w", err)
	}
	cp := st.Checkpoint
	res.Checkpoint = cp
	if !cp.IsZero() && !bytes.Equal(chain.Seal(tenant, cp), cp.MAC) {
		return res, &ChainBrokenError{Tenant: tenant, Link: BrokenLink{Seq: cp.Seq, Reason: ReasonCheckpoint}}
	}
	prev := cp.Hash
	if len(prev) == 0 {
		prev = nil
	}
	next := cp.Seq + 1
	link := chain.Linker()
	var due *Event // the newest verified event that is due for deletion
	var broken *BrokenLink
	flush := func() error {
		if due == nil {
			return nil
		}
		c := Checkpoint{Seq: due.Seq, Hash: due.Hash, Time: due.Time}
		c.MAC = chain.Seal(tenant, c)
		n, err := store.PurgeAudit(ctx, tenant, c)
		if err != nil {
			return fmt.Errorf("audit: purge: %w", err)
		}
		res.Deleted += n
		res.Checkpoint = c
		due = nil
		return nil
	}
	q := Query{AfterSeq: cp.Seq, BeforeSeq: st.Head.Seq + 1, Limit: MaxLimit}
walk:
	for next <= st.Head.Seq {
		page, err := store.Events(ctx, tenant, q)
		if err != nil {
			return res, fmt.Errorf("audit: purge: %w", err)
		}
		if len(page) == 0 {
			broken = &BrokenLink{Seq: next, Reason: ReasonGap}
			break
		}
		for i := range page {
			e := &page[i]
			if !e.Time.Before(before) {
				break walk
			}
			switch {
			case e.Seq != next:
				broken = &BrokenLink{Seq: next, Reason: ReasonGap}
			case !bytes.Equal(e.PrevHash, prev):
				broken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: ReasonPrevMismatch}
			case !bytes.Equal(link.Link(prev, e), e.Hash):
				broken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: ReasonHashMismatch}
			}
			if broken != nil {
				break walk
			}
			ev := *e
			due = &ev
			prev, next = e.Hash, e.Seq+1
			if due.Seq-res.Checkpoint.Seq >= PurgeBatch {
				if err := flush(); err != nil {
					return res, err
				}
			}
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
	if broken != nil && broken.Reason == ReasonGap {
		// Another purge may have deleted the missing events since this one read
		// the checkpoint: that is a lost race, not a broken chain.
		now, err := store.AuditState(ctx, tenant)
		if err != nil {
			return res, fmt.Errorf("audit: purge: %w", err)
		}
		if now.Checkpoint.Seq >= broken.Seq {
			return res, fmt.Errorf("audit: purge: another purge moved the checkpoint to seq %d: %w", now.Checkpoint.Seq, ErrCheckpointStale)
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	if broken != nil {
		return res, &ChainBrokenError{Tenant: tenant, Link: *broken}
	}
	return res, nil
}

// TenantPurge is the outcome of [PurgeAll] for one tenant.
type TenantPurge struct {
	Tenant uuid.UUID
	Result PurgeResult
	Err    error
}

// PurgeAll runs [Purge] for every tenant of the store ([Retainer.AuditTenants]) whose
// retention, as returned by retention, is positive: events older than now minus the
// retention are deleted. A zero or negative retention keeps the tenant's events
// forever, so a policy that does not know a tenant keeps everything.
//
// It is the body of a periodic job (daily is typical); run it on one instance, or on
// several (the store settles races, see Purge). It carries on past a tenant whose purge
// fails and returns every failure joined, with each tenant's outcome.
func PurgeAll(ctx context.Context, store Retainer, chain Chain, now time.Time, retention func(tenant uuid.UUID) time.Duration) ([]TenantPurge, error) {
	tenants, err := store.AuditTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: purge: %w", err)
	}
	var out []TenantPurge
	var errs []error
	for _, t := range tenants {
		keep := retention(t)
		if keep <= 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		res, err := Purge(ctx, store, chain, t, now.Add(-keep))
		out = append(out, TenantPurge{Tenant: t, Result: res, Err: err})
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	return out, errors.Join(errs...)
}
