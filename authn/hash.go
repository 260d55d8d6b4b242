package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callshield/callshield/authn/internal/argon2"
	"github.com/callshield/callshield/authn/internal/phc"
)

// Params are argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB. Each hash in progress holds this much.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived key (the stored hash) in bytes.
	KeyLen uint32
}

// OWASPParams returns the argon2id parameters of the OWASP Password Storage Cheat Sheet
// (m=19456 KiB, t=2, p=1), with a 16-byte salt and a 32-byte key. They are the default
// and the floor of [HasherOptions].Params (ASVS 11.4.2).
func OWASPParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// String returns the parameters in PHC notation, "m=19456,t=2,p=1".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// below reports whether stored parameters are weaker than p in any respect.
func (p Params) below(stored phc.Hash) bool {
	return stored.Memory < p.Memory || stored.Time < p.Time ||
		uint32(len(stored.Salt)) < p.SaltLen || uint32(len(stored.Key)) < p.KeyLen
}

// HasherOptions configure a [Hasher]. The zero value is the recommended configuration.
type HasherOptions struct {
	// Params are the argon2id parameters of new hashes. A zero field takes its OWASP
	// value (see OWASPParams), and a field below it is raised to it, unless
	// InsecureAllowWeakParams is set. A field above the bounds a stored hash may have
	// (1 GiB, 100 passes, 64 lanes, 64-byte salt and key) is lowered to that bound.
	// Raising them later is safe: hashes made earlier still verify, and Verify reports
	// them for rehashing.
	Params Params
	// Slots is how many hashes run at once. If it is 0 or less, runtime.GOMAXPROCS(0) is
	// used: the CPUs the process may use, which since Go 1.25 honours a container's
	// CPU limit where runtime.NumCPU would count the whole machine.
	//
	// Memory: each slot keeps one buffer of Params.Memory KiB for the argon2id hashes
	// it runs, so hashing holds at most Slots × Params.Memory (38 MiB for the default
	// 2 slots on 2 CPUs), whatever the load and GOGC: no memory is allocated per hash.
	// The buffers are allocated on first use and freed after IdleRelease without a
	// hash. (A stored hash with a higher memory cost than Params, which only a lowered
	// configuration leaves behind, is verified in memory allocated for it, within the
	// 1 GiB bound Verify accepts.)
	Slots int
	// QueueLen is how many callers may wait for a slot. If it is 0, 4 × Slots is used;
	// if negative, callers never wait. A caller finding the queue full gets ErrBusy at
	// once.
	QueueLen int
	// MaxWait is the longest a caller waits for a slot before ErrBusy. If it is 0 or
	// less, 5 seconds is used. A context that ends sooner ends the wait sooner.
	MaxWait time.Duration
	// IdleRelease is how long the hashing buffers stay allocated after the last hash
	// (also after the Hasher itself is dropped: a timer frees them then).
	// If it is 0, DefaultIdleRelease is used; if negative, each hash allocates its
	// memory afresh and leaves it to the garbage collector (whose slack then comes on
	// top of the bound above: 2.7 × measured under load with GOGC=100).
	IdleRelease time.Duration
	// Rand is the source of salts. If nil, crypto/rand is used. Inject one in tests
	// only.
	Rand io.Reader
	// InsecureAllowWeakParams keeps Params below the OWASP floor, for tests only: tiny
	// parameters keep a test suite fast. A production Hasher reports every hash made so
	// for rehashing.
	InsecureAllowWeakParams bool
}

// DefaultMaxWait is the default of HasherOptions.MaxWait.
const DefaultMaxWait = 5 * time.Second

// DefaultIdleRelease is the default of HasherOptions.IdleRelease.
const DefaultIdleRelease = time.Minute

const (
	defaultQueuePerSlot  = 4
	maxBcryptCost        = 16 // 2^16 rounds, several seconds: anything above is a tampered row
	bcryptMaxPasswordLen = 72
)

// Errors of Hasher.
var (
	// ErrBusy: all hashing slots are taken and the wait queue is full, or the wait for a
	// slot exceeded MaxWait or the context's deadline. Answer with 503 and Retry-After;
	// do not count it as a failed sign-in. When the context ended the wait, the error
	// also matches the context's error (errors.Is(err, context.Canceled)).
	ErrBusy = errors.New("authn: too many password hashes in progress")
	// ErrMalformedHash: a stored hash that is not a well-formed argon2id PHC string or
	// bcrypt hash, or whose parameters are out of bounds. Verify treats the password as
	// wrong after doing the same work as a real verification.
	ErrMalformedHash = errors.New("authn: malformed password hash")
	// ErrUnsupportedHash: a stored hash of another algorithm (scrypt, PBKDF2, argon2i,
	// a bcrypt variant other than 2a, 2b, 2y, ...).
	ErrUnsupportedHash = errors.New("authn: unsupported password hash algorithm")
	// ErrPasswordTooLong: Hash was given a password of more than MaxPasswordBytes.
	ErrPasswordTooLong = errors.New("authn: password too long")
	// ErrEmptyPassword: Hash was given the empty password, which is never stored (a form
	// field misnamed would otherwise give every user the same password).
	ErrEmptyPassword = errors.New("authn: empty password")
)

// Hasher hashes passwords with argon2id and verifies them against stored hashes
// (argon2id, or bcrypt imported from another system), running at most Slots hashes at
// once. It is safe for concurrent use; make one per process with [NewHasher] and share
// it, since the bound on memory and CPU holds per Hasher.
//
// The stored form is the PHC string "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>",
// which carries its parameters: raising them never breaks earlier hashes, and Verify
// says when a hash should be replaced. Passwords are hashed exactly as [NewPassword]
// normalised them (NFKC): no truncation, no case folding.
type Hasher struct {
	params   Params
	rand     io.Reader
	slots    chan struct{}
	waiting  atomic.Int64
	queueLen int64
	maxWait  time.Duration
	dummy    phc.Hash
	mem      *memPool

	// Test hooks, set only by tests of this package.
	kdf      func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
	newTimer func(time.Duration) (<-chan time.Time, func() bool)
	onQueued func()
}

// NewHasher returns a Hasher. Every field of opts has a safe default; see
// [HasherOptions].
func NewHasher(opts HasherOptions) *Hasher {
	p := clampParams(opts.Params, opts.InsecureAllowWeakParams)
	slots := opts.Slots
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	queue := opts.QueueLen
	switch {
	case queue == 0:
		queue = defaultQueuePerSlot * slots
	case queue < 0:
		queue = 0
	}
	wait := opts.MaxWait
	if wait <= 0 {
		wait = DefaultMaxWait
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	h := &Hasher{
		params:   p,
		rand:     r,
		slots:    make(chan struct{}, slots),
		queueLen: int64(queue),
		maxWait:  wait,
		mem:      newMemPool(argon2.Blocks(p.Memory, p.Threads), opts.IdleRelease),
		newTimer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
	h.kdf = h.argon2id
	// The dummy hash for unknown users: current parameters, a salt and key that no
	// password is known to produce. Its bytes need not be secret, only its cost real.
	h.dummy = phc.Hash{Memory: p.Memory, Time: p.Time, Threads: p.Threads,
		Salt: make([]byte, p.SaltLen), Key: make([]byte, p.KeyLen)}
	_, _ = io.ReadFull(rand.Reader, h.dummy.Salt)
	_, _ = io.ReadFull(rand.Reader, h.dummy.Key)
	return h
}

// clampParams fills in defaults and applies the floor and the ceiling to every field.
func clampParams(p Params, allowWeak bool) Params {
	def := OWASPParams()
	floor := def
	if allowWeak {
		// Zero still means the default; anything argon2id and phc accept is kept.
		floor = Params{Time: 1, Threads: 1, SaltLen: phc.MinSaltLen, KeyLen: phc.MinKeyLen}
		for _, f := range []struct{ v, d *uint32 }{
			{&p.Memory, &def.Memory}, {&p.Time, &def.Time}, {&p.SaltLen, &def.SaltLen}, {&p.KeyLen, &def.KeyLen},
		} {
			if *f.v == 0 {
				*f.v = *f.d
			}
		}
	}
	p.Threads = min(max(p.Threads, floor.Threads), phc.MaxThreads)
	p.Memory = min(max(p.Memory, floor.Memory, 8*uint32(p.Threads)), phc.MaxMemory) // RFC 9106: m >= 8p
	p.Time = min(max(p.Time, floor.Time), phc.MaxTime)
	p.SaltLen = min(max(p.SaltLen, floor.SaltLen), phc.MaxSaltLen)
	p.KeyLen = min(max(p.KeyLen, floor.KeyLen), phc.MaxKeyLen)
	return p
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-encoded argon2id hash of pw with a fresh random salt. It fails
// with ErrEmptyPassword, ErrPasswordTooLong, ErrBusy (see HasherOptions), or an error
// reading the random source. Check the password against the tenant's policy first
// ([PasswordPolicy.Validate]).
func (h *Hasher) Hash(ctx context.Context, pw Password) (string, error) {
	if pw.tooLong() {
		return "", ErrPasswordTooLong
	}
	if pw.IsZero() {
		return "", ErrEmptyPassword
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("authn: reading salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	key := h.kdf([]byte(pw.Reveal()), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	release()
	return phc.Hash{Memory: h.params.Memory, Time: h.params.Time, Threads: h.params.Threads,
		Salt: salt, Key: key}.String(), nil
}

// Verify reports whether pw matches the stored hash encoded, comparing in constant time.
// needsRehash is true when pw matched and encoded should be replaced by Hash(pw): its
// argon2id parameters are below the Hasher's, or it is a bcrypt hash. Replace it right
// after the successful sign-in, conditionally on the old value (see Store), since this
// is the only moment the plaintext is known.
//
// encoded is an argon2id PHC string, or a bcrypt hash ($2a$, $2b$, $2y$, cost 4 to 16)
// imported from another system. bcrypt only reads the first 72 bytes of a password: a
// password longer than that never matches a bcrypt hash here (fail closed — "verified
// exactly as received"); such a user resets their password once. An imported hash of a
// password that the old system did not normalise matches only if NFKC leaves the
// password unchanged, which holds for all ASCII passwords.
//
// A malformed (ErrMalformedHash), unsupported (ErrUnsupportedHash) or empty encoded
// returns ok false and that error after the same work as a real verification, so timing
// does not reveal accounts without a usable hash. err is otherwise ErrBusy or nil;
// a wrong password is ok false with a nil error.
func (h *Hasher) Verify(ctx context.Context, pw Password, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, phc.Prefix):
		stored, perr := phc.Parse(encoded)
		if perr != nil {
			cause := ErrMalformedHash
			if errors.Is(perr, phc.ErrVersion) {
				cause = ErrUnsupportedHash
			}
			return false, false, h.failAfterDummy(ctx, pw, fmt.Errorf("%w: %w", cause, perr))
		}
		ok, err := h.verifyArgon2id(ctx, pw, stored)
		if err != nil || !ok {
			return false, false, err
		}
		return true, h.params.below(stored), nil
	case isBcrypt(encoded):
		if err := checkBcrypt(encoded); err != nil {
			return false, false, h.failAfterDummy(ctx, pw, err)
		}
		ok, err := h.verifyBcrypt(ctx, pw, encoded)
		if err != nil || !ok {
			return false, false, err
		}
		return true, true, nil
	case encoded == "" || !strings.HasPrefix(encoded, "$"):
		return false, false, h.failAfterDummy(ctx, pw, ErrMalformedHash)
	default:
		return false, false, h.failAfterDummy(ctx, pw, ErrUnsupportedHash)
	}
}

// DummyVerify does the work of a verification that fails, against a hash made with
// the Hasher's parameters. Call it when the account is unknown (or has no password),
// so that the response takes as long as a wrong password for a known account
// (ASVS 6.3.8). Its only possible errors are ErrBusy and those of ctx.
func (h *Hasher) DummyVerify(ctx context.Context, pw Password) error {
	_, err := h.verifyArgon2id(ctx, pw, h.dummy)
	return err
}

// NeedsRehash reports whether encoded is anything but an argon2id hash with parameters
// at least the Hasher's: a bcrypt, weaker, malformed or foreign hash. It does not hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	stored, err := phc.Parse(encoded)
	return err != nil || h.params.below(stored)
}

func (h *Hasher) failAfterDummy(ctx context.Context, pw Password, cause error) error {
	if err := h.DummyVerify(ctx, pw); err != nil {
		return err
	}
	return cause
}

func (h *Hasher) verifyArgon2id(ctx context.Context, pw Password, stored phc.Hash) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	got := h.kdf([]byte(pw.Reveal()), stored.Salt, stored.Time, stored.Memory, stored.Threads, uint32(len(stored.Key)))
	release()
	// A password over MaxPasswordBytes cannot have been hashed by Hash: it never
	// matches, after the same work.
	return subtle.ConstantTimeCompare(got, stored.Key) == 1 && !pw.tooLong(), nil
}

func (h *Hasher) verifyBcrypt(ctx context.Context, pw Password, encoded string) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	// CompareHashAndPassword compares in constant time. It would accept any password
	// sharing the first 72 bytes: over 72 bytes the result is discarded, after the
	// same work.
	cmpErr := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw.Reveal()))
	release()
	return cmpErr == nil && len(pw.Reveal()) <= bcryptMaxPasswordLen && !pw.tooLong(), nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// checkBcrypt checks the shape of a bcrypt hash before golang.org/x/crypto/bcrypt sees
// it: "$2b$" cost "$" then 53 characters of bcrypt's base64 alphabet, 60 in all, with a
// cost of at most 16 so that a tampered row cannot occupy a slot for minutes.
func checkBcrypt(s string) error {
	if len(s) != 60 || s[6] != '$' {
		return ErrMalformedHash
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return ErrMalformedHash
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return fmt.Errorf("%w: bcrypt cost out of range", ErrMalformedHash)
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')) {
			return ErrMalformedHash
		}
	}
	return nil
}

// acquire takes a hashing slot, waiting in the bounded queue if none is free. The
// returned function gives the slot back.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.slots <- struct{}{}:
		return h.release, nil
	default:
	}
	if h.waiting.Add(1) > h.queueLen {
		h.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer h.waiting.Add(-1)
	if h.onQueued != nil {
		h.onQueued()
	}
	expired, stop := h.newTimer(h.maxWait)
	defer stop()
	select {
	case h.slots <- struct{}{}:
		return h.release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	case <-expired:
		return nil, ErrBusy
	}
}

func (h *Hasher) release() { <-h.slots }

// argon2id is the Hasher's KDF: argon2id in a buffer of the pool, which it must be
// called holding a slot for (so that the pool holds at most Slots buffers), or in
// fresh memory for a stored hash that needs more than the pool's buffers hold.
func (h *Hasher) argon2id(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if argon2.Blocks(memory, threads) > h.mem.blocks || h.mem.idle < 0 {
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	}
	buf := h.mem.get()
	defer h.mem.put(buf)
	return argon2.IDKeyIn(buf, password, salt, time, memory, threads, keyLen)
}

// memPool keeps the argon2 buffers of a Hasher's slots: every buffer is blocks long,
// and zero while in the pool (argon2.IDKeyIn zeroes what it used). Buffers are taken
// only by holders of a slot, so there are never more than the slots; a timer frees
// them all once none has been used for idle.
type memPool struct {
	blocks int
	idle   time.Duration

	mu        sync.Mutex
	free      [][]argon2.Block
	lastUse   time.Time
	timer     *time.Timer
	allocated int // buffers allocated over the pool's life, for tests
}

func newMemPool(blocks int, idle time.Duration) *memPool {
	if idle == 0 {
		idle = DefaultIdleRelease
	}
	return &memPool{blocks: blocks, idle: idle}
}

func (p *memPool) get() []argon2.Block {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b
	}
	p.allocated++
	p.mu.Unlock()
	return make([]argon2.Block, p.blocks)
}

func (p *memPool) put(b []argon2.Block) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, b)
	p.lastUse = time.Now()
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idle, p.sweep)
	}
}

// sweep frees the buffers if none has been used for idle, or looks again when that
// will be the case.
func (p *memPool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if since := time.Since(p.lastUse); since < p.idle {
		p.timer.Reset(p.idle - since)
		return
	}
	clear(p.free)
	p.free = p.free[:0]
	p.timer = nil
}

// pooled returns how many buffers the pool holds and how many it allocated, for tests.
func (p *memPool) pooled() (free, allocated int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free), p.allocated
}
