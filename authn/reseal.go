package authn

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Key rotation of the secrets authn keeps sealed at rest: the users' TOTP secrets
// (Options.TwoFactorSealer) and the linked identities' provider tokens
// (IdentityOptions.TokenSealer). Both sealers keep a keyring, seal new values under the
// current key and open what any ring key sealed; ResealSecrets moves what was sealed
// under another key to the current one, so that the old key can leave the ring.

// ResealOptions configure [Service.ResealSecrets]. The zero value is valid.
type ResealOptions struct {
	// Batch is how many sealed values are read at a time. If zero or negative, 500;
	// at most [SealedPageMax].
	Batch int
}

// ResealCounts is what a reseal run did with one kind of sealed value.
type ResealCounts struct {
	// Resealed counts the values sealed anew under the current key and written back.
	Resealed int
	// Current counts the values already under the current key (not opened).
	Current int
	// Skipped counts the values changed or removed between the read and the write (a
	// concurrent disable, re-enrolment, unlink or token refresh, or another run): the
	// write was refused and the newer value left as it is.
	Skipped int
	// Failed lists the users whose value no key of the ring opens (tampered, bound to
	// other associated data, or sealed under a key no longer in the ring). They were
	// left as they are and the run went on; such a user cannot use the value (a TOTP
	// user needs a recovery code or an administrator's reset).
	Failed []UserRef
	// NotCurrent counts, by key ID, the values the run found under a key other than
	// the current one, whatever became of them (resealed, skipped or failed). A run
	// that finds it empty has seen nothing sealed under an old key.
	NotCurrent map[uint32]int
}

// ResealReport is what [Service.ResealSecrets] did.
type ResealReport struct {
	// TwoFactor is about the users' active TOTP secrets; zero if
	// Options.TwoFactorSealer is nil.
	TwoFactor ResealCounts
	// Tokens is about the linked identities' sealed provider tokens; zero if
	// IdentityOptions.TokenSealer is nil or not a [KeyedTokenSealer].
	Tokens ResealCounts
}

// Done reports whether the run found nothing sealed under a key other than the
// current one: then a key that is not current can leave the ring, as far as what was
// stored when the run read it is concerned.
func (r ResealReport) Done() bool {
	return len(r.TwoFactor.NotCurrent) == 0 && len(r.Tokens.NotCurrent) == 0
}

// KeyedTokenSealer is a [TokenSealer] that names its keys, so that
// [Service.ResealSecrets] can tell the tokens sealed under the current key from the
// others. [AESTokenSealer] is one.
type KeyedTokenSealer interface {
	TokenSealer
	// CurrentKeyID returns the ID new tokens are sealed under.
	CurrentKeyID() uint32
	// KeyID returns the ID of the key sealed was sealed under, without opening it; ok
	// is false for bytes not of the sealer's format.
	KeyID(sealed []byte) (id uint32, ok bool)
}

// resealTally is one tenant's counts of a run, for its audit event.
type resealTally struct {
	factors, tokens ResealCounts
}

// ResealSecrets walks every tenant's sealed values (active TOTP secrets, and provider
// tokens when IdentityOptions.TokenSealer is a [KeyedTokenSealer]) and reseals each
// one found under a key other than the sealer's current one: it opens the value with
// the associated data it was sealed with (the same as sign-in uses), seals it under the
// current key and writes it back only if the stored value is still the one read (a
// compare and swap), so that it is safe to run while users sign in, turn two-factor
// off and on, link and unlink: a value changed meanwhile is counted as skipped and left
// alone (it was written by the service, under the current key). A value no ring key
// opens is counted in Failed with its user, never logged, and does not stop the run.
// Pending enrolments are not resealed: they expire after TwoFactorEnrolmentTTL.
//
// It is idempotent: a second run reseals nothing. It records, in each tenant where it
// found a value under another key, one change-log event (action "secrets.reseal",
// system actor) with that tenant's counts and key IDs only, never a user's value; a
// tenant's counts never go to another tenant's log, so a run writes one event per such
// tenant and none when it had nothing to do. Events go to Options.Audit (none if it is
// nil). It is a system job: run it from an operator's command after making a new key
// current, until [ResealReport.Done] (see docs/DEPLOYMENT.md).
//
// A storage error ends the run with the report so far; whatever was written stays
// written (each write is one value and correct on its own), and running again
// continues.
func (s *Service) ResealSecrets(ctx context.Context, opts ResealOptions) (ResealReport, error) {
	var rep ResealReport
	batch := opts.Batch
	if batch <= 0 {
		batch = purgeBatch
	}
	batch = min(batch, SealedPageMax)
	tallies := map[uuid.UUID]*resealTally{}
	tally := func(tenant uuid.UUID) *resealTally {
		t, ok := tallies[tenant]
		if !ok {
			t = &resealTally{}
			tallies[tenant] = t
		}
		return t
	}
	var err error
	if sl := s.opts.TwoFactorSealer; sl != nil {
		err = s.resealFactors(ctx, sl, batch, &rep.TwoFactor, tally)
	}
	if ks, ok := s.opts.Identity.TokenSealer.(KeyedTokenSealer); ok && err == nil {
		err = s.resealTokens(ctx, ks, batch, &rep.Tokens, tally)
	}
	return rep, errors.Join(err, s.recordReseals(ctx, tallies))
}

// resealFactors is ResealSecrets for the active TOTP secrets.
func (s *Service) resealFactors(ctx context.Context, sl *totp.Sealer, batch int, rep *ResealCounts, tally func(uuid.UUID) *resealTally) error {
	current := sl.CurrentKeyID()
	var after UserRef
	for {
		page, err := s.store.SealedTwoFactors(ctx, after, batch)
		if err != nil {
			return fmt.Errorf("authn: reseal two-factor secrets: %w", err)
		}
		for _, f := range page {
			after = UserRef{Tenant: f.Tenant, User: f.User}
			id, ok := totp.KeyID(f.Sealed)
			if ok && id == current {
				rep.Current++
				continue
			}
			t := &tally(f.Tenant).factors
			if ok {
				noteKey(rep, t, id)
			}
			sealed, err := resealFactor(sl, f)
			if err != nil {
				if errors.Is(err, errResealRandom) {
					return err
				}
				rep.Failed = append(rep.Failed, after)
				t.Failed = append(t.Failed, after)
				continue
			}
			err = s.store.ReplaceTwoFactorSecret(ctx, f.Tenant, f.User, f.Sealed, sealed)
			switch {
			case errors.Is(err, storage.ErrStale) || errors.Is(err, storage.ErrNotFound):
				rep.Skipped++
				t.Skipped++
			case err != nil:
				return fmt.Errorf("authn: reseal two-factor secret: %w", err)
			default:
				rep.Resealed++
				t.Resealed++
			}
		}
		if len(page) < batch {
			return nil
		}
	}
}

// errResealRandom is a failure to seal that is not the value's fault (the random
// source): it ends the run rather than counting the value as failed.
var errResealRandom = errors.New("authn: reseal: sealing failed")

// resealFactor opens f's secret with the active factor's associated data and seals it
// under the current key. The error names no secret.
func resealFactor(sl *totp.Sealer, f TwoFactor) ([]byte, error) {
	aad, err := activeAAD(f.Tenant, f.User)
	if err != nil {
		return nil, err
	}
	secret, err := sl.Open(f.Sealed, aad)
	if err != nil {
		return nil, err
	}
	sealed, err := sl.Seal(secret, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errResealRandom, err)
	}
	return sealed, nil
}

// resealTokens is ResealSecrets for the linked identities' provider tokens.
func (s *Service) resealTokens(ctx context.Context, ks KeyedTokenSealer, batch int, rep *ResealCounts, tally func(uuid.UUID) *resealTally) error {
	current := ks.CurrentKeyID()
	var after IdentityRef
	for {
		page, err := s.store.SealedIdentityTokens(ctx, after, batch)
		if err != nil {
			return fmt.Errorf("authn: reseal provider tokens: %w", err)
		}
		for _, id := range page {
			after = IdentityRef{Tenant: id.Tenant, ID: id.ID}
			kid, ok := ks.KeyID(id.SealedToken)
			if ok && kid == current {
				rep.Current++
				continue
			}
			t := &tally(id.Tenant).tokens
			if ok {
				noteKey(rep, t, kid)
			}
			user := UserRef{Tenant: id.Tenant, User: id.User}
			plain, err := ks.Open(id.SealedToken, identityAAD(id))
			if err != nil {
				rep.Failed = append(rep.Failed, user)
				t.Failed = append(t.Failed, user)
				continue
			}
			sealed, err := ks.Seal(plain, identityAAD(id))
			clear(plain)
			if err != nil {
				return fmt.Errorf("%w: provider token", errResealRandom)
			}
			err = s.store.ReplaceIdentityToken(ctx, id.Tenant, id.ID, id.SealedToken, sealed)
			switch {
			case errors.Is(err, storage.ErrStale) || errors.Is(err, storage.ErrNotFound):
				rep.Skipped++
				t.Skipped++
			case err != nil:
				return fmt.Errorf("authn: reseal provider token: %w", err)
			default:
				rep.Resealed++
				t.Resealed++
			}
		}
		if len(page) < batch {
			return nil
		}
	}
}

// noteKey notes a value found under key id in the run's and the tenant's counts.
func noteKey(rep, t *ResealCounts, id uint32) {
	if rep.NotCurrent == nil {
		rep.NotCurrent = map[uint32]int{}
	}
	if t.NotCurrent == nil {
		t.NotCurrent = map[uint32]int{}
	}
	rep.NotCurrent[id]++
	t.NotCurrent[id]++
}

// recordReseals appends each tenant's reseal event: counts and key IDs only.
func (s *Service) recordReseals(ctx context.Context, tallies map[uuid.UUID]*resealTally) error {
	if s.opts.Audit == nil {
		return nil
	}
	var errs []error
	for tenant, t := range tallies {
		d := map[string]string{}
		for prefix, c := range map[string]ResealCounts{"two_factor": t.factors, "token": t.tokens} {
			if c.Resealed+c.Skipped+len(c.Failed)+len(c.NotCurrent) == 0 {
				continue
			}
			d[prefix+"_resealed"] = strconv.Itoa(c.Resealed)
			d[prefix+"_skipped"] = strconv.Itoa(c.Skipped)
			d[prefix+"_failed"] = strconv.Itoa(len(c.Failed))
			for id, n := range c.NotCurrent {
				d[prefix+"_key_"+strconv.FormatUint(uint64(id), 10)] = strconv.Itoa(n)
			}
		}
		outcome := audit.Success
		if len(t.factors.Failed)+len(t.tokens.Failed) > 0 {
			outcome = audit.Failure
		}
		ev := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "secrets.reseal",
			Actor:   audit.Actor{Role: "system"},
			Target:  audit.Target{Type: "tenant", ID: tenant.String()},
			Outcome: outcome, Details: d}
		if err := audit.Prepare(&ev, s.now()); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.opts.Audit.Record(context.WithoutCancel(ctx), ev); err != nil {
			errs = append(errs, fmt.Errorf("authn: reseal event: %w", err))
		}
	}
	return errors.Join(errs...)
}
