package audit

import (
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
//
// Each event is checked with the ring key its KeyID names, as [Verify] does, and each
// checkpoint is sealed under the current key ([Chain.CurrentKeyID]), whose ID it
// records. An event or checkpoint under a key the ring does not hold stops the purge
// with an *[UnknownKeyError]; the intact events before it are purged.
func Purge(ctx context.Context, store Retainer, chain Chain, tenant uuid.UUID, before time.Time) (PurgeResult, error) {
	if err := chain.Validate(); err != nil {
		return PurgeResult{}, fmt.Errorf("audit: purge: %w", err)
	}
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
	if !cp.IsZero() {
		switch r := chain.checkSeal(tenant, cp); r {
		case "":
		case ReasonUnknownKey:
			return res, &UnknownKeyError{Tenant: tenant, Seq: cp.Seq, Checkpoint: true, KeyID: cp.KeyID}
		case ReasonUnkeyed:
			return res, &ChainBrokenError{Tenant: tenant, Link: BrokenLink{Seq: cp.Seq, Reason: r}}
		default:
			return res, &ChainBrokenError{Tenant: tenant, Link: BrokenLink{Seq: cp.Seq, Reason: ReasonCheckpoint}}
		}
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
		c := Checkpoint{Seq: due.Seq, Hash: due.Hash, Time: due.Time, KeyID: chain.CurrentKeyID()}
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
			if e.Seq != next {
				broken = &BrokenLink{Seq: next, Reason: ReasonGap}
			} else if r := link.check(prev, e); r != "" {
				broken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: r}
				if r == ReasonUnknownKey {
					broken.KeyID = e.KeyID
				}
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
	switch {
	case broken != nil && broken.Reason == ReasonUnknownKey:
		return res, &UnknownKeyError{Tenant: tenant, Seq: broken.Seq, KeyID: broken.KeyID}
	case broken != nil:
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

// KeyReport is what [KeyUsage] found: which ring keys the stored chains still need.
type KeyReport struct {
	// Events counts the stored events of every tenant by the key ID they are linked
	// under (up to each chain head as read when its verification began).
	Events map[uint32]int64
	// Checkpoints counts the tenants' retention checkpoints by the key ID they are
	// sealed under.
	Checkpoints map[uint32]int
	// Tenants is the number of tenants verified.
	Tenants int
	// Broken lists the tenants whose chain did not verify (their counts stop at the
	// broken link), with the first broken link of each. While it is not empty, no
	// key can be known to be unused.
	Broken []TenantBroken
}

// TenantBroken is a tenant whose chain did not verify in [KeyUsage].
type TenantBroken struct {
	Tenant uuid.UUID
	Link   BrokenLink
}

// Retirable reports whether the key with this ID can be removed from the ring: every
// tenant's chain verified and no stored event or checkpoint is under it. The current
// key is never retirable.
func (r KeyReport) Retirable(chain Chain, id uint32) bool {
	return len(r.Broken) == 0 && r.Events[id] == 0 && r.Checkpoints[id] == 0 && id != chain.CurrentKeyID()
}

// KeyUsage verifies the whole chain of every tenant of the store ([Verify] with from
// and to zero) and counts the events and checkpoints under each key ID, which tells
// when an old key of the ring can be retired ([KeyReport.Retirable]). It reads every
// stored event, like a full verification of each tenant. An error (a store failure, or
// an *[UnknownKeyError]: a key retired too early) stops it.
//
// Events appended while it runs are under the current key, which is never retirable;
// a purge running meanwhile can only lower the true counts.
func KeyUsage(ctx context.Context, store Retainer, chain Chain) (KeyReport, error) {
	rep := KeyReport{Events: make(map[uint32]int64), Checkpoints: make(map[uint32]int)}
	tenants, err := store.AuditTenants(ctx)
	if err != nil {
		return rep, fmt.Errorf("audit: key usage: %w", err)
	}
	for _, t := range tenants {
		res, err := Verify(ctx, store, chain, t, time.Time{}, time.Time{})
		if err != nil {
			return rep, fmt.Errorf("audit: key usage: %w", err)
		}
		rep.Tenants++
		for id, n := range res.KeyIDs {
			rep.Events[id] += int64(n)
		}
		// A broken checkpoint stops verification before any event (Checked 0):
		// its key ID is not trusted, and Broken already says so.
		if res.Anchored && res.Anchor.Seq > 0 && (res.FirstBroken == nil || res.Checked > 0) {
			rep.Checkpoints[res.AnchorKeyID]++
		}
		if res.FirstBroken != nil {
			rep.Broken = append(rep.Broken, TenantBroken{Tenant: t, Link: *res.FirstBroken})
		}
	}
	return rep, nil
}
