// Package adapter names, in one interface, everything a complete callshield storage
// adapter implements: the store of every domain package, and their optional
// capabilities. storage/memory and storage/sqlstore implement [Store]; an adapter of
// your own that does can be handed to every callshield constructor:
//
//	var db adapter.Store = memory.New(memory.Options{}) // or a *sqlstore.Store
//	engine := access.NewEngine(db, access.EngineOptions{})
//	admin := access.NewService(db, engine, access.ServiceOptions{})
//	accounts, err := authn.NewService(db, engine, authn.Options{ /* ... */ })
//	tokens, err := token.NewService(db, engine, token.Options{ /* ... */ })
//	recorder := audit.NewRecorder(db, audit.Options{})
//
// and held to the contract with storage/storetest.Run.
//
// The domain packages declare their stores where they use them (access.Store,
// authn.Store, ...); this package only gathers them. When a domain package adds a
// store interface, it is embedded here with one line, and this package's compile-time
// checks of memory and sqlstore say at once which method an adapter is missing.
package adapter

import (
	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/token"
)

// Store is every store of callshield over one database: some units of work span
// domains (accepting an invitation creates the user and their membership), so one
// adapter implements them all.
type Store interface {
	access.Store       // tenants, roles, projects, members, allowlists, tenant names
	access.ChangeStore // the policy change log (incremental policy refresh)
	audit.Store        // the audit log
	audit.Retainer     // audit retention
	authn.Store        // accounts, links, settings, sessions, linked identities
	token.Store        // API tokens and their usage
}
