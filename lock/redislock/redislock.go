package redislock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// Defaults of Options.
const (
	// DefaultPrefix starts every key the driver writes.
	DefaultPrefix = "lock:"
	// DefaultMaxKeyLen is the longest lock key accepted by default.
	DefaultMaxKeyLen = 1024
)

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Prefix starts every Redis key the driver writes (default
	// DefaultPrefix). Give each application its own.
	Prefix string
	// MaxKeyLen is the longest lock key accepted (default
	// DefaultMaxKeyLen).
	MaxKeyLen int
}

// Driver is a lock/driver.Locker on one Redis deployment (standalone,
// Sentinel or Cluster, through redis.UniversalClient).
//
// A lease is a string key "<prefix>{<key>}" written with SET NX PX that
// holds the owner, the fencing token and the metadata; renewal and release
// are Lua scripts that act only if the stored owner matches. The fencing
// token comes from INCR on the counter "<prefix>{<key>}:fence", which has
// no TTL and shares the lease's hash slot, so both keys are touched by one
// script even on a Cluster. Tokens therefore keep increasing across an
// engine restart as long as Redis persists its data (AOF with
// appendfsync always for a guarantee; with everysec a crash can lose the
// last second of increments). Counters are kept forever: one small key per
// distinct lock key ever used.
//
// Waiters are woken by pub/sub: the release script publishes on
// "<prefix>{<key>}:free", and Notify (driver.Notifier) subscribes over one
// connection per Driver that is open only while someone waits; expiry is
// not published, so a waiter also polls with backoff. A release publishes
// only if a waiter has marked the key (Notify sets "<prefix>{<key>}:w",
// which the release deletes with the lease), so an uncontended release is
// two commands, not three.
//
// Every call is one round trip. Driver is safe for concurrent use; the
// zero value is not usable, call New.
type Driver struct {
	c      redis.UniversalClient
	prefix string
	limits driver.Limits

	nmu sync.Mutex
	n   *notifier // pub/sub of waiters; nil while nobody waits

	lastTTL atomic.Pointer[boxedMs]
}

var (
	_ driver.Locker    = (*Driver)(nil)
	_ driver.Limited   = (*Driver)(nil)
	_ driver.Retryable = (*Driver)(nil)
	_ driver.Notifier  = (*Driver)(nil)
)

// New returns a driver over c, to be wrapped by lock.New. It does no I/O.
// A nil client, a negative MaxKeyLen and a Prefix whose first Redis
// Cluster hash tag is empty ("{}", which would hash a lease and its
// counter to different slots) are errors. A Prefix with a hash tag of its
// own ("{app}:") puts every lease in that one slot.
func New(c redis.UniversalClient, opts *Options) (*Driver, error) {
	if c == nil {
		return nil, errors.New("redislock: nil Redis client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if i := strings.IndexByte(o.Prefix, '{'); i >= 0 && i+1 < len(o.Prefix) && o.Prefix[i+1] == '}' {
		return nil, fmt.Errorf("redislock: prefix %q starts an empty Redis Cluster hash tag {}", o.Prefix)
	}
	if o.MaxKeyLen < 0 {
		return nil, fmt.Errorf("redislock: negative MaxKeyLen %d", o.MaxKeyLen)
	}
	if o.MaxKeyLen == 0 {
		o.MaxKeyLen = DefaultMaxKeyLen
	}
	return &Driver{c: c, prefix: o.Prefix, limits: driver.Limits{MaxKeyLen: o.MaxKeyLen}}, nil
}

// Limits implements driver.Limited.
func (d *Driver) Limits() driver.Limits { return d.limits }

// LeaseKey returns the Redis key that holds the lease on key. Its value is
// "<owner>\n<token>\n<meta>".
func (d *Driver) LeaseKey(key string) string { return leaseKey(d.prefix, key) }

// FenceKey returns the Redis key of key's fencing-token counter.
func (d *Driver) FenceKey(key string) string { return leaseKey(d.prefix, key) + ":fence" }

// leaseKey puts key in a hash tag so that the lease and its counter share
// a Cluster slot. A key with braces of its own would end the tag early, so
// such keys are tagged by a digest instead (and kept readable after it).
func leaseKey(prefix, key string) string {
	if strings.ContainsAny(key, "{}") {
		sum := sha256.Sum256([]byte(key))
		return prefix + "{#" + hex.EncodeToString(sum[:12]) + "}" + key
	}
	return prefix + "{" + key + "}"
}

// The scripts share the value format "<owner>\n<token>\n<meta>". Owner ids
// contain no newline (package lock makes them hex).
var (
	// acquireScript takes the counter's next token and tries SET NX: two
	// commands when the key is free. Only when it is held does it read
	// the lease, to renew it for its own owner (returning its token) or
	// report it held (0). A failed attempt spends a token: tokens only
	// have to increase.
	acquireScript = redis.NewScript(acquireSrc)
	acquireSrc    = `
local t = redis.call('INCR', KEYS[2])
if redis.call('SET', KEYS[1], ARGV[1] .. '\n' .. t .. '\n' .. ARGV[3], 'NX', 'PX', ARGV[2]) then
  return t
end
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local nl = string.find(v, '\n', 1, true)
if string.sub(v, 1, nl - 1) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local rest = string.sub(v, nl + 1)
return tonumber(string.sub(rest, 1, string.find(rest, '\n', 1, true) - 1))`
	renewScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\n' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)
	// releaseScript deletes the lease and the waiters mark (see
	// notify.go) in one DEL, and publishes only if the mark was there:
	// two commands when nobody waits.
	releaseScript = redis.NewScript(releaseSrc)
	releaseSrc    = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\n' then
  if redis.call('DEL', KEYS[1], KEYS[2]) > 1 then
    redis.call('PUBLISH', KEYS[1] .. ':free', '')
  end
  return 1
end
return 0`
	holderScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('PTTL', KEYS[1])}`)
)

func checkOwner(owner string) error {
	if owner == "" || strings.ContainsRune(owner, '\n') {
		return fmt.Errorf("redislock: owner id %q is empty or has a newline", owner)
	}
	return nil
}

func ms(d time.Duration) int64 {
	if m := d.Milliseconds(); m > 0 {
		return m
	}
	return 1
}

// TryAcquire implements driver.Locker with one script: SET NX PX of the
// lease and INCR of the counter, or PEXPIRE if owner already holds key.
func (d *Driver) TryAcquire(ctx context.Context, req driver.Request) (int64, error) {
	if err := checkOwner(req.Owner); err != nil {
		return 0, err
	}
	lk := d.LeaseKey(req.Key)
	p := evalArgs(acquireScript, 2)
	*p = append(*p, lk, lk+":fence", req.Owner, d.boxMs(ms(req.TTL)), req.Meta)
	tok, err := d.evalInt(ctx, acquireScript, acquireSrc, p)
	if err != nil {
		return 0, err
	}
	if tok == 0 {
		return 0, driver.ErrLocked
	}
	return tok, nil
}

// Renew implements driver.Locker.
func (d *Driver) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	ok, err := renewScript.Run(ctx, d.c, []string{d.LeaseKey(key)}, owner, ms(ttl)).Int64()
	if err != nil {
		return err
	}
	if ok == 0 {
		return driver.ErrNotHeld
	}
	return nil
}

// Release implements driver.Locker.
func (d *Driver) Release(ctx context.Context, key, owner string) error {
	lk := d.LeaseKey(key)
	p := evalArgs(releaseScript, 2)
	*p = append(*p, lk, waitersKey(lk), owner)
	ok, err := d.evalInt(ctx, releaseScript, releaseSrc, p)
	if err != nil {
		return err
	}
	if ok == 0 {
		return driver.ErrNotHeld
	}
	return nil
}

// Holder implements driver.Locker.
func (d *Driver) Holder(ctx context.Context, key string) (driver.Holder, bool, error) {
	res, err := holderScript.Run(ctx, d.c, []string{d.LeaseKey(key)}).Slice()
	if errors.Is(err, redis.Nil) {
		return driver.Holder{}, false, nil
	}
	if err != nil {
		return driver.Holder{}, false, err
	}
	if len(res) != 2 {
		return driver.Holder{}, false, fmt.Errorf("redislock: unexpected holder reply %v", res)
	}
	v, _ := res[0].(string)
	pttl, _ := res[1].(int64)
	h, err := parseValue(v)
	if err != nil {
		return driver.Holder{}, false, err
	}
	if pttl > 0 {
		h.TTL = time.Duration(pttl) * time.Millisecond
	}
	return h, true, nil
}

func parseValue(v string) (driver.Holder, error) {
	parts := strings.SplitN(v, "\n", 3)
	if len(parts) != 3 {
		return driver.Holder{}, fmt.Errorf("redislock: malformed lease value %q", v)
	}
	tok, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return driver.Holder{}, fmt.Errorf("redislock: malformed token in lease value %q", v)
	}
	return driver.Holder{Owner: parts[0], Token: tok, Meta: parts[2]}, nil
}

// IsRetryable implements driver.Retryable: network errors, timeouts, and
// the replies Redis gives while it loads, fails over or reshards.
func (d *Driver) IsRetryable(err error) bool { return isRetryable(err) }

func isRetryable(err error) bool {
	if err == nil || errors.Is(err, driver.ErrLocked) || errors.Is(err, driver.ErrNotHeld) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "BUSY", "MOVED", "ASK"} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
	}
	return false
}
