package main

import (
	"context"
	"sync"
	"time"
)

// Background jobs every instance may run (the SDK makes them safe to run at once on
// several instances).
const (
	cleanupEvery = 5 * time.Minute // sessions past their deadline, expired pending sign-ins
	purgeEvery   = time.Hour       // archived users past the tenant's retention
)

// startJobs runs the periodic jobs until the app closes.
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
		a.purge(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-cleanup.C:
				if _, err := a.accounts.CleanupSessions(ctx); err != nil && ctx.Err() == nil {
					a.log.Warn("session cleanup failed", "err", err)
				}
			case <-purge.C:
				a.purge(ctx)
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

// purge deletes the archived users whose tenant's retention has passed.
func (a *app) purge(ctx context.Context) {
	rep, err := a.accounts.Purge(ctx, a.clock())
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("retention purge failed", "err", err)
	case len(rep.Deleted) > 0 || len(rep.Kept) > 0:
		a.log.Info("retention purge", "deleted", len(rep.Deleted), "kept_last_admins", len(rep.Kept))
	}
}
