package redisidgen

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when Options.KeyPrefix is empty.
const DefaultPrefix = "scalekit:idgen:"

// Options configures a Source. A nil *Options means the defaults.
type Options struct {
	// KeyPrefix is prepended to the sequence name to form the counter key
	// (default DefaultPrefix).
	KeyPrefix string
}

// Source is a driver.SegmentSource on Redis counters. It works with any
// redis.UniversalClient (standalone, Sentinel, Cluster: one key per call).
// It is safe for concurrent use.
type Source struct {
	c      redis.UniversalClient
	prefix string
}

// New returns a Source on c. It does no I/O.
func New(c redis.UniversalClient, opts *Options) (*Source, error) {
	if c == nil {
		return nil, errors.New("redisidgen: nil client")
	}
	p := DefaultPrefix
	if opts != nil && opts.KeyPrefix != "" {
		p = opts.KeyPrefix
	}
	return &Source{c: c, prefix: p}, nil
}

// NextBlock reserves [start, start+size) of the sequence name: INCRBY
// returns the block's last ID.
func (s *Source) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	if size < 1 {
		return 0, fmt.Errorf("redisidgen: block size %d < 1", size)
	}
	end, err := s.c.IncrBy(ctx, s.prefix+name, size).Result()
	if err != nil {
		return 0, fmt.Errorf("redisidgen: next block of %q: %w", name, err)
	}
	return end - size + 1, nil
}
