package audit

import "github.com/google/uuid"

// Action names of the session and recording-access streams. Hosts that record these
// streams with these names get reports that read alike across products; the
// authentication packages use them for the sessions they manage.
const (
	// ActionSessionCreated: a session began (after every required factor).
	ActionSessionCreated = "session.created"
	// ActionSessionTouched: a session was used after a pause; record it at most once
	// per idle interval, not per request (the action log has every request).
	ActionSessionTouched = "session.touched"
	// ActionSessionEnded: the user signed out, or the session timed out (Reason
	// "idle_timeout", "absolute_timeout", "logout", "user_blocked", ...).
	ActionSessionEnded = "session.ended"
	// ActionSessionRevoked: someone ended the session of another (an administrator,
	// or the user from the active-session list of another device).
	ActionSessionRevoked = "session.revoked"

	// ActionRecordingListen: a call recording was played.
	ActionRecordingListen = "recording.listen"
	// ActionRecordingDownload: a call recording was downloaded.
	ActionRecordingDownload = "recording.download"
)

// SessionEvent returns the event of a session stream action (one of the
// ActionSession constants) about session, taken by actor. When the actor ends or
// revokes someone else's session, owner is that session's user (the Target); otherwise
// pass uuid.Nil and the actor's own session is meant. Reason says why a session ended
// ("idle_timeout", "logout", ...).
func SessionEvent(tenant uuid.UUID, actor Actor, action string, session, owner uuid.UUID, reason string) Event {
	if owner == uuid.Nil {
		owner = actor.User
	}
	name := ""
	if owner != uuid.Nil {
		name = owner.String()
	}
	return Event{Tenant: tenant, Kind: KindSession, Action: action, Actor: actor,
		Target:  Target{Type: "session", ID: session.String(), Name: name},
		Outcome: Success, Reason: reason}
}

// RecordingAccess returns the event of an access to a call recording: action is
// ActionRecordingListen or ActionRecordingDownload, recording the recording's ID and
// name a label (the call's date and queue, say: never the caller's number), project
// the project the call belongs to, so that the history is scoped like the recording.
// Set Outcome to Denied for a refused access before recording it.
func RecordingAccess(tenant uuid.UUID, actor Actor, action, recording, name string, project uuid.UUID) Event {
	return Event{Tenant: tenant, Kind: KindRecording, Action: action, Actor: actor,
		Target:  Target{Type: "recording", ID: recording, Name: name},
		Project: project, Outcome: Success}
}
