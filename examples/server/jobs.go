package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
)

// Background jobs every instance may run (the SDK makes them safe to run at once on
// several instances).
const (
	cleanupEvery    = 5 * time.Minute // sessions past their deadline; expired pending sign-ins, links, 2FA enrolments
	purgeEvery      = time.Hour       // archived users past the tenant's retention; dead API tokens
	auditPurgeEvery = 24 * time.Hour  // audit events past -audit-retention-days
)

// Audit retention (-audit-retention-days). PCI DSS 10.5.1 asks for at least a year.
const (
	defaultAuditRetentionDays = 400
	maxAuditRetentionDays     = 100 * 365
)

// startJobs runs the periodic jobs until the app closes. The purges also run once at
// start, so that an instance that restarts more often than their period still runs them.
func (a *app) startJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cleanup := time.NewTicker(cleanupEvery)
		defer cleanup.Stop()
		purge := time.NewTicker(purgeEvery)
		defer purge.Stop()
		auditPurge := time.NewTicker(auditPurgeEvery)
		defer auditPurge.Stop()
		a.purge(ctx)
		a.cleanup(ctx)
		a.purgeAudit(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-cleanup.C:
				a.cleanup(ctx)
			case <-purge.C:
				a.purge(ctx)
			case <-auditPurge.C:
				a.purgeAudit(ctx)
			}
		}
	}()
	// Stop the jobs before anything else closes.
	a.closers = append([]func(context.Context) error{func(context.Context) error {
		cancel()
		wg.Wait()
		return nil
	}}, a.closers...)
}

// API tokens revoked or expired longer ago than this are deleted (with their usage) by
// the hourly purge: as long as the longest usage report (token.MaxUsageDays).
const tokenRetention = token.MaxUsageDays * 24 * time.Hour

// purge deletes the archived users whose tenant's retention has passed, and the API
// tokens dead for longer than tokenRetention.
func (a *app) purge(ctx context.Context) {
	a.purgeTokens(ctx)
	rep, err := a.accounts.Purge(ctx, a.clock())
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("retention purge failed", "err", err)
	case len(rep.Deleted) > 0 || len(rep.Kept) > 0:
		a.log.Info("retention purge", "deleted", len(rep.Deleted), "kept_last_admins", len(rep.Kept))
	}
}

// cleanup removes, in every tenant, what has expired (authn.Service.CleanupSessions):
// sessions past their deadline (with their events), and pending sign-ins, throttle
// counters, identity flows, invitation and reset links and two-factor enrolments that
// can no longer be used and would otherwise stay for ever.
func (a *app) cleanup(ctx context.Context) {
	rep, err := a.accounts.CleanupSessions(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("cleanup failed", "err", err)
	case rep.Tickets > 0 || rep.Enrolments > 0:
		a.log.Info("expired links and enrolments cleanup", "links", rep.Tickets, "enrolments", rep.Enrolments)
	}
}

// purgeAudit deletes every tenant's audit events older than cfg.AuditRetention (none
// when it is 0), through audit.PurgeAll: each purged prefix of a chain is verified
// first and leaves a sealed checkpoint, so the rest still verifies. A broken chain
// stops that tenant's purge at the break, keeping the evidence, and is logged as an
// error: it means the database was edited.
func (a *app) purgeAudit(ctx context.Context) {
	keep := a.cfg.AuditRetention
	if keep <= 0 {
		return
	}
	res, err := audit.PurgeAll(ctx, a.store, a.chain, a.clock(), func(uuid.UUID) time.Duration { return keep })
	var deleted int64
	for _, r := range res {
		deleted += r.Result.Deleted
		switch {
		case errors.Is(r.Err, audit.ErrChainBroken):
			a.log.Error("audit chain broken: retention stopped at the break", "tenant", r.Tenant, "err", r.Err)
		case errors.Is(r.Err, audit.ErrUnknownKey):
			a.log.Error("audit chain key missing from the ring: retention stopped there (put the key back)", "tenant", r.Tenant, "err", r.Err)
		}
	}
	if err != nil && ctx.Err() == nil {
		a.log.Warn("audit retention failed", "err", err)
	}
	if deleted > 0 {
		a.log.Info("audit retention", "deleted", deleted)
	}
}

// purgeTokens runs token.Service.Purge for every tenant. Every tenant that ever had a
// token has an audit chain (issuing one appends its event), so AuditTenants lists them.
func (a *app) purgeTokens(ctx context.Context) {
	tenants, err := a.store.AuditTenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("token retention failed", "err", err)
		}
		return
	}
	deleted := 0
	for _, tn := range tenants {
		n, err := a.tokens.Purge(ctx, tn, tokenRetention)
		deleted += n
		if err != nil && !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			a.log.Warn("token retention failed", "tenant", tn, "err", err)
		}
	}
	if deleted > 0 {
		a.log.Info("token retention", "deleted", deleted)
	}
}
