package audit_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionAndRecordingEvents(t *testing.T) {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	rec := audit.NewRecorder(store, audit.Options{})
	tenant, agent, admin, project := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	session := uuid.New()
	agentActor := audit.Actor{User: agent, Role: "Agent", IP: netip.MustParseAddr("198.51.100.7"), Session: session}

	created := audit.SessionEvent(tenant, agentActor, audit.ActionSessionCreated, session, uuid.Nil, "")
	assert.Equal(t, audit.Target{Type: "session", ID: session.String(), Name: agent.String()}, created.Target,
		"without an owner the session is the actor's own")
	revoked := audit.SessionEvent(tenant, audit.Actor{User: admin, Role: "Admin"}, audit.ActionSessionRevoked, session, agent, "revoked_by_admin")
	assert.Equal(t, agent.String(), revoked.Target.Name, "the owner of a revoked session is named")
	listen := audit.RecordingAccess(tenant, agentActor, audit.ActionRecordingListen, "rec-1", "2026-11-24 queue Sales", project)
	denied := audit.RecordingAccess(tenant, agentActor, audit.ActionRecordingDownload, "rec-2", "", uuid.New())
	denied.Outcome = audit.Denied

	for _, e := range []audit.Event{created, revoked, listen, denied} {
		require.NoError(t, rec.Record(ctx, e), "%s", e.Action)
	}

	sessions, err := store.Events(ctx, tenant, audit.Query{Kind: audit.KindSession, Target: session.String()})
	require.NoError(t, err)
	require.Len(t, sessions, 2)
	assert.Equal(t, []string{audit.ActionSessionCreated, audit.ActionSessionRevoked}, []string{sessions[0].Action, sessions[1].Action})
	assert.Equal(t, "revoked_by_admin", sessions[1].Reason)

	// Recording access is scoped like the recording: a reader of the project sees the
	// listen, not the download of another project's recording.
	page, err := audit.Search(ctx, store, tenant, audit.Scope{Projects: []uuid.UUID{project}},
		audit.Query{Kind: audit.KindRecording}, "")
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	assert.Equal(t, "rec-1", page.Events[0].Target.ID)
	all, err := store.Events(ctx, tenant, audit.Query{Kind: audit.KindRecording, Outcome: audit.Denied})
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, audit.ActionRecordingDownload, all[0].Action)
}

// Record who listened to a call recording, and list a recording's access history.
func ExampleRecordingAccess() {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	rec := audit.NewRecorder(store, audit.Options{Clock: func() time.Time {
		return time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	}})
	actor := audit.Actor{User: exampleUser, Role: "Supervisor", IP: netip.MustParseAddr("198.51.100.7")}
	e := audit.RecordingAccess(exampleTenant, actor, audit.ActionRecordingListen, "rec-42", "2026-11-24 14:02 Sales", exampleProject)
	if err := rec.Record(ctx, e); err != nil {
		fmt.Println(err)
		return
	}
	history, _ := store.Events(ctx, exampleTenant, audit.Query{Kind: audit.KindRecording, Target: "rec-42"})
	for _, h := range history {
		fmt.Println(h.Time.Format(time.DateTime), h.Action, h.Actor.Role, h.Actor.IP, h.Target.Name)
	}
	// Output: 2026-11-25 09:30:00 recording.listen Supervisor 198.51.100.7 2026-11-24 14:02 Sales
}
