// Package accessbench generates the benchmark tenant shared by the access benchmarks
// (access/bench_test.go) and the peer comparisons of the compare module
// (compare/access): one policy, one query list, so that a ratio compares the same
// questions answered the same way. It is test support; the library never imports it.
//
// The tenant: Projects projects; the roles agent, supervisor and admin with the right
// sets of Roles; members spread over the projects, each a member of 1 to 3 projects with
// a role there (a per-project override in callshield), and a tenant role. The same
// member count gives the same tenant, so sizes are regenerated rather than kept.
package accessbench

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/callshield/callshield/access"
)

const (
	// Projects is the number of projects of the tenant.
	Projects = 100
	// Active is the query working set: the users active at one moment (signed in and
	// clicking), drawn at random from all members. Asking a random member of 1M per
	// iteration would measure the cache misses of a 1M-entry table on every call, which
	// is not what a server sees: its active users' entries stay in cache between their
	// requests. The working set stays this size for every policy size.
	Active = 4096
	// QueryCount is the length of the precomputed query list each benchmark cycles
	// through: two questions per active user on average. A power of two, so that the
	// loop's i%QueryCount is a mask, not a division charged to the decision.
	QueryCount = 8192
)

// Rights is the built-in catalog without SeeAllProjects, whose "every project" meaning
// Casbin's domain models do not express. It is listed rather than taken from
// access.Rights so that a host right registered by a test cannot change what a seed
// generates.
var Rights = []access.Right{
	access.UserManagement, access.EditProfile, access.IgnoreAllowedIPs, access.Integrations,
	access.SeeMaskedFields, access.ViewChangeLog, access.ViewActionLog, access.ViewLoginLog,
	access.ViewSessions, access.ViewReports, access.ExportReports, access.ListenRecordings,
	access.DownloadRecordings, access.ViewAllCalls, access.ManageRoles, access.ManageProjects,
	access.ManageCompany,
}

// Role is one role of the benchmark tenant.
type Role struct {
	Name   string
	Rights []access.Right
}

// Roles are the three roles of the benchmark tenant, all of Kind custom so that each
// grants exactly the rights listed (admin: Rights), and RoleOdds the odds that a member
// holds each (tenant-wide and per project alike).
var (
	Roles = [...]Role{
		{"agent", []access.Right{access.EditProfile, access.ListenRecordings, access.ViewReports}},
		{"supervisor", []access.Right{access.EditProfile, access.ViewReports, access.ExportReports,
			access.ListenRecordings, access.DownloadRecordings, access.ViewAllCalls, access.SeeMaskedFields,
			access.ViewSessions}},
		{"admin", Rights},
	}
	RoleOdds = [...]float64{0.85, 0.12, 0.03}
)

// World is a generated tenant in compact form (a 1M-member world has 2M project
// memberships), from which both the callshield policy and a peer's rules are built.
type World struct {
	Tenant    uuid.UUID
	Projects  []uuid.UUID
	Roles     [len(Roles)]uuid.UUID
	Users     []uuid.UUID
	UserRole  []uint8  // index into Roles: the tenant role
	PMStart   []uint32 // user i's memberships are PM*[PMStart[i]:PMStart[i+1]]
	PMProject []uint8  // index into Projects
	PMRole    []uint8  // index into Roles: the role in that project
}

// RandUUID returns a UUIDv7-shaped identifier drawn from r, so that a seed reproduces a
// whole policy.
func RandUUID(r *rand.Rand) uuid.UUID {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], r.Uint64())
	binary.LittleEndian.PutUint64(u[8:], r.Uint64())
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u
}

func pickRole(r *rand.Rand) uint8 {
	x := r.Float64()
	for i, p := range RoleOdds {
		if x < p {
			return uint8(i)
		}
		x -= p
	}
	return 0
}

// NewWorld generates the tenant with n members; the same n gives the same tenant.
func NewWorld(n int) *World {
	r := rand.New(rand.NewPCG(uint64(n), 0xca11))
	w := &World{
		Tenant:    RandUUID(r),
		Projects:  make([]uuid.UUID, Projects),
		Users:     make([]uuid.UUID, n),
		UserRole:  make([]uint8, n),
		PMStart:   make([]uint32, n+1),
		PMProject: make([]uint8, 0, 2*n),
		PMRole:    make([]uint8, 0, 2*n),
	}
	for i := range w.Projects {
		w.Projects[i] = RandUUID(r)
	}
	for i := range w.Roles {
		w.Roles[i] = RandUUID(r)
	}
	for i := range n {
		w.Users[i] = RandUUID(r)
		w.UserRole[i] = pickRole(r)
		w.PMStart[i] = uint32(len(w.PMProject))
		k := 1 + r.IntN(3)
		for len(w.PMProject)-int(w.PMStart[i]) < k {
			p := uint8(r.IntN(Projects))
			dup := false
			for _, q := range w.PMProject[w.PMStart[i]:] {
				dup = dup || q == p
			}
			if !dup {
				w.PMProject = append(w.PMProject, p)
				w.PMRole = append(w.PMRole, pickRole(r))
			}
		}
	}
	w.PMStart[n] = uint32(len(w.PMProject))
	return w
}

// Role returns the world's role i as callshield stores it.
func (w *World) Role(i int) access.Role {
	role := access.Role{ID: w.Roles[i], Tenant: w.Tenant, Name: Roles[i].Name, Kind: access.KindCustom, Version: 1}
	for _, right := range Roles[i].Rights {
		role.Rights = append(role.Rights, right.String())
	}
	return role
}

// PolicyData is the world as callshield stores it.
func (w *World) PolicyData() access.PolicyData {
	d := access.PolicyData{
		Tenant:         access.Tenant{ID: w.Tenant, Name: "bench"},
		Version:        1,
		Projects:       make([]access.Project, len(w.Projects)),
		Members:        make([]access.Member, len(w.Users)),
		ProjectMembers: make([]access.ProjectMember, len(w.PMProject)),
	}
	for i := range Roles {
		d.Roles = append(d.Roles, w.Role(i))
	}
	for i, id := range w.Projects {
		d.Projects[i] = access.Project{ID: id, Tenant: w.Tenant}
	}
	for i, u := range w.Users {
		d.Members[i] = access.Member{Tenant: w.Tenant, User: u, Role: w.Roles[w.UserRole[i]]}
		for j := w.PMStart[i]; j < w.PMStart[i+1]; j++ {
			d.ProjectMembers[j] = access.ProjectMember{Tenant: w.Tenant, User: u,
				Project: w.Projects[w.PMProject[j]], Role: w.Roles[w.PMRole[j]]}
		}
	}
	return d
}

// Query is one question: may User use Right in Project?
type Query struct {
	User, Project uuid.UUID
	Right         access.Right
}

// Queries is the one query generator of the decision benchmarks: QueryCount questions
// of Active users drawn at random from all members (every member when there are
// fewer). The mix is a server's: 2% come from unknown users (a removed account's
// session), and of the rest 85% are about one of the user's projects, with a right
// their role there holds three times in four (what the UI offers) and any right
// otherwise; 13% are about a random project, mostly one they are not a member of; 2%
// about an unknown project. About two thirds are allowed.
func (w *World) Queries() []Query {
	r := rand.New(rand.NewPCG(uint64(len(w.Users)), 0x9e57))
	active := make([]int, 0, min(Active, len(w.Users)))
	if len(w.Users) <= Active {
		for i := range w.Users {
			active = append(active, i)
		}
	} else {
		seen := make(map[int]bool, Active)
		for len(active) < Active {
			if i := r.IntN(len(w.Users)); !seen[i] {
				seen[i] = true
				active = append(active, i)
			}
		}
	}
	anyRight := func() access.Right { return Rights[r.IntN(len(Rights))] }
	qs := make([]Query, QueryCount)
	for k := range qs {
		q := &qs[k]
		if r.IntN(50) == 0 {
			q.User, q.Project, q.Right = RandUUID(r), w.Projects[r.IntN(Projects)], anyRight()
			continue
		}
		i := active[r.IntN(len(active))]
		q.User = w.Users[i]
		switch x := r.IntN(100); {
		case x < 85:
			j := w.PMStart[i] + uint32(r.IntN(int(w.PMStart[i+1]-w.PMStart[i])))
			q.Project = w.Projects[w.PMProject[j]]
			if rights := Roles[w.PMRole[j]].Rights; r.IntN(4) != 0 {
				q.Right = rights[r.IntN(len(rights))]
			} else {
				q.Right = anyRight()
			}
		case x < 98:
			q.Project, q.Right = w.Projects[r.IntN(Projects)], anyRight()
		default:
			q.Project, q.Right = RandUUID(r), anyRight()
		}
	}
	return qs
}
