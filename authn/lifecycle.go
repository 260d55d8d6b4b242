package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// transition moves a user between statuses, checked and audited.
func (s *Service) transition(ctx context.Context, actor access.Subject, user uuid.UUID, from, to Status, action string, endSessions bool) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	if u.Status != from {
		return fmt.Errorf("%w: %s to %s", ErrInvalidTransition, u.Status, to)
	}
	ev, err := s.changeEvent(p, actor, action, userTarget(u), []audit.Change{{Field: "status", Old: string(from), New: string(to)}})
	if err != nil {
		return err
	}
	if err := s.store.SetStatus(ctx, actor.Tenant, user, from, to, s.now(), ev); err != nil {
		return fmt.Errorf("authn: %s: %w", action, err)
	}
	// The store moved the tenant's policy version with the status (a user who may not
	// sign in holds no right: access.Member.Disabled); other instances see it on their
	// next version check, this one at once.
	s.engine.Invalidate(actor.Tenant)
	if endSessions {
		return s.endSessions(ctx, actor, actor.Tenant, user, uuid.Nil, EndBlocked)
	}
	return nil
}

// endSessions ends the user's sessions (all but except) for reason, in the Service's
// own session store and then through Options.Sessions if the host set one (the token
// package's ender, for instance).
func (s *Service) endSessions(ctx context.Context, actor access.Subject, tenant, user, except uuid.UUID, reason string) error {
	if err := s.endUserSessions(ctx, actor, tenant, user, except, reason); err != nil {
		return fmt.Errorf("authn: end sessions (they are refused anyway, the user's status is checked on every request): %w", err)
	}
	if s.opts.Sessions == nil {
		return nil
	}
	if err := s.opts.Sessions.EndUserSessions(ctx, tenant, user, except); err != nil {
		return fmt.Errorf("authn: end sessions (they are refused anyway, the user's status is checked on every request): %w", err)
	}
	return nil
}

// Block turns "access to system" off for an active user: they cannot sign in, and their
// sessions and API token stop working on the next request. Their data stays for
// reports. It needs UserManagement and every right of the user's role; nobody blocks
// themselves. Blocking the tenant's last Admin who can sign in (the other Admin members
// are blocked or archived, or there are none) is access.ErrLastAdmin: the store settles
// it, so that of two Admins blocking each other at once one is refused.
func (s *Service) Block(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	return s.transition(ctx, actor, user, StatusActive, StatusBlocked, "user.block", true)
}

// Unblock gives a blocked user access again.
func (s *Service) Unblock(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	return s.transition(ctx, actor, user, StatusBlocked, StatusActive, "user.unblock", false)
}

// Archive puts a blocked user aside. Reports about them still work; they are deleted
// automatically once the tenant's retention period has passed ([Service.Purge]).
func (s *Service) Archive(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	return s.transition(ctx, actor, user, StatusBlocked, StatusArchived, "user.archive", false)
}

// Unarchive returns an archived user to blocked, stopping the retention clock.
func (s *Service) Unarchive(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	return s.transition(ctx, actor, user, StatusArchived, StatusBlocked, "user.unarchive", false)
}

// Remove excludes a user from the company at once, whatever their status: their
// e-mail, name and password are erased, their memberships removed, their sessions
// ended. Reports about the user are no longer possible afterwards: every lookup of the
// user returns ErrUserDeleted. Removing the tenant's last Admin member, or an active
// Admin when no other Admin who can sign in would remain, is access.ErrLastAdmin and
// changes nothing: make another user Admin first.
//
// Like every change to a user, it needs UserManagement and every right of the role the
// user is managed by: their tenant role; for a user without a membership (an invited
// user) the role their open invitation promises; for one with neither (their
// membership was removed, or their invitation expired) the Admin role.
func (s *Service) Remove(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	ev, err := s.changeEvent(p, actor, "user.remove", userTarget(u), []audit.Change{{Field: "status", Old: string(u.Status), New: string(StatusDeleted)}})
	if err != nil {
		return err
	}
	from := []Status{StatusInvited, StatusActive, StatusBlocked, StatusArchived}
	if err := s.store.DeleteUser(ctx, actor.Tenant, user, from, ReasonRemoved, s.now(), ev); err != nil {
		return fmt.Errorf("authn: remove user: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return s.endSessions(ctx, actor, actor.Tenant, user, uuid.Nil, EndRemoved)
}

// PurgeReport says what [Service.Purge] deleted, and what it kept.
type PurgeReport struct {
	Deleted []UserRef
	// Kept lists the archived users past retention that were not deleted because each
	// is their tenant's last Admin member (access.ErrLastAdmin): a tenant never ends
	// without an Admin. Give the tenant another Admin; the next Purge deletes them.
	Kept []UserRef
}

// purgeBatch is how many candidates Purge reads at a time.
const purgeBatch = 500

// Purge deletes archived users whose tenant's retention period has passed at now, in
// every tenant. It is idempotent and safe to run from several instances at once (each
// deletion is conditional on the user still being archived). Run it from a scheduler,
// e.g. hourly.
//
// An archived user who is their tenant's last Admin member is kept (see
// [PurgeReport.Kept]) rather than deleted: deleting them would leave the tenant with no
// Admin at all, and the last-Admin rule outranks the retention clock until the tenant
// has another Admin. (Blocking, removing and demoting are refused for the last Admin
// who can sign in, in authn and access alike, so this arises only from data written
// before that rule or outside the service, e.g. an invited account made an Admin member
// through access and archived at the store.) Kept users stay among the candidates; a
// batch of purgeBatch candidates that are all kept ends the run.
func (s *Service) Purge(ctx context.Context, now time.Time) (PurgeReport, error) {
	var rep PurgeReport
	now = now.UTC().Truncate(time.Microsecond)
	for {
		refs, err := s.store.PurgeCandidates(ctx, now, purgeBatch)
		if err != nil {
			return rep, fmt.Errorf("authn: purge: %w", err)
		}
		deleted := 0
		for _, ref := range refs {
			ok, err := s.purgeUser(ctx, ref, audit.Actor{Role: "system"}, now, &rep)
			if err != nil {
				return rep, err
			}
			if ok {
				deleted++
			}
		}
		if len(refs) < purgeBatch || deleted == 0 {
			return rep, nil
		}
	}
}

// PurgeTenant is [Service.Purge] for the actor's tenant alone: it deletes the tenant's
// archived users whose retention period has passed at now, by the same rules (the
// last Admin member is kept), and no other tenant's. It needs UserManagement and
// records the actor on each deletion. It is for operations a tenant triggers itself
// (e.g. a demo's "run the purge now"); the scheduled job is Purge. It reads the
// tenant's users in one call, so it suits tenants of ordinary size.
func (s *Service) PurgeTenant(ctx context.Context, actor access.Subject, now time.Time) (PurgeReport, error) {
	var rep PurgeReport
	if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
		return rep, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	st, err := s.Settings(ctx, actor.Tenant)
	if err != nil {
		return rep, err
	}
	users, err := s.store.Users(ctx, actor.Tenant)
	if err != nil {
		return rep, fmt.Errorf("authn: purge: %w", err)
	}
	cutoff := now.Add(-st.Retention)
	for _, u := range users {
		if u.Status != StatusArchived || !u.StatusAt.Before(cutoff) {
			continue
		}
		ref := UserRef{Tenant: actor.Tenant, User: u.ID}
		if _, err := s.purgeUser(ctx, ref, audit.Actor{User: actor.User, IP: actor.IP}, now, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// purgeUser deletes one archived user past retention for Purge and PurgeTenant,
// recording the deletion or the keeping in rep; it reports whether the user was
// deleted. A user no longer archived is skipped.
func (s *Service) purgeUser(ctx context.Context, ref UserRef, actor audit.Actor, now time.Time, rep *PurgeReport) (bool, error) {
	ev := audit.Event{Tenant: ref.Tenant, Kind: audit.KindChange, Action: "user.purge",
		Actor:  actor,
		Target: audit.Target{Type: "user", ID: ref.User.String()}, Outcome: audit.Success,
		Reason: "retention period ended", Changes: []audit.Change{{Field: "status", Old: string(StatusArchived), New: string(StatusDeleted)}}}
	if err := audit.Prepare(&ev, now); err != nil {
		return false, err
	}
	err := s.store.DeleteUser(ctx, ref.Tenant, ref.User, []Status{StatusArchived}, ReasonRetention, now, ev)
	if errors.Is(err, ErrInvalidTransition) {
		return false, nil // unarchived or removed meanwhile
	}
	if errors.Is(err, access.ErrLastAdmin) {
		rep.Kept = append(rep.Kept, ref)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authn: purge: %w", err)
	}
	s.engine.Invalidate(ref.Tenant)
	rep.Deleted = append(rep.Deleted, ref)
	return true, nil
}
