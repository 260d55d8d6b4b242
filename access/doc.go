// Package access decides who may do what, where and from which address, for every
// tenant (company) a process serves.
//
// # Model
//
// A [Tenant] has [Role]s, [Project]s and members. Each member (a user, whose account
// lives in the authn package) has one tenant role, fixed at invitation and changeable
// later, and may belong to projects, each membership with an optional role override.
// A role is a set of [Right]s. The three default roles are created with every tenant:
// Admin (every right, including host rights registered later), Supervisor (reports,
// recordings, all calls of their projects) and Agent (own calls only, masked personal
// data). Host products add their own rights with [RegisterRight] at start-up.
//
// Projects isolate data: a subject sees a project's records only as its member, or with
// [SeeAllProjects].
//
// A member whose account may not sign in (blocked, archived, invited: [Member.Disabled],
// set by a store that also keeps authn accounts) holds no right at all in the compiled
// policy, so that a blocked user is denied by every check without the caller having to
// look at their status. The authn store moves the tenant's policy version with every
// status change, so the change applies on every instance's next request.
//
// # Deciding
//
// An [Engine] keeps one compiled, immutable [Policy] per tenant. [Policy.Check] is the
// decision every request makes — a map lookup and a bit test, with no allocation and no
// storage call. Everything unknown is denied: another tenant's subject, an unknown user,
// role, project or right. [Policy.Scope] tells the host's own queries which projects'
// records a subject may read, and in which only their own. [Policy.AllowsIP] applies the
// tenant's IP allowlist, which a role holding [IgnoreAllowedIPs] bypasses.
//
// Freshness: every change goes through [Service], which writes it, its change-log event
// and a new tenant policy version in one store transaction, then invalidates the local
// cache. [Engine.Policy] compares the cached snapshot's version with the store's on each
// call (one indexed single-row read; EngineOptions.MaxStaleness can relax this to a
// bounded interval), so a change made by any app instance sharing the database applies
// on every instance's next request. The snapshot a request was decided with is put in
// its context ([WithPolicy]) so that one request makes one freshness read.
//
// Refreshing is incremental when the store is a [ChangeStore] (storage/memory and
// storage/sqlstore are: a per-tenant, versioned change log filled by the store): after
// a change the engine applies only what changed since its version to a copy-on-write
// snapshot (the changed members in an overlay over a shared, immutable member table; a
// role edit touches the role table), and folds the overlay into a new table in the
// background. A cold start, or a gap in the log, loads the tenant in full. On
// PostgreSQL a storage/pglisten.Listener (one dedicated connection per process)
// announces every change: while its heartbeats come back, [Engine.Policy] makes no
// round trip at all, and a change committed on another instance is enforced here within
// EngineOptions.ListenLease (default 250 ms); when the listener fails or lags, the
// engine reads versions again (it never fails open). Its heartbeats carry a MAC, and
// an announced version is only a hint the store's read settles, so a role that may
// NOTIFY can neither stretch that bound nor make requests read the store for good.
// Idle tenants' policies are evicted beyond EngineOptions.MaxBytes (least recently
// used first; default 512 MiB).
//
// # HTTP
//
// [ClientIP] finds the client address, believing X-Forwarded-For only through trusted
// proxies. [Guard.Require] is the middleware: 401 without a subject, 403 (and an audit
// event) for a denied right or address, 503 when the policy cannot be loaded (fail
// closed). Give it an *audit.Writer as [Guard.Denials], so that denials are stored in
// batches and a flood of denied requests never waits on the tenant's audit chain.
// Set [Guard.Project] on every route that serves a project's data: without a
// project, a project-scoped right passes only for who holds it in every project
// ([Policy.CheckIn]); [Guard.RequireTenant] is the explicit tenant-level check.
//
// Errors: [ErrorCode] is the SDK's one mapping from every sentinel (access, audit,
// storage, and those authn and token register with [RegisterErrors]) to an HTTP status
// and a stable code; [WriteErrorFor] answers with it.
//
// # Tenants before sign-in
//
// [Service.ResolveTenant] finds the tenant of a sign-in page by its slug or the
// request's Host ([TenantNames], set with [Service.SetTenantNames]); authn's
// Service.Provision creates a tenant with its names and first Admin in one call.
//
// # Design notes
//
// The design sketch had the [Subject] carry its role and projects. It carries only
// identities instead, and every check resolves role and projects in the current policy:
// a demotion or a removed membership then applies on the next check, not at the next
// login, and a subject can never present stale grants.
package access
