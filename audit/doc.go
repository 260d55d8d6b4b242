// Package audit is callshield's one event model for every report an administrator
// reads: the change log, the action log, the login log, session events and access to
// call recordings, plus the event types a host product adds.
//
// An [Event] says when (UTC, to the microsecond), where (tenant, project, client
// address), who (the [Actor]: user, role, session, API token, address and browser),
// what (kind, action, target, field-level [Change]s) and how it ended ([Outcome] and a
// reason). Events never hold secrets: changes to secret fields are recorded with
// [Secret], which keeps only the fact that the field changed; [Event.Sanitize], run on
// every event, redacts any field whose value holds a secret ([SecretValue]:
// callshield's own token prefixes, JWTs); [ActionEvent] and the slog bridge redact
// parameters by name and by value and mask the personal data in them.
//
// The package imports two of callshield's: package mask, whose Scrub rules mask card
// and phone numbers in parameter values (one definition of what a card number in text
// looks like, rather than a second copy here), and internal/secretfmt, the one list of
// callshield's secret prefixes, which the packages that mint secrets use too. Neither
// imports anything of callshield, so there is no cycle; audit used to be a leaf, and
// gave that up so that the action log masks with the same rules as the product.
//
// # Streams and kinds
//
// Each report is a [Kind]: [KindChange] (who changed what, with before and after),
// [KindAction] (pages and API calls: URL, method, redacted parameters, outcome, the
// token that made the call), [KindLogin] (every authentication attempt: address,
// browser and version, factor, outcome and reason — "unknown_user" and
// "wrong_password" are told apart here, never to the user), [KindSession] (created,
// touched, ended, revoked), [KindRecording] (listen, download) and [KindAccess]
// (authorization denials). Hosts add their own kinds by name: any [ValidName] such as
// "crm.export" is accepted, with no registry to keep; choose dotted names under a
// prefix of your product so that they never clash with a later built-in kind.
//
// For login and session events, [Prepare] fills the details "browser",
// "browser_version", "os" and "device" from the User-Agent ([ParseUserAgent], built on
// github.com/medama-io/go-useragent).
//
// # Writing: Record or Enqueue
//
// [Recorder.Record] is synchronous: it returns only once the event is stored, or an
// error wrapping [ErrNotRecorded]. Use it for security-relevant changes, and refuse the
// change if the event cannot be recorded. Domain stores (access.Store, authn.Store)
// append the event of a change in the same transaction as the change itself.
//
// [Writer.Enqueue] is for high-volume streams (the action log of every API call). It
// validates the event at once and queues it; one goroutine stores the queue in
// batches, one Append (one transaction) per batch: group commit. The queue is bounded:
// when it is full, Enqueue waits up to WriterOptions.MaxBlock and then returns
// [ErrQueueFull], slowing producers to the store's pace. Nothing is dropped silently:
// an accepted event is retried with capped exponential backoff until it is stored,
// however long the store is down, or refused for good by the store (counted, logged
// and reported to WriterOptions.OnRefused, never retried in a loop); an Append whose
// commit was acknowledged too late is recognised on retry ([ErrDuplicateEvent], then a
// lookup by ID) and counted once; [Writer.Stats] counts what was written, retried and
// refused; [Writer.Close] flushes the queue and returns a [*NotFlushedError] with the
// events it could not store before its context ended.
//
// Both paths run [Prepare], which escapes control characters in every free-text field
// ([Clean]): user-supplied text can never forge a log line or a CSV row (ASVS 16.4.1).
//
// # The hash chain and its key
//
// Each tenant's events form a chain: the store gives each event the next Seq and
// links it with [Chain.Link], SHA-256 over a canonical encoding of the event and the
// previous event's hash. With a key it is HMAC-SHA-256: keep the key outside the
// database (an environment secret, a KMS), and give the same Chain to the store, to
// [Verify] and to [Purge]. Then someone who can write to the database but does not
// hold the key cannot recompute a consistent chain after editing it. Stores serialise
// appends per tenant on a chain-head row, so that several app instances sharing one
// PostgreSQL database extend one gap-free chain; batching amortises the lock.
//
// # Rotating the chain key
//
// The key is a ring: [Chain].Keys by ID and Current, the ID new events and
// checkpoints are linked and sealed under (Chain{Key: k} is the ring {1: k}, current
// 1). Each event stores the ID of its key ([Event.KeyID]) and each checkpoint its own
// ([Checkpoint.KeyID]); the ID is part of what the link or seal covers, so it cannot
// be moved to another key of the ring. [Verify] and [Purge] check each event with the
// key its ID names: an ID the ring lacks is an *[UnknownKeyError] naming the ID, and an
// unkeyed link (ID 0) in a keyed ring is [ReasonUnkeyed], never accepted. Events and
// checkpoints stored before key IDs existed have ID 1 ([LegacyKeyID]) and the older
// encoding, which verification accepts for ID 1 only, so such chains verify unchanged.
//
// To rotate: add key 2 to every instance's ring (current still 1), then make it
// current on every instance; events from then on are under key 2 and the chain
// verifies across the change while key 1 is in the ring. Key 1 is retired by retention,
// not by rewriting: keep it in the ring until [Purge] has deleted every event under it
// and the checkpoint is sealed under key 2. [KeyUsage] counts the stored events and
// checkpoints of every tenant by key ID, and [KeyReport.Retirable] says when key 1 can
// go. Re-linking the old events under key 2 instead was rejected: every link covers the
// previous hash, so it would rewrite every retained event up to the head, which in the
// database is indistinguishable from the tampering the chain exists to show, and it
// would void every [VerifyResult].Last kept outside the database as evidence. The cost
// is that key 1 stays usable for the retention period: whoever holds it can still
// forge links that claim key ID 1 (anywhere in the chain), so a leaked key is
// contained only once it is out of the ring; until then, compare with the
// VerifyResult.Last links kept outside the database. docs/DEPLOYMENT.md §6 has the
// procedure.
//
// # Verification
//
// [Verify] walks a tenant's chain by Seq, a page at a time, recomputing every link, and
// names the first broken one ([BrokenLink]): an edited event (hash mismatch), a deleted
// one (gap, at the start, middle or end), swapped rows (reordered), a forged
// checkpoint. It starts from the retention checkpoint, whose own MAC it checks, so that
// a chain whose oldest events were purged is still proved from a trusted link. Given a
// period (from, to), it verifies the events stamped in it and proves the span joined by
// its links to the events just before and after it (an emptied period is a gap), and
// checks the head when the period reaches it.
// Truncating the newest events together with the head row is invisible from inside the
// database: record [VerifyResult].Last, or mirror events to a SIEM, to catch it.
//
// # Retention
//
// [Purge] deletes a tenant's events older than a cut-off, oldest first and never
// leaving a hole in the chain, after verifying them: it will not delete past a broken
// link. Each batch records the last deleted link as the tenant's [Checkpoint], sealed
// with [Chain.Seal]. [PurgeAll] runs it for every tenant with a retention policy
// function (a zero retention keeps everything); run it daily from one or more
// instances. Stores implement this through [Retainer].
//
// # Search
//
// [Store.Events] is the raw query: filters by period, kind, action, user, target,
// project, outcome and ID; four orders ([SeqAsc], [SeqDesc], [TimeAsc], [TimeDesc]);
// keyset pagination with [Query].Cursor. Report screens call [Search], which takes the
// reader's [Scope] — the projects they may see, whether they may see tenant-wide
// events, or all — and fails closed: the zero Scope sees nothing. Search returns a page
// and an opaque cursor for the next one. The SQL adapter serves each report (login log
// by kind and period, and by user; change log by kind, and by target; action log by
// kind and user; recording access by kind and target) from an index, newest first
// without sorting.
//
// # Export
//
// [ExportCSV] and [ExportJSONL] write any event iterator ([SearchAll] for a report,
// [All] for an archive) one event at a time, so memory stays constant. CSV cells that
// a spreadsheet would evaluate as formulas are neutralised (OWASP CSV injection).
//
// # The slog bridge
//
// [NewSlogHandler] wraps a program's slog.Handler: records carrying an "audit" group
// become events, enqueued on a [Writer]; other records pass through. Conversely,
// [LogEvent] writes an event as one slog record, and [Options].Mirror and
// [WriterOptions].Mirror mirror every stored event to a logger, for shipping to a SIEM.
package audit
