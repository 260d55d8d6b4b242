package main

// -reseal: the operator's command of a key rotation (docs/DEPLOYMENT.md §6). It opens
// the database and builds the services with the same keyring as the server
// (wire, keys.go), runs authn.(*Service).ResealSecrets once and prints its report. No
// HTTP server, seed or periodic job is started.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/callshield/callshield/authn"
)

// exitResealNotDone is the exit status of a -reseal run that found values under a key
// other than the current one (resealed, skipped or failed): run it again; it exits 0
// once a run finds none. 1 is an error, 2 a bad flag.
const exitResealNotDone = 3

var errNoTOTPKeys = errors.New("no TOTP keys to reseal under (give -totp-keys, CALLSHIELD_TOTP_KEYS, -totp-key-file or CALLSHIELD_TOTP_KEY)")

// reseal is what -reseal runs: it reseals every stored TOTP secret (and provider token,
// were a token sealer wired) under the current key, writes the report to stdout and
// returns rep.Done(). It refuses to start without TOTP keys, or on a SQLite file that
// does not exist (it creates neither a database nor a key file).
func reseal(ctx context.Context, cfg config, stdout io.Writer, logger *slog.Logger) (done bool, err error) {
	if cfg.Postgres == "" {
		if _, err := os.Stat(cfg.DB); err != nil {
			return false, fmt.Errorf("database %q: %w", cfg.DB, errors.Unwrap(err))
		}
	}
	if !cfg.TOTPRing.given() && cfg.TOTPKeyFile == "" && os.Getenv("CALLSHIELD_TOTP_KEY") == "" {
		return false, errNoTOTPKeys
	}
	cfg.Reseal, cfg.Seed = true, false
	cfg.OIDC = oidcConfig{} // no provider discovery: the job needs no provider
	a, err := wire(ctx, cfg, io.Discard, logger)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, a.close(context.WithoutCancel(ctx))) }()
	if a.cfg.totpSealer == nil {
		return false, errNoTOTPKeys
	}
	rep, err := a.accounts.ResealSecrets(ctx, authn.ResealOptions{})
	// The example keeps no provider tokens (no IdentityOptions.TokenSealer): nil.
	writeResealReport(stdout, rep, a.cfg.totpSealer.CurrentKeyID(), nil)
	if err != nil {
		return false, err
	}
	return rep.Done(), nil
}

// writeResealReport prints rep: counts per kind and per old key ID, the failures by
// tenant and user ID. It holds no secret: the report has none. totpCurrent is the TOTP
// sealer's current key; tokens the token sealer (nil: none is wired).
func writeResealReport(w io.Writer, rep authn.ResealReport, totpCurrent uint32, tokens authn.KeyedTokenSealer) {
	kind := func(name string, c authn.ResealCounts, current uint32) {
		fmt.Fprintf(w, "%s: %d resealed, %d already under key %d, %d skipped (changed meanwhile), %d failed\n",
			name, c.Resealed, c.Current, current, c.Skipped, len(c.Failed))
		ids := make([]uint32, 0, len(c.NotCurrent))
		for id := range c.NotCurrent {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			fmt.Fprintf(w, "  found under key %d: %d\n", id, c.NotCurrent[id])
		}
		for _, f := range c.Failed {
			fmt.Fprintf(w, "  failed (no ring key opens it): tenant %s user %s\n", f.Tenant, f.User)
		}
	}
	kind("two-factor secrets", rep.TwoFactor, totpCurrent)
	if tokens != nil {
		kind("provider tokens", rep.Tokens, tokens.CurrentKeyID())
	} else {
		fmt.Fprintln(w, "provider tokens: none kept (no token sealer wired)")
	}
	if rep.Done() {
		fmt.Fprintln(w, "done: nothing is sealed under a key other than the current one; the other keys can leave the ring")
		return
	}
	var hint []string
	if len(rep.TwoFactor.Failed)+len(rep.Tokens.Failed) > 0 {
		hint = append(hint, "reset the failed users' two-factor (or unlink their identities)")
	}
	hint = append(hint, "run -reseal again; it exits 0 once a run finds nothing under another key")
	fmt.Fprintf(w, "not done: %s\n", strings.Join(hint, ", then "))
}
