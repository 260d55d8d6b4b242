// Package compare holds callshield's comparisons with peer libraries: benchmarks that
// ask callshield and a peer the same questions in one run, and differential tests that
// hold callshield to a peer's answers (compare/access: Casbin; compare/mask:
// nyaruka/phonenumbers as a parser). It is a module of its own, so that the peers are
// no dependency of callshield: a user's `go mod download` never fetches them. CI runs
// it (.ci/run, step "compare module").
package compare
