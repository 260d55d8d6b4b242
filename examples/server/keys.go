package main

// The TOTP sealing keyring and the audit chain's keyring (auditChain) are read alike.
//
// The TOTP sealing keyring: one legacy key (CALLSHIELD_TOTP_KEY or -totp-key-file, key
// ID 1, created if missing) or a ring of keys by ID with one current (-totp-keys or
// CALLSHIELD_TOTP_KEYS, and -totp-key-current), so that a new key can be added, made
// current, the stored secrets moved onto it (-reseal) and the old key removed
// (docs/DEPLOYMENT.md §6). Errors name key IDs, entry positions and file paths, never
// key bytes.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn/totp"
)

// legacyKeyID is the ID the single key of -totp-key-file / CALLSHIELD_TOTP_KEY gets: what
// it sealed before keyrings existed is under ID 1, so a ring that lists that file as 1
// opens it.
const legacyKeyID = 1

// errKeyRing is what every keyRingError matches with errors.Is.
var errKeyRing = errors.New("invalid key ring")

// keyRingError is a keyring given on the command line or in the environment that is
// refused. Its message names where the ring came from (Source: a flag or variable
// name), the entry (its 1-based position, the key ID or the file, when known) and the
// reason; never a key.
type keyRingError struct {
	Source string // "-totp-keys", "CALLSHIELD_TOTP_KEYS", "-totp-key-current"
	Entry  int    // 1-based position in the list; 0 if not about one entry
	ID     uint32 // the entry's key ID; 0 if unknown
	File   string // the entry's key file (flag form)
	Reason string
}

func (e *keyRingError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source + ": ")
	if e.Entry > 0 {
		fmt.Fprintf(&b, "entry %d: ", e.Entry)
	}
	if e.ID != 0 {
		fmt.Fprintf(&b, "key ID %d: ", e.ID)
	}
	if e.File != "" {
		fmt.Fprintf(&b, "key file %q: ", e.File)
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *keyRingError) Is(target error) bool { return target == errKeyRing }

// keyEntry is one key of a ring: a file (flag form) or its bytes (environment form).
type keyEntry struct {
	id   uint32
	file string
	key  []byte
}

// keyRing is a parsed ring: its entries in the order given and the current key's ID.
// The zero value (no entries) means no ring was given.
type keyRing struct {
	source  string // the flag or variable the entries came from
	env     string // the variable of the environment form, named in hints
	entries []keyEntry
	current uint32
}

// String names the ring's key IDs and the current one, never a key (config is printed
// by nobody, but a %v of it must not leak).
func (r keyRing) String() string {
	ids := make([]string, len(r.entries))
	for i, e := range r.entries {
		ids[i] = strconv.FormatUint(uint64(e.id), 10)
	}
	return fmt.Sprintf("keyRing(%s: keys %s, current %d)", r.source, strings.Join(ids, ","), r.current)
}

// GoString is String, so that %#v does not print the keys either.
func (r keyRing) GoString() string { return r.String() }

// given reports whether a ring was given.
func (r keyRing) given() bool { return len(r.entries) > 0 }

// parseKeyID reads a key ID: a decimal from 1 to 4294967295.
func parseKeyID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > math.MaxUint32 || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return uint32(n), true
}

// parseKeyRing reads the ring of the flag flagName (value flagVal: ID:FILE,ID:FILE) or of
// the variable envName (value envVal: ID:HEX,ID:HEX, each key 32 bytes in hex), at
// most one of them, with the current key's ID from currentVal (named currentName in
// errors). Neither given: the zero ring (the caller uses the legacy single key), and
// then currentVal must be empty. The keys of the environment form are decoded here; the
// files are read by load.
func parseKeyRing(flagName, flagVal, envName, envVal, currentName, currentVal string) (keyRing, error) {
	flagVal, envVal, currentVal = strings.TrimSpace(flagVal), strings.TrimSpace(envVal), strings.TrimSpace(currentVal)
	r := keyRing{env: envName}
	switch {
	case flagVal != "" && envVal != "":
		return r, &keyRingError{Source: flagName, Reason: "give the ring in " + flagName + " or in " + envName + ", not both"}
	case flagVal == "" && envVal == "":
		if currentVal != "" {
			return r, &keyRingError{Source: currentName, Reason: "needs a ring (" + flagName + " or " + envName + ")"}
		}
		return keyRing{}, nil
	}
	env := envVal != ""
	r.source = flagName
	list := flagVal
	if env {
		r.source, list = envName, envVal
	}
	seen := map[uint32]bool{}
	for i, item := range strings.Split(list, ",") {
		pos := i + 1
		idText, rest, ok := strings.Cut(strings.TrimSpace(item), ":")
		idText, rest = strings.TrimSpace(idText), strings.TrimSpace(rest)
		form := "ID:FILE"
		if env {
			form = "ID:HEX"
		}
		if !ok || rest == "" {
			// Not quoted: in the environment form the entry may be a key.
			return r, &keyRingError{Source: r.source, Entry: pos, Reason: "not " + form + " (entries are separated by commas)"}
		}
		id, ok := parseKeyID(idText)
		if !ok {
			return r, &keyRingError{Source: r.source, Entry: pos, Reason: "the key ID is not a whole number from 1 to 4294967295"}
		}
		if seen[id] {
			return r, &keyRingError{Source: r.source, Entry: pos, ID: id, Reason: "duplicate key ID"}
		}
		seen[id] = true
		e := keyEntry{id: id}
		if env {
			k, err := decodeKey(rest)
			if err != nil {
				return r, &keyRingError{Source: r.source, Entry: pos, ID: id, Reason: err.Error()}
			}
			e.key = k
		} else {
			e.file = rest
		}
		r.entries = append(r.entries, e)
	}
	switch {
	case currentVal != "":
		id, ok := parseKeyID(currentVal)
		if !ok {
			return r, &keyRingError{Source: currentName, Reason: "the key ID is not a whole number from 1 to 4294967295"}
		}
		if !seen[id] {
			return r, &keyRingError{Source: currentName, ID: id, Reason: "not a key ID of " + r.source}
		}
		r.current = id
	case len(r.entries) == 1:
		r.current = r.entries[0].id
	default:
		return r, &keyRingError{Source: currentName, Reason: "required when " + r.source + " holds more than one key (which one seals new secrets?)"}
	}
	return r, nil
}

// decodeKey reads a 32-byte key in hex. Its error never holds the text.
func decodeKey(text string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("not hex (a key is 32 bytes in hex, e.g. from openssl rand -hex 32)")
	}
	if len(k) != totp.SealKeyBytes {
		return nil, fmt.Errorf("the key is %d bytes, not %d", len(k), totp.SealKeyBytes)
	}
	return k, nil
}

// load returns the ring's keys by ID, reading the key files (never creating one: a
// ring's files are made by the operator).
func (r keyRing) load() (map[uint32][]byte, error) {
	keys := make(map[uint32][]byte, len(r.entries))
	for i, e := range r.entries {
		if e.key != nil {
			keys[e.id] = bytes.Clone(e.key) // the caller clears what load returns
			continue
		}
		fail := func(reason string) error {
			file := e.file
			if _, err := decodeKey(file); err == nil {
				// A key given where a file belongs: do not repeat it.
				file, reason = "", "cannot be read as a file, and the value looks like a key: give keys in files here (or in "+r.env+" as ID:HEX)"
			}
			return &keyRingError{Source: r.source, Entry: i + 1, ID: e.id, File: file, Reason: reason}
		}
		st, err := os.Stat(e.file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fail("does not exist (create it with: openssl rand -hex 32 > FILE; chmod 600 FILE)")
			}
			return nil, fail("cannot be read: " + pathReason(err))
		}
		if !st.Mode().IsRegular() {
			return nil, fail("not a regular file")
		}
		b, err := os.ReadFile(e.file)
		if err != nil {
			return nil, fail("cannot be read: " + pathReason(err))
		}
		k, err := decodeKey(string(b))
		clear(b)
		if err != nil {
			return nil, &keyRingError{Source: r.source, Entry: i + 1, ID: e.id, File: e.file, Reason: err.Error()}
		}
		keys[e.id] = k
	}
	return keys, nil
}

// pathReason is the reason of a file error without its path (the caller names the
// file once).
func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// totpSealer builds the TOTP sealer of cfg: the ring when one is given, else the
// legacy single key under ID 1 (created if missing when create is true), else none
// (nil, nil: two-factor enrolment is off).
func totpSealer(cfg config, create bool) (*totp.Sealer, error) {
	if !cfg.TOTPRing.given() {
		k, err := loadKey("CALLSHIELD_TOTP_KEY", cfg.TOTPKeyFile, create)
		if err != nil || k == nil {
			return nil, err
		}
		defer clear(k)
		return totp.NewSealer(map[uint32][]byte{legacyKeyID: k}, legacyKeyID)
	}
	keys, err := cfg.TOTPRing.load()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	s, err := totp.NewSealer(keys, cfg.TOTPRing.current)
	if err != nil { // parseKeyRing and load checked what NewSealer checks
		return nil, &keyRingError{Source: cfg.TOTPRing.source, Reason: err.Error()}
	}
	return s, nil
}

// auditChain builds the audit chain of cfg: the ring when one is given (-audit-keys or
// CALLSHIELD_AUDIT_KEYS, with -audit-key-current), else the legacy single key, key ID
// 1 (created if missing when create is true), else the unkeyed chain. Rotation is
// docs/DEPLOYMENT.md §6: add the new key (current still the old one), make it current,
// and drop the old key once audit.KeyUsage says no retained event needs it.
func auditChain(cfg config, create bool) (audit.Chain, error) {
	if !cfg.AuditRing.given() {
		k, err := loadKey("CALLSHIELD_AUDIT_KEY", cfg.AuditKeyFile, create)
		return audit.Chain{Key: k}, err
	}
	keys, err := cfg.AuditRing.load()
	if err != nil {
		return audit.Chain{}, err
	}
	chain := audit.Chain{Keys: keys, Current: cfg.AuditRing.current}
	if err := chain.Validate(); err != nil {
		return audit.Chain{}, &keyRingError{Source: cfg.AuditRing.source, Reason: err.Error()}
	}
	return chain, nil
}
