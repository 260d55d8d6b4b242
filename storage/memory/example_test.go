package memory_test

import (
	"context"
	"crypto/hmac"
	"fmt"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// Create a store, use it as both the access and the audit store, and read back the
// hash-chained audit trail.
func ExampleNew() {
	ctx := context.Background()
	// A keyed chain: only holders of the key can recompute the audit trail's hashes.
	// Load the key from a secret store, never from source code.
	chain := audit.Chain{Key: []byte("example key; load yours from a secret store")}
	store := memory.New(memory.Options{Chain: chain})

	// The store is an access.Store: the access package's Service and Engine use it.
	engine := access.NewEngine(store, access.EngineOptions{})
	svc := access.NewService(store, engine, access.ServiceOptions{})
	tenant, err := svc.CreateTenant(ctx, "Acme Call Center")
	if err != nil {
		fmt.Println(err)
		return
	}

	// And an audit.Store: the Recorder writes to the same chain as access changes.
	rec := audit.NewRecorder(store, audit.Options{})
	err = rec.Record(ctx, audit.Event{
		Tenant: tenant.ID, Kind: audit.KindLogin, Action: "login", Outcome: audit.Failure,
		Actor: audit.Actor{User: uuid.New()}, Reason: "wrong_password",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	events, _ := store.Events(ctx, tenant.ID, audit.Query{})
	var prev []byte
	for _, e := range events {
		valid := hmac.Equal(chain.Link(prev, &e), e.Hash)
		fmt.Println(e.Seq, e.Kind, e.Action, e.Outcome, "link valid:", valid)
		prev = e.Hash
	}
	// Output:
	// 1 change tenant.create success link valid: true
	// 2 login login failure link valid: true
}
