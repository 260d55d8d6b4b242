package access

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Right is one permission. The built-in rights are constants; a host product registers
// its own with [RegisterRight] at start-up. Rights are stored by their stable name
// ([Right.String]); the numeric value is an index valid only inside this process.
//
// The zero Right is not a right: checks of it are denied.
type Right uint16

// MaxRights is how many rights (built-in and registered) a process may have.
const MaxRights = 256

// The built-in rights. Their names (in the catalog below) are stable and stored.
const (
	noRight Right = iota
	// UserManagement: invite, block, archive and remove users; change their roles.
	UserManagement
	// SeeAllProjects: see every project's data regardless of project membership.
	SeeAllProjects
	// EditProfile: edit one's own profile, password and two-factor settings.
	EditProfile
	// IgnoreAllowedIPs: sign in and work from any address, bypassing the tenant's IP
	// allowlist.
	IgnoreAllowedIPs
	// Integrations: manage external resources, integrations and webhooks, and hold an
	// API token.
	Integrations
	// SeeMaskedFields: see personal data (client phone numbers, ...) unmasked.
	SeeMaskedFields
	// ViewChangeLog: read the change log.
	ViewChangeLog
	// ViewActionLog: read the action log.
	ViewActionLog
	// ViewLoginLog: read the login log.
	ViewLoginLog
	// ViewSessions: see users' active sessions.
	ViewSessions
	// ViewReports: see statistics and reports.
	ViewReports
	// ExportReports: export reports.
	ExportReports
	// ListenRecordings: listen to call recordings.
	ListenRecordings
	// DownloadRecordings: download call recordings.
	DownloadRecordings
	// ViewAllCalls: see every call of one's projects; without it, only one's own calls.
	ViewAllCalls
	// ManageRoles: create, edit and delete roles.
	ManageRoles
	// ManageProjects: create, edit and delete projects and their members.
	ManageProjects
	// ManageCompany: edit company settings, including the IP allowlist.
	ManageCompany

	numBuiltin
)

// RightInfo describes a right in the catalog.
type RightInfo struct {
	Right Right
	// Name is the stable identifier stored with roles: lower-case, dotted.
	Name string
	// Doc is a one-line description for administrators.
	Doc string
	// OwnFallback marks a "view all" right: a project member without it still sees
	// their own records in that project (see [Policy.Scope]).
	OwnFallback bool
	// ProjectScoped marks a right that can differ between projects (listening to
	// recordings, seeing masked fields, ...): it is decided in the project a request
	// is about, by the user's project override role there if they have one. A right
	// that is not project-scoped (ManageCompany, UserManagement, ManageRoles, ...) is
	// tenant-wide: [Policy.Check] decides it on the user's tenant role alone, whatever
	// project is named, and a project override role holding it grants nothing by it.
	// Register host rights about project data with ProjectScoped true; the zero value
	// makes a right tenant-wide.
	ProjectScoped bool
	// DefaultFor lists the default roles (KindSupervisor, KindAgent) that hold this
	// right in every tenant created after it was registered: a host right such as
	// "crm.edit" can be given to the Supervisor role of new tenants without code at
	// tenant creation. The Admin role holds every right anyway; KindAdmin and
	// KindCustom here change nothing. Existing tenants' roles are not changed:
	// administrators edit those (or the host migrates them with UpdateRole).
	DefaultFor []RoleKind
}

var builtinRights = [...]RightInfo{
	{UserManagement, "users.manage", "Invite, block, archive and remove users; change their roles.", false, false, nil},
	{SeeAllProjects, "projects.see_all", "See every project's data regardless of membership.", false, false, nil},
	{EditProfile, "profile.edit", "Edit one's own profile, password and two-factor settings.", false, false, nil},
	{IgnoreAllowedIPs, "ip.ignore_allowlist", "Work from any address, bypassing the IP allowlist.", false, false, nil},
	{Integrations, "integrations.manage", "Manage external resources, integrations, webhooks and hold an API token.", false, true, nil},
	{SeeMaskedFields, "fields.see_masked", "See personal data such as client phone numbers unmasked.", false, true, nil},
	{ViewChangeLog, "audit.change_log.view", "Read the change log.", false, false, nil},
	{ViewActionLog, "audit.action_log.view", "Read the action log.", false, false, nil},
	{ViewLoginLog, "audit.login_log.view", "Read the login log.", false, false, nil},
	{ViewSessions, "sessions.view", "See users' active sessions.", false, false, nil},
	{ViewReports, "reports.view", "See statistics and reports.", false, true, nil},
	{ExportReports, "reports.export", "Export reports.", false, true, nil},
	{ListenRecordings, "recordings.listen", "Listen to call recordings.", false, true, nil},
	{DownloadRecordings, "recordings.download", "Download call recordings.", false, true, nil},
	{ViewAllCalls, "calls.view_all", "See every call of one's projects (else only one's own).", true, true, nil},
	{ManageRoles, "roles.manage", "Create, edit and delete roles.", false, false, nil},
	{ManageProjects, "projects.manage", "Create, edit and delete projects and their members.", false, true, nil},
	{ManageCompany, "company.manage", "Edit company settings, including the IP allowlist.", false, false, nil},
}

// The catalog is append-only: registered rights are never removed or renumbered, so a
// compiled policy stays valid when a right is registered after it was built.
var catalog struct {
	mu     sync.Mutex
	infos  atomic.Pointer[[]RightInfo] // index = Right; [0] is the zero right
	byName atomic.Pointer[map[string]Right]
	// size is len(*infos): rights at or above it are not in the catalog and are
	// denied even by the Admin role's all-ones set.
	size atomic.Int32
	// scoped has the bit of every ProjectScoped right, set before the right's
	// index is published through size.
	scoped [MaxRights / 64]atomic.Uint64
}

// projectScoped reports whether r is a ProjectScoped right of the catalog: one bit
// test, for the decision path.
func (r Right) projectScoped() bool {
	return int(r) < MaxRights && catalog.scoped[r>>6].Load()&(1<<(r&63)) != 0
}

func markScoped(info RightInfo) {
	if info.ProjectScoped {
		catalog.scoped[info.Right>>6].Or(1 << (info.Right & 63))
	}
}

func init() {
	infos := make([]RightInfo, numBuiltin)
	byName := make(map[string]Right, numBuiltin)
	for _, ri := range builtinRights {
		infos[ri.Right] = ri
		byName[ri.Name] = ri.Right
		markScoped(ri)
	}
	if len(byName) != int(numBuiltin)-1 {
		panic("access: built-in right catalog out of order")
	}
	catalog.infos.Store(&infos)
	catalog.byName.Store(&byName)
	catalog.size.Store(int32(len(infos)))
}

// Errors of the right catalog.
var (
	// ErrUnknownRight: a name that is neither built in nor registered.
	ErrUnknownRight = errors.New("access: unknown right")
	// ErrRightExists: RegisterRight of a name already in the catalog.
	ErrRightExists = errors.New("access: right already registered")
	// ErrInvalidRightName: a name that is not lower-case letters, digits, '.', '_'.
	ErrInvalidRightName = errors.New("access: invalid right name")
	// ErrTooManyRights: the catalog holds MaxRights already.
	ErrTooManyRights = errors.New("access: too many rights")
)

// RegisterRight adds a host right to the process-wide catalog and returns it. Call it
// at start-up (a package-level var with [MustRegisterRight] is the usual way), before
// roles naming it are loaded: stored roles that name an unregistered right simply do
// not grant it (deny by default).
func RegisterRight(info RightInfo) (Right, error) {
	if !validRightName(info.Name) {
		return noRight, fmt.Errorf("%w: %q", ErrInvalidRightName, info.Name)
	}
	catalog.mu.Lock()
	defer catalog.mu.Unlock()
	old := *catalog.byName.Load()
	if _, ok := old[info.Name]; ok {
		return noRight, fmt.Errorf("%w: %q", ErrRightExists, info.Name)
	}
	infos := *catalog.infos.Load()
	if len(infos) >= MaxRights {
		return noRight, ErrTooManyRights
	}
	info.Right = Right(len(infos))
	info.DefaultFor = append([]RoleKind(nil), info.DefaultFor...)
	newInfos := append(infos[:len(infos):len(infos)], info)
	byName := make(map[string]Right, len(old)+1)
	for k, v := range old {
		byName[k] = v
	}
	byName[info.Name] = info.Right
	markScoped(info)
	catalog.infos.Store(&newInfos)
	catalog.byName.Store(&byName)
	catalog.size.Store(int32(len(newInfos)))
	return info.Right, nil
}

// MustRegisterRight is RegisterRight for package-level variables; it panics on error.
func MustRegisterRight(info RightInfo) Right {
	r, err := RegisterRight(info)
	if err != nil {
		panic(err)
	}
	return r
}

// ParseRight returns the right with this stable name, or an error wrapping
// ErrUnknownRight.
func ParseRight(name string) (Right, error) {
	if r, ok := (*catalog.byName.Load())[name]; ok {
		return r, nil
	}
	return noRight, fmt.Errorf("%w: %q", ErrUnknownRight, name)
}

// Rights returns the whole catalog, built-in rights first, in index order.
func Rights() []RightInfo {
	infos := *catalog.infos.Load()
	return append([]RightInfo(nil), infos[1:]...)
}

// Info returns the catalog entry of r; ok is false for the zero or an unknown Right.
func (r Right) Info() (RightInfo, bool) {
	infos := *catalog.infos.Load()
	if r == noRight || int(r) >= len(infos) {
		return RightInfo{}, false
	}
	return infos[r], true
}

// String returns the right's stable name, or "right(N)" for a value not in the catalog.
func (r Right) String() string {
	if ri, ok := r.Info(); ok {
		return ri.Name
	}
	return fmt.Sprintf("right(%d)", uint16(r))
}

// Valid reports whether r is in the catalog.
func (r Right) Valid() bool {
	_, ok := r.Info()
	return ok
}

func validRightName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// RightSet is a set of rights as a fixed-size bit set: membership is one bit test and
// the zero value is the empty set.
type RightSet [MaxRights / 64]uint64

// Has reports whether r is in the set. The zero Right and rights not in the catalog
// are never in a set.
func (s *RightSet) Has(r Right) bool {
	return r != noRight && int32(r) < catalog.size.Load() && s[r>>6]&(1<<(r&63)) != 0
}

// Add adds r to the set; the zero Right and out-of-range values are ignored.
func (s *RightSet) Add(r Right) {
	if r != noRight && int(r) < MaxRights {
		s[r>>6] |= 1 << (r & 63)
	}
}

// RightSetOf returns the set of the given rights.
func RightSetOf(rights ...Right) RightSet {
	var s RightSet
	for _, r := range rights {
		s.Add(r)
	}
	return s
}
