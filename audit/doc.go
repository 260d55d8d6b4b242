// Package audit is callshield's one event model for every report an administrator
// reads: the change log, the action log, the login log, session events and access to
// call recordings.
//
// An [Event] says when (UTC), where (tenant, project, client address), who (the
// [Actor]), what (kind, action, target) and how it ended ([Outcome]). Events never hold
// secrets: changes to secret fields are recorded with [Secret], which keeps only the
// fact that the field changed; free text is escaped against log injection by
// [Event.Sanitize] before it is stored.
//
// Each tenant's events form a hash chain ([Chain]) so that an edited, deleted or
// reordered row is detected.
//
// Write security-relevant events with [Recorder.Record], which returns only after the
// event is stored; a caller that cannot record a change should refuse it. Domain stores
// (access.Store, ...) append the event of a change in the same transaction as the change.
package audit
