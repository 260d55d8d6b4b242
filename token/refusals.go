package token

import (
	"strconv"
	"sync"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// The bounded log of refused requests made with a known but dead token (revoked,
// expired, or whose user may no longer act). Such a request proves nothing about the
// caller beyond holding an old secret, and nothing stops them from repeating it: were
// each one an action-log event, whoever holds a dead token could grow the tenant's
// audit log without bound. So each process logs, per token, the first refusal of a
// window of Options.RefusalLogInterval as an action-log event of its own, and counts
// the refusals that follow within the window in memory; when the window has ended, the
// next flush ([Service.Flush], run every FlushInterval, and Close) logs one
// ActionRefusals event carrying their number. A token refused without pause is thus at
// most about two events per interval per process, whatever the request rate, and no
// refusal goes uncounted. Nothing of this reads or writes the store.

// ActionRefusals is the action of the event that stands for the refused requests of a
// dead token that were not logged one by one: its DetailRefusals says how many, its
// time is the last one's, its Reason the window's first.
const ActionRefusals = "token.refused_requests"

// DetailRefusals is the detail key holding how many refused requests an event stands
// for: 1 on the event of a window's first refusal, the number counted in the window
// after it on an ActionRefusals event.
const DetailRefusals = "refusals"

// DefaultRefusalLogInterval is the default of Options.RefusalLogInterval.
const DefaultRefusalLogInterval = time.Minute

type tokenRef struct{ tenant, id uuid.UUID }

// refusalWindow is the current window of one dead token, or (regenRefusals) of one
// user's refused regenerations.
type refusalWindow struct {
	start time.Time // when its first refusal was logged
	last  time.Time // the last refusal counted in n
	n     int64     // refusals after the first, not yet logged
	actor audit.Actor
	// reason is the window's first refusal's.
	reason string
}

type refusals struct {
	every time.Duration
	// summary is the event of a window's counted refusals.
	summary func(k tokenRef, w *refusalWindow) audit.Event
	mu      sync.Mutex
	m       map[tokenRef]*refusalWindow
}

func newRefusals(every time.Duration, summary func(tokenRef, *refusalWindow) audit.Event) *refusals {
	return &refusals{every: every, summary: summary, m: make(map[tokenRef]*refusalWindow)}
}

// admit tells whether a refusal of token k at now is to be logged as its own event:
// true for the first refusal of a window, which opens it (logging its leftover count
// first if the previous window had one, see summaries); false, counting it, within a
// window.
func (r *refusals) admit(k tokenRef, actor audit.Actor, reason string, now time.Time) (log bool, leftover *refusalWindow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.m[k]
	if w != nil && now.Sub(w.start) < r.every && !now.Before(w.start) {
		w.n++
		if now.After(w.last) {
			w.last = now
		}
		return false, nil
	}
	if w != nil && w.n > 0 {
		old := *w
		leftover = &old
	}
	r.m[k] = &refusalWindow{start: now, last: now, actor: actor, reason: reason}
	return true, leftover
}

// setRole fills in the role name of a window's actor once its first event is built.
func (r *refusals) setRole(k tokenRef, start time.Time, role string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.m[k]; w != nil && w.start.Equal(start) {
		w.actor.Role = role
	}
}

// take removes the windows that have ended at now (every window if all) and returns
// the summary events (ActionRefusals, or ActionRegenerateRefusals for regenRefusals)
// of those that counted refusals.
func (r *refusals) take(now time.Time, all bool) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for k, w := range r.m {
		if !all && now.Sub(w.start) < r.every && !now.Before(w.start) {
			continue
		}
		delete(r.m, k)
		if w.n > 0 {
			out = append(out, r.summary(k, w))
		}
	}
	return out
}

// refusalsEvent is the ActionRefusals event of a window's counted refusals.
func refusalsEvent(k tokenRef, w *refusalWindow) audit.Event {
	return audit.Event{Tenant: k.tenant, Kind: audit.KindAction, Action: ActionRefusals, Actor: w.actor,
		Outcome: audit.Denied, Reason: w.reason, Time: w.last,
		Details: map[string]string{DetailStatus: "401", DetailRefusals: strconv.FormatInt(w.n, 10)}}
}

// ActionRegenerateRefusals is the action of the change-log event that stands for the
// regenerations of one user refused by Options.RegenerateInterval that were not
// logged one by one: its DetailRefusals says how many, its time is the last one's.
const ActionRegenerateRefusals = "token.refused_regenerations"

// reasonRegenerateTooSoon is the Reason of a regeneration refused by
// Options.RegenerateInterval.
const reasonRegenerateTooSoon = "regenerate_too_soon"

// refuseRegenerate logs a regeneration or issuance (action) refused by
// Options.RegenerateInterval, bounded per user as refuse bounds a dead token's
// requests: one event per window of RegenerateInterval, the rest counted for the next
// flush. cur is the user's latest token, which bounds the interval; nothing of a secret
// is logged.
func (s *Service) refuseRegenerate(p *access.Policy, actor access.Subject, action string, cur Token, now time.Time) {
	k := tokenRef{actor.Tenant, actor.User}
	a := actorOf(p, actor)
	log, leftover := s.regenRefusals.admit(k, a, reasonRegenerateTooSoon, now)
	if leftover != nil {
		s.enqueue(s.regenRefusals.summary(k, leftover))
	}
	if !log {
		return
	}
	s.enqueue(audit.Event{Tenant: actor.Tenant, Kind: audit.KindChange, Action: action, Actor: a,
		Target: tokenTarget(cur), Outcome: audit.Denied, Reason: reasonRegenerateTooSoon, Time: now,
		Details: map[string]string{"user": actor.User.String(), DetailRefusals: "1"}})
}

// regenRefusalsEvent is the ActionRegenerateRefusals event of a user's window of
// counted regeneration refusals (k.id is the user).
func regenRefusalsEvent(k tokenRef, w *refusalWindow) audit.Event {
	return audit.Event{Tenant: k.tenant, Kind: audit.KindChange, Action: ActionRegenerateRefusals, Actor: w.actor,
		Target: audit.Target{Type: "user", ID: k.id.String()}, Outcome: audit.Denied, Reason: w.reason, Time: w.last,
		Details: map[string]string{"user": k.id.String(), DetailRefusals: strconv.FormatInt(w.n, 10)}}
}
