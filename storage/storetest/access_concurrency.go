package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Goroutine counts of the concurrency cases: enough to interleave on any adapter,
// few enough that a database-backed run stays in seconds.
const (
	racers  = 50 // goroutines racing for one version or one name
	writers = 20 // goroutines retrying until each of their updates lands
)

var accessConcurrencyCases = []testCase{
	{"concurrent demotions of the last two Admins: exactly one succeeds, the other is ErrLastAdmin", func(t *testing.T, f *fx) {
		for round := 0; round < 5; round++ {
			tn := f.createTenant(fmt.Sprintf("Acme %d", round))
			a, b := f.setMember(tn.ID, tn.Admin.ID), f.setMember(tn.ID, tn.Admin.ID)
			errs := make(chan error, 2)
			var wg sync.WaitGroup
			for _, m := range []access.Member{a, b} {
				m.Role = tn.Agent.ID
				wg.Go(func() { errs <- f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")) })
			}
			wg.Wait()
			close(errs)
			var ok, last int
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, access.ErrLastAdmin):
					last++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			assert.Equal(t, 1, ok, "round %d", round)
			assert.Equal(t, 1, last, "round %d", round)
		}
	}},
	// Optimistic concurrency under a real race: racers goroutines read the role (all
	// see one version), then all update it with that version. Exactly one update wins
	// per round; every other is ErrStale; only the winner's event is appended.
	{"concurrent UpdateRole with the version each read: exactly one wins per version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		for round := range 3 {
			evs := make([]audit.Event, racers)
			for i := range evs {
				evs[i] = changeEvent(t, tn.ID, "role.update")
			}
			eventsBefore := len(f.allEvents(tn.ID))
			errs := make([]error, racers)
			var read, done sync.WaitGroup
			start := make(chan struct{})
			for i := range racers {
				read.Add(1)
				done.Go(func() {
					cur, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
					read.Done()
					if err != nil {
						errs[i] = err
						return
					}
					<-start
					cur.Name = name(fmt.Sprintf("Dispatch r%d", round), i)
					cur.Rights = []string{fmt.Sprintf("host.right_%d_%d", round, i)}
					errs[i] = f.s.Access.UpdateRole(f.ctx, cur, evs[i])
				})
			}
			read.Wait()
			close(start)
			done.Wait()

			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					assert.Equal(t, -1, winner, "round %d: two updates with one version succeeded", round)
					winner = i
				default:
					assert.ErrorIs(t, err, storage.ErrStale, "round %d, racer %d", round, i)
				}
			}
			require.NotEqual(t, -1, winner, "round %d: no update succeeded", round)
			got, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
			require.NoError(t, err)
			assert.Equal(t, int64(round+2), got.Version, "round %d", round)
			assert.Equal(t, name(fmt.Sprintf("Dispatch r%d", round), winner), got.Name, "the winner's write is stored")
			assert.Equal(t, []string{fmt.Sprintf("host.right_%d_%d", round, winner)}, got.Rights, "the winner's write is stored whole")
			events := f.allEvents(tn.ID)
			if assert.Len(t, events, eventsBefore+1, "round %d: one event per winning update", round) {
				assert.Equal(t, evs[winner].ID, events[len(events)-1].ID)
			}
			verifyChain(t, f.s.Chain, events)
		}
	}},
	// No lost update: writers goroutines each add their own right to one role with
	// read-modify-write, retrying on ErrStale. Every right lands, the version counts
	// every update, and each update appended one event.
	{"concurrent read-modify-write of one role, retried on ErrStale, loses no update", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		evs := make([]audit.Event, writers)
		want := make([]string, writers)
		for i := range writers {
			evs[i] = changeEvent(t, tn.ID, "role.update")
			want[i] = fmt.Sprintf("host.right_%02d", i)
		}
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				for attempt := 0; ; attempt++ {
					if attempt > 10*writers {
						errs[i] = errors.New("too many ErrStale retries")
						return
					}
					cur, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
					if err != nil {
						errs[i] = err
						return
					}
					cur.Rights = append(cur.Rights, want[i])
					slices.Sort(cur.Rights)
					err = f.s.Access.UpdateRole(f.ctx, cur, evs[i])
					if !errors.Is(err, storage.ErrStale) {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "writer %d", i)
		}
		got, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got.Rights, "every writer's right is stored")
		assert.Equal(t, int64(1+writers), got.Version)
		events := f.allEvents(tn.ID)
		verifyChain(t, f.s.Chain, events)
		assert.ElementsMatch(t, eventIDs(evs), eventIDs(events[len(events)-writers:]))
	}},
	// Uniqueness under a race: racers goroutines create a role of one name at once;
	// one succeeds and every other is ErrConflict.
	{"concurrent CreateRole of one name: exactly one succeeds, the others are ErrConflict", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		roles, evs := make([]access.Role, racers), make([]audit.Event, racers)
		for i := range racers {
			roles[i], evs[i] = roleValue(tn.ID, "Dispatch 東京"), changeEvent(t, tn.ID, "role.create")
		}
		errs := race(racers, func(i int) error { return f.s.Access.CreateRole(f.ctx, roles[i], evs[i]) })
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
			} else {
				assert.ErrorIs(t, err, storage.ErrConflict, "racer %d", i)
			}
		}
		assert.Equal(t, 1, wins)
		got, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"Admin", "Agent", "Dispatch 東京", "Supervisor"}, names(got))
		events := f.allEvents(tn.ID)
		assert.Len(t, events, 2, "tenant.create and the one role.create")
		verifyChain(t, f.s.Chain, events)
	}},
	// racers goroutines add distinct members at once: every membership is stored, and
	// each appended one event and bumped the policy version once. LoadPolicy racing
	// with them reads one consistent state: as many new members as version bumps.
	{"concurrent SetMember of distinct users stores every membership, one event and one policy version each", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		v0 := f.policyVersion(tn.ID)
		ms, evs := make([]access.Member, racers), make([]audit.Event, racers)
		for i := range racers {
			ms[i] = access.Member{Tenant: tn.ID, User: uuid.New(), Role: tn.Agent.ID, CreatedAt: at(0), UpdatedAt: at(0)}
			evs[i] = changeEvent(t, tn.ID, "member.set")
		}
		stop := readWhile(func() bool {
			pd, err := f.s.Access.LoadPolicy(f.ctx, tn.ID)
			return assert.NoError(t, err) &&
				assert.Equal(t, pd.Version-v0, int64(len(pd.Members)), "LoadPolicy is not one consistent read")
		})
		errs := race(racers, func(i int) error { return f.s.Access.SetMember(f.ctx, ms[i], evs[i]) })
		stop()
		for i, err := range errs {
			assert.NoError(t, err, "racer %d", i)
		}
		got, err := f.s.Access.Members(f.ctx, tn.ID)
		require.NoError(t, err)
		assertMembers(t, sortMembers(ms...), got)
		assert.Equal(t, v0+racers, f.policyVersion(tn.ID), "one policy version per mutation")
		events := f.allEvents(tn.ID)
		verifyChain(t, f.s.Chain, events)
		assert.ElementsMatch(t, eventIDs(evs), eventIDs(events[1:]))
	}},
	// racers goroutines set one user's membership at once, each with its own role:
	// one membership remains, holding one of the roles, and every call was recorded.
	{"concurrent SetMember of one user leaves exactly one membership", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		// Another Admin, so that demoting the racing user is never the last-Admin case.
		f.setMember(tn.ID, tn.Admin.ID)
		roleIDs := []uuid.UUID{tn.Admin.ID, tn.Supervisor.ID, tn.Agent.ID}
		user := newID()
		evs := make([]audit.Event, racers)
		for i := range evs {
			evs[i] = changeEvent(t, tn.ID, "member.set")
		}
		for i, err := range race(racers, func(i int) error {
			return f.s.Access.SetMember(f.ctx, access.Member{Tenant: tn.ID, User: user, Role: roleIDs[i%3], CreatedAt: at(0), UpdatedAt: at(0)}, evs[i])
		}) {
			assert.NoError(t, err, "racer %d", i)
		}
		got, err := f.s.Access.Member(f.ctx, tn.ID, user)
		require.NoError(t, err)
		assert.Contains(t, roleIDs, got.Role)
		all, err := f.s.Access.Members(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Len(t, all, 2, "the keeper and the racing user, once")
		events := f.allEvents(tn.ID)
		assert.Len(t, events, 2+racers)
		verifyChain(t, f.s.Chain, events)
	}},
	// Referential integrity under a race: deleting a role while another caller makes
	// it a member's role never leaves a member holding a deleted role. Either the
	// member is set first and the delete is ErrRoleInUse, or the role is deleted
	// first and SetMember is ErrNotFound.
	{"concurrent DeleteRole and SetMember with that role never leave a member without a role", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		for round := range 10 {
			r := f.createRole(tn.ID, name("Temp", round))
			m := access.Member{Tenant: tn.ID, User: newID(), Role: r.ID, CreatedAt: at(0), UpdatedAt: at(0)}
			evSet, evDel := changeEvent(t, tn.ID, "member.set"), changeEvent(t, tn.ID, "role.delete")
			errs := race(2, func(i int) error {
				if i == 0 {
					return f.s.Access.SetMember(f.ctx, m, evSet)
				}
				return f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, evDel)
			})
			setErr, delErr := errs[0], errs[1]
			switch {
			case setErr == nil:
				assert.ErrorIs(t, delErr, access.ErrRoleInUse, "round %d: the role was deleted under a member", round)
				_, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
				assert.NoError(t, err, "round %d", round)
			case delErr == nil:
				assert.ErrorIs(t, setErr, storage.ErrNotFound, "round %d", round)
				_, err := f.s.Access.Member(f.ctx, tn.ID, m.User)
				assert.ErrorIs(t, err, storage.ErrNotFound, "round %d", round)
			default:
				t.Errorf("round %d: both failed: %v; %v", round, setErr, delErr)
			}
		}
		pd, err := f.s.Access.LoadPolicy(f.ctx, tn.ID)
		require.NoError(t, err)
		for _, m := range pd.Members {
			assert.Contains(t, roleIDSet(pd.Roles), m.Role, "a member holds a deleted role")
		}
		verifyChain(t, f.s.Chain, f.allEvents(tn.ID))
	}},
	// Access mutations and direct audit Appends share one chain per tenant: run at
	// once, they interleave into one gap-free chain with every link valid.
	{"concurrent access mutations and audit Appends to one tenant extend one valid chain", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		n := racers
		ms, evs := make([]access.Member, n), make([]audit.Event, n)
		for i := range n {
			ms[i] = access.Member{Tenant: tn.ID, User: newID(), Role: tn.Agent.ID, CreatedAt: at(0), UpdatedAt: at(0)}
			evs[i] = changeEvent(t, tn.ID, "event")
		}
		errs := race(n, func(i int) error {
			if i%2 == 0 {
				return f.s.Access.SetMember(f.ctx, ms[i], evs[i])
			}
			return f.s.Audit.Append(f.ctx, evs[i])
		})
		for i, err := range errs {
			assert.NoError(t, err, "goroutine %d", i)
		}
		events := f.allEvents(tn.ID)
		assert.Len(t, events, 1+n)
		verifyChain(t, f.s.Chain, events)
		assert.ElementsMatch(t, eventIDs(evs), eventIDs(events[1:]))
	}},
}

// race runs fn(0..n-1) on n goroutines released at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func roleIDSet(rs []access.Role) []uuid.UUID {
	out := make([]uuid.UUID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
