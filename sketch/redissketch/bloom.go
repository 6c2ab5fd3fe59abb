package redissketch

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/sketch"
)

// MaxBloomBits is the largest filter Redis can hold: a string is at most
// 512 MiB, 2^32 bits.
const MaxBloomBits = 1 << 32

// The scripts check the shape stored in KEYS[2] (set on first write) against
// ARGV[1], then touch ARGV[2]=k bit offsets per key, given from ARGV[3] on,
// with one BITFIELD call per batch of keys (at most 7,800 arguments, under
// the 8,000 Lua's unpack takes).

// bloomAddScript sets the bits of each key and returns, per key, 1 if all
// its bits were already set (it may have been present), else 0.
var bloomAddScript = redis.NewScript(`
local shape = redis.call('GET', KEYS[2])
if shape and shape ~= ARGV[1] then return redis.error_reply('` + shapeErrPrefix + `' .. shape) end
if not shape then redis.call('SET', KEYS[2], ARGV[1]) end
local k = tonumber(ARGV[2])
local n = (#ARGV - 2) / k
local per = math.max(1, math.floor(1800 / k))
local res = {}
for first = 0, n - 1, per do
  local last = math.min(n, first + per) - 1
  local cmd = {}
  local c = 0
  for a = 3 + first * k, 2 + (last + 1) * k do
    cmd[c + 1] = 'SET'; cmd[c + 2] = 'u1'; cmd[c + 3] = ARGV[a]; cmd[c + 4] = 1
    c = c + 4
  end
  local old = redis.call('BITFIELD', KEYS[1], unpack(cmd))
  for i = first, last do
    local present = 1
    for j = (i - first) * k + 1, (i - first + 1) * k do
      if old[j] == 0 then present = 0; break end
    end
    res[i + 1] = present
  end
end
return res
`)

// bloomTestScript returns, per key, 1 if all its bits are set, else 0.
var bloomTestScript = redis.NewScript(`
local shape = redis.call('GET', KEYS[2])
if shape and shape ~= ARGV[1] then return redis.error_reply('` + shapeErrPrefix + `' .. shape) end
local k = tonumber(ARGV[2])
local n = (#ARGV - 2) / k
local per = math.max(1, math.floor(2600 / k))
local res = {}
for first = 0, n - 1, per do
  local last = math.min(n, first + per) - 1
  local cmd = {}
  local c = 0
  for a = 3 + first * k, 2 + (last + 1) * k do
    cmd[c + 1] = 'GET'; cmd[c + 2] = 'u1'; cmd[c + 3] = ARGV[a]
    c = c + 3
  end
  local bits = redis.call('BITFIELD_RO', KEYS[1], unpack(cmd))
  for i = first, last do
    local present = 1
    for j = (i - first) * k + 1, (i - first + 1) * k do
      if bits[j] == 0 then present = 0; break end
    end
    res[i + 1] = present
  end
end
return res
`)

// bloomMergeScript ORs the bit string ARGV[2] into the filter, through the
// scratch key KEYS[3].
var bloomMergeScript = redis.NewScript(`
local shape = redis.call('GET', KEYS[2])
if shape and shape ~= ARGV[1] then return redis.error_reply('` + shapeErrPrefix + `' .. shape) end
if not shape then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('SET', KEYS[3], ARGV[2])
local r = redis.pcall('BITOP', 'OR', KEYS[1], KEYS[1], KEYS[3])
redis.call('DEL', KEYS[3])
return r
`)

// Bloom is a Bloom filter whose bits live in Redis, shared by every
// instance that opens it with the same client target, name and shape.
//
// Its bit positions are those of sketch.Bloom of the same m and k: Redis
// bit offset i (byte i/8, most significant bit first) is bit i of the
// local filter. A Bloom is safe for concurrent use; every method is one
// round trip. The zero value is not usable; create one with NewBloom or
// NewBloomWithSize.
type Bloom struct {
	c      redis.UniversalClient
	keys   []string // bits, shape, merge scratch
	m, k   uint64
	shape  string
	tracer trace.Tracer
	name   attribute.KeyValue // scalekit.name: the sketch's name
}

// NewBloom returns the shared filter called name, sized like
// sketch.NewBloom to hold n keys with false-positive rate fpRate. Every
// instance must pass the same n and fpRate. It does no I/O: the filter is
// created in Redis by its first write.
func NewBloom(c redis.UniversalClient, name string, n uint64, fpRate float64, opts *Options) (*Bloom, error) {
	m, k, err := sketch.BloomSize(n, fpRate)
	if err != nil {
		return nil, fmt.Errorf("redissketch: %w", err)
	}
	return NewBloomWithSize(c, name, m, k, opts)
}

// NewBloomWithSize returns the shared filter called name with m bits
// (at most MaxBloomBits) and k hash functions. It does no I/O.
func NewBloomWithSize(c redis.UniversalClient, name string, m, k uint64, opts *Options) (*Bloom, error) {
	if err := checkClient(c); err != nil {
		return nil, err
	}
	if m == 0 || m > MaxBloomBits {
		return nil, fmt.Errorf("redissketch: bloom of %d bits, want 1…%d (a Redis string holds 512 MiB): %w", m, uint64(MaxBloomBits), sketch.ErrInvalidParameter)
	}
	if k == 0 || k > sketch.MaxBloomHashes {
		return nil, fmt.Errorf("redissketch: bloom with %d hash functions, want 1…%d: %w", k, sketch.MaxBloomHashes, sketch.ErrInvalidParameter)
	}
	base, tr, err := keyBase(name, opts)
	if err != nil {
		return nil, err
	}
	return &Bloom{
		c:      c,
		keys:   []string{base + ":bloom", base + ":bloom:shape", base + ":bloom:merge"},
		m:      m,
		k:      k,
		shape:  strconv.FormatUint(m, 10) + ":" + strconv.FormatUint(k, 10),
		tracer: tr,
		name:   otelx.NameKey.String(name),
	}, nil
}

// Key returns the Redis key of the filter's bits. The shape is stored
// under Key()+":shape".
func (b *Bloom) Key() string { return b.keys[0] }

// Bits returns the number of bits m.
func (b *Bloom) Bits() uint64 { return b.m }

// Hashes returns the number of hash functions k.
func (b *Bloom) Hashes() uint64 { return b.k }

// args returns the script arguments for keys: shape, k, then k offsets
// per key.
func (b *Bloom) args(keys [][]byte) []any {
	args := make([]any, 2, 2+len(keys)*int(b.k))
	args[0], args[1] = b.shape, b.k
	var locs []uint64
	for _, key := range keys {
		locs = sketch.BloomLocations(locs[:0], key, b.m, b.k)
		for _, l := range locs {
			args = append(args, l)
		}
	}
	return args
}

// run runs script on keys and returns one answer per key.
// The span is named spanName; errors name the operation op.
func (b *Bloom) run(ctx context.Context, spanName, op string, script *redis.Script, keys [][]byte) (_ []bool, err error) {
	ctx, span := otelx.Start(ctx, b.tracer, spanName, b.name, dbRedis, keyAttr(b.keys[0]), attribute.Int("scalekit.sketch.batch", len(keys)))
	defer func() { otelx.End(span, err) }()
	if len(keys) == 0 {
		return nil, nil
	}
	res, err := script.Run(ctx, b.c, b.keys[:2], b.args(keys)...).Int64Slice()
	if err != nil {
		return nil, shapeError(ctx, op, b.keys[0], b.m, b.k, err)
	}
	if len(res) != len(keys) {
		return nil, fmt.Errorf("redissketch: %s %s: script returned %d answers for %d keys", op, b.keys[0], len(res), len(keys))
	}
	out := make([]bool, len(res))
	for i, v := range res {
		out[i] = v == 1
	}
	return out, nil
}

// Add adds key to the filter.
func (b *Bloom) Add(ctx context.Context, key []byte) error {
	_, err := b.run(ctx, "redissketch.Bloom.Add", "add", bloomAddScript, [][]byte{key})
	return err
}

// AddString is Add for a string key.
func (b *Bloom) AddString(ctx context.Context, key string) error { return b.Add(ctx, []byte(key)) }

// TestAndAdd adds key and reports whether it may have been present
// before, atomically: of several instances adding the same new key at
// once, exactly one sees false.
func (b *Bloom) TestAndAdd(ctx context.Context, key []byte) (bool, error) {
	r, err := b.run(ctx, "redissketch.Bloom.TestAndAdd", "test-and-add", bloomAddScript, [][]byte{key})
	if err != nil {
		return false, err
	}
	return r[0], nil
}

// Test reports whether key may be in the filter: false means it was
// certainly never added.
func (b *Bloom) Test(ctx context.Context, key []byte) (bool, error) {
	r, err := b.run(ctx, "redissketch.Bloom.Test", "test", bloomTestScript, [][]byte{key})
	if err != nil {
		return false, err
	}
	return r[0], nil
}

// TestString is Test for a string key.
func (b *Bloom) TestString(ctx context.Context, key string) (bool, error) {
	return b.Test(ctx, []byte(key))
}

// AddMany adds keys in one round trip and reports, per key, whether it may
// have been present before (as TestAndAdd). Keep batches to a few
// thousand keys: the script blocks Redis while it runs.
func (b *Bloom) AddMany(ctx context.Context, keys [][]byte) ([]bool, error) {
	return b.run(ctx, "redissketch.Bloom.AddMany", "add-many", bloomAddScript, keys)
}

// TestMany tests keys in one round trip and returns Test's answer per key.
func (b *Bloom) TestMany(ctx context.Context, keys [][]byte) ([]bool, error) {
	return b.run(ctx, "redissketch.Bloom.TestMany", "test-many", bloomTestScript, keys)
}

// Merge ORs the local filter f into the shared one, in one atomic round
// trip. f must have the same m and k, or Merge returns an error wrapping
// sketch.ErrIncompatible.
func (b *Bloom) Merge(ctx context.Context, f *sketch.Bloom) (err error) {
	ctx, span := otelx.Start(ctx, b.tracer, "redissketch.Bloom.Merge", b.name, dbRedis, keyAttr(b.keys[0]))
	defer func() { otelx.End(span, err) }()
	if f == nil || f.Bits() != b.m || f.Hashes() != b.k {
		var m, k uint64
		if f != nil {
			m, k = f.Bits(), f.Hashes()
		}
		return fmt.Errorf("redissketch: merge local bloom m=%d k=%d into %s (m=%d k=%d): %w", m, k, b.keys[0], b.m, b.k, sketch.ErrIncompatible)
	}
	words := f.Words()
	buf := make([]byte, (b.m+7)/8)
	for i, w := range words {
		for w != 0 {
			bit := uint64(i)*64 + uint64(bits.TrailingZeros64(w))
			buf[bit/8] |= 0x80 >> (bit % 8)
			w &= w - 1
		}
	}
	err = bloomMergeScript.Run(ctx, b.c, b.keys, b.shape, buf).Err()
	return shapeError(ctx, "merge", b.keys[0], b.m, b.k, err)
}

// Snapshot copies the shared filter into a new local sketch.Bloom (one
// round trip), for lock-free local reads of a filter that changes rarely.
// A filter not yet written to is returned empty.
func (b *Bloom) Snapshot(ctx context.Context) (_ *sketch.Bloom, err error) {
	ctx, span := otelx.Start(ctx, b.tracer, "redissketch.Bloom.Snapshot", b.name, dbRedis, keyAttr(b.keys[0]))
	defer func() { otelx.End(span, err) }()
	vals, err := b.c.MGet(ctx, b.keys[0], b.keys[1]).Result()
	if err != nil {
		return nil, redisErr(ctx, err, "snapshot %s", b.keys[0])
	}
	if shape, ok := vals[1].(string); ok && shape != b.shape {
		return nil, fmt.Errorf("redissketch: snapshot %s: Redis holds a filter of shape %s, this one is m=%d k=%d: %w",
			b.keys[0], shape, b.m, b.k, sketch.ErrIncompatible)
	}
	raw, _ := vals[0].(string)
	if uint64(len(raw)) > (b.m+7)/8 {
		return nil, fmt.Errorf("redissketch: snapshot %s: %d bytes of bits for m=%d: %w", b.keys[0], len(raw), b.m, sketch.ErrCorrupt)
	}
	words := make([]uint64, (b.m+63)/64)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		for j := uint64(0); c != 0; j, c = j+1, c<<1 {
			if c&0x80 != 0 {
				bit := uint64(i)*8 + j
				words[bit/64] |= 1 << (bit % 64)
			}
		}
	}
	f, err := sketch.NewBloomFromWords(b.m, b.k, words)
	if err != nil {
		return nil, redisErr(ctx, err, "snapshot %s", b.keys[0])
	}
	return f, nil
}

// EstimatedCount estimates how many distinct keys were added, from the
// number of bits set (BITCOUNT): −m/k · ln(1 − set/m).
func (b *Bloom) EstimatedCount(ctx context.Context) (_ uint64, err error) {
	ctx, span := otelx.Start(ctx, b.tracer, "redissketch.Bloom.EstimatedCount", b.name, dbRedis, keyAttr(b.keys[0]))
	defer func() { otelx.End(span, err) }()
	set, err := b.c.BitCount(ctx, b.keys[0], nil).Uint64()
	if err != nil {
		return 0, redisErr(ctx, err, "estimated count of %s", b.keys[0])
	}
	if set >= b.m {
		return math.MaxUint64, nil
	}
	m, k := float64(b.m), float64(b.k)
	return uint64(math.Round(-m / k * math.Log1p(-float64(set)/m))), nil
}

// Clear deletes the filter (its bits and its recorded shape).
func (b *Bloom) Clear(ctx context.Context) (err error) {
	ctx, span := otelx.Start(ctx, b.tracer, "redissketch.Bloom.Clear", b.name, dbRedis, keyAttr(b.keys[0]))
	defer func() { otelx.End(span, err) }()
	if err := b.c.Del(ctx, b.keys[0], b.keys[1]).Err(); err != nil {
		return redisErr(ctx, err, "clear %s", b.keys[0])
	}
	return nil
}

// Expire makes the filter (its bits and its recorded shape) expire after
// ttl, in one atomic step. ttl must be positive.
func (b *Bloom) Expire(ctx context.Context, ttl time.Duration) (err error) {
	ctx, span := otelx.Start(ctx, b.tracer, "redissketch.Bloom.Expire", b.name, dbRedis, keyAttr(b.keys[0]))
	defer func() { otelx.End(span, err) }()
	if ttl <= 0 {
		return fmt.Errorf("redissketch: expire %s after %v: %w", b.keys[0], ttl, sketch.ErrInvalidParameter)
	}
	_, err = b.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.PExpire(ctx, b.keys[0], ttl)
		p.PExpire(ctx, b.keys[1], ttl)
		return nil
	})
	if err != nil {
		return redisErr(ctx, err, "expire %s", b.keys[0])
	}
	return nil
}
