package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// The demo tenant's slug and users.
const demoSlug = "demo"

type demoUser struct {
	Email, Name string
	Kind        access.RoleKind
	Projects    []string
	InviteOnly  bool // left invited, to show a pending invitation
}

var demoUsers = []demoUser{
	{"admin@demo.test", "Ada Admin", access.KindAdmin, []string{"Sales", "Support"}, false},
	{"supervisor@demo.test", "Sam Supervisor", access.KindSupervisor, []string{"Sales", "Support"}, false},
	{"agent@demo.test", "Alice Agent", access.KindAgent, []string{"Sales"}, false},
	{"agent2@demo.test", "Bob Agent", access.KindAgent, []string{"Support"}, false},
	{"carol@demo.test", "Carol Candidate", access.KindAgent, []string{"Support"}, true},
}

// seed provisions the demo tenant on the first start; later starts reuse it.
func seed(ctx context.Context, a *app, stdout io.Writer) error {
	if _, err := a.access.ResolveTenant(ctx, demoSlug); err == nil {
		return nil
	} else if !isNotFound(err) {
		return err
	}
	pw := a.cfg.AdminPassword
	printed := false
	if pw == "" {
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw = strings.ToLower(base32.StdEncoding.EncodeToString(b))
		printed = true
	}

	// The users' mails stay in a private outbox (they must not reach a relay): the
	// seed signs them up through its own authn.Service.
	outbox := &authn.Outbox{}
	svc, err := authn.NewService(a.store, a.engine, authn.Options{
		Mailer:  outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "seed#" + tok.Reveal() },
		Audit:   a.recorder, Clock: a.clock,
	})
	if err != nil {
		return err
	}

	// The tenant with its default roles, its slug and its first Admin: one library
	// call (the Admin's invitation goes to the outbox; accepted below).
	prov, err := svc.Provision(ctx, a.access, authn.ProvisionRequest{Name: "Demo",
		Names: access.TenantNames{Slug: demoSlug}, AdminEmail: demoUsers[0].Email, AdminName: demoUsers[0].Name})
	if err != nil {
		return err
	}
	t := prov.Tenant
	sys := access.System(t.ID)
	roles, err := a.store.Roles(ctx, t.ID)
	if err != nil {
		return err
	}
	roleOfKind := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		roleOfKind[r.Kind] = r.ID
	}
	projects := map[string]uuid.UUID{}
	for _, name := range []string{"Sales", "Support"} {
		p, err := a.access.CreateProject(ctx, sys, name)
		if err != nil {
			return err
		}
		projects[name] = p.ID
	}

	tokenRE := regexp.MustCompile(`seed#(\S+)`)
	users := map[string]uuid.UUID{}
	for i, du := range demoUsers {
		if i == 0 {
			// The Admin, invited by Provision; their projects are added once they accept.
			users[du.Email] = prov.Admin.User.ID
		} else {
			req := authn.InviteRequest{Email: du.Email, Name: du.Name, Role: roleOfKind[du.Kind]}
			for _, p := range du.Projects {
				req.Projects = append(req.Projects, projects[p])
			}
			inv, err := svc.Invite(ctx, sys, req)
			if err != nil {
				return fmt.Errorf("invite %s: %w", du.Email, err)
			}
			users[du.Email] = inv.User.ID
		}
		if du.InviteOnly {
			continue
		}
		m, _ := outbox.Last(du.Email)
		tok := tokenRE.FindStringSubmatch(m.Text)
		if tok == nil {
			return fmt.Errorf("invite %s: no link in the mail", du.Email)
		}
		if _, err := svc.AcceptInvitation(ctx, tok[1], authn.NewPassword(pw), authn.Meta{}); err != nil {
			return fmt.Errorf("accept %s: %w", du.Email, err)
		}
		if i == 0 {
			for _, p := range du.Projects {
				if _, err := a.access.AddProjectMember(ctx, sys, projects[p], users[du.Email], uuid.Nil); err != nil {
					return err
				}
			}
		}
	}

	// The host's data: a few hundred calls.
	calls := demoCalls(t.ID, a.clock(), projects, users)
	if err := a.calls.Insert(ctx, calls); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded tenant %q: %d calls; users admin@demo.test (Admin), supervisor@demo.test, agent@demo.test, agent2@demo.test\n", demoSlug, len(calls))
	if printed {
		fmt.Fprintf(stdout, "demo password (shown once; all demo users share it): %s\n", pw)
	} else {
		fmt.Fprintln(stdout, "demo password: as given by -admin-password / CALLSHIELD_DEMO_ADMIN_PASSWORD")
	}
	return nil
}

// demoCalls returns 300 calls of the last 30 days, the same on every seed: Sales calls
// mostly by Alice, Support calls mostly by Bob, some by the supervisor; clients from
// several countries; every third call recorded.
func demoCalls(tenant uuid.UUID, now time.Time, projects, users map[string]uuid.UUID) []Call {
	rng := mrand.New(mrand.NewPCG(13, 2026))
	countries := []struct {
		code   string
		digits int
		queue  string
	}{
		{"+39", 10, "Italia"}, {"+44", 10, "UK"}, {"+49", 11, "Deutschland"}, {"+33", 9, "France"},
		{"+1", 10, "North America"}, {"+34", 9, "España"}, {"+48", 9, "Polska"}, {"+81", 10, "Japan"},
	}
	var out []Call
	for i := 0; i < 300; i++ {
		project, agent := "Sales", "agent@demo.test"
		if i%2 == 1 {
			project, agent = "Support", "agent2@demo.test"
		}
		if i%7 == 0 {
			agent = "supervisor@demo.test"
		}
		c := countries[rng.IntN(len(countries))]
		var num strings.Builder
		num.WriteString(c.code)
		for d := 0; d < c.digits; d++ {
			if d == 0 {
				num.WriteByte(byte('1' + rng.IntN(9)))
			} else {
				num.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		dir := "inbound"
		if rng.IntN(3) == 0 {
			dir = "outbound"
		}
		started := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second).UTC()
		out = append(out, Call{
			ID: uuid.Must(uuid.NewV7()), Tenant: tenant, Project: projects[project], Agent: users[agent],
			ClientPhone: num.String(), Direction: dir, Queue: project + " " + c.queue,
			StartedAt: started, DurationS: 20 + rng.IntN(900), Recording: i%3 == 0,
		})
	}
	return out
}

// demoRecording is the one recording every recorded demo call plays: three seconds of
// a two-tone chime as 8 kHz 16-bit mono WAV.
var demoRecording = func() string {
	const rate, secs = 8000, 3
	n := rate * secs
	var b strings.Builder
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(rate))
	le(uint32(2 * rate))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	for i := 0; i < n; i++ {
		t := float64(i) / rate
		f := 660.0
		if int(t*2)%2 == 1 {
			f = 880
		}
		env := math.Exp(-3 * math.Mod(t, 0.5))
		le(int16(8000 * env * math.Sin(2*math.Pi*f*t)))
	}
	return b.String()
}()
