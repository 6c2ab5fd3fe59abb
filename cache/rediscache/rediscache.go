package rediscache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// DefaultChannel is the pub/sub channel used for invalidation messages when
// Options.Channel is empty.
const DefaultChannel = "scalekit:cache:invalidate"

// maxRedisValue is Redis's limit on one string value (512 MiB).
const maxRedisValue = 512 << 20

// Options configure a Store. The zero value is valid.
type Options struct {
	// Channel is the pub/sub channel for Publish/Subscribe (default
	// DefaultChannel). Caches that must see each other's invalidations
	// share a channel; unrelated caches may use separate ones.
	Channel string
	// MaxValueSize rejects larger values before they reach Redis (default
	// and maximum 512 MiB, Redis's own limit).
	MaxValueSize int
}

// Store is a driver.Store and driver.Broadcaster on a
// redis.UniversalClient (standalone, Sentinel or Cluster). TTLs are native
// Redis expirations (millisecond precision, rounded up); multi-key calls
// are pipelined, one command per key, so they work across Cluster slots.
// Safe for concurrent use; the zero value is not usable.
type Store struct {
	c       redis.UniversalClient
	channel string
	maxVal  int
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Broadcaster   = (*Store)(nil)
	_ driver.MaxValueSizer = (*Store)(nil)
	_ driver.Retryable     = (*Store)(nil)
)

// New returns a Store over c. It does no I/O.
func New(c redis.UniversalClient, opts *Options) (*Store, error) {
	if c == nil {
		return nil, errors.New("rediscache: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxValueSize < 0 || o.MaxValueSize > maxRedisValue {
		return nil, fmt.Errorf("rediscache: MaxValueSize %d not in [0, %d]", o.MaxValueSize, maxRedisValue)
	}
	if o.MaxValueSize == 0 {
		o.MaxValueSize = maxRedisValue
	}
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	return &Store{c: c, channel: o.Channel, maxVal: o.MaxValueSize}, nil
}

// MaxValueSize implements driver.MaxValueSizer.
func (s *Store) MaxValueSize() int { return s.maxVal }

// ttl rounds positive sub-millisecond TTLs up so Redis does not reject them.
func ttl(d time.Duration) time.Duration {
	if d > 0 && d < time.Millisecond {
		return time.Millisecond
	}
	return d
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// GetMulti implements driver.Store with one pipelined GET per key.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, cmd := range cmds {
		v, err := cmd.Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, err
		default:
			out[i] = v
		}
	}
	return out, nil
}

func (s *Store) check(key string, value []byte) error {
	if len(value) > s.maxVal {
		return fmt.Errorf("rediscache: key %q: value of %d bytes exceeds %d: %w", key, len(value), s.maxVal, driver.ErrTooLarge)
	}
	return nil
}

// Set implements driver.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, d time.Duration) error {
	if err := s.check(key, value); err != nil {
		return err
	}
	return s.c.Set(ctx, key, value, ttl(d)).Err()
}

// SetMulti implements driver.Store with one pipelined SET per item.
func (s *Store) SetMulti(ctx context.Context, items []driver.Item) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		if err := s.check(it.Key, it.Value); err != nil {
			return err
		}
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			p.Set(ctx, it.Key, it.Value, ttl(it.TTL))
		}
		return nil
	})
	return err
}

// Add implements driver.Store with SET NX.
func (s *Store) Add(ctx context.Context, key string, value []byte, d time.Duration) (bool, error) {
	if err := s.check(key, value); err != nil {
		return false, err
	}
	return s.c.SetNX(ctx, key, value, ttl(d)).Result()
}

// Delete implements driver.Store; several keys are pipelined DELs so they
// may live in different Cluster slots.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		return s.c.Del(ctx, keys[0]).Err()
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	return err
}

// IsRetryable implements driver.Retryable: network errors, timeouts and
// Redis's transient replies (LOADING, READONLY, CLUSTERDOWN, TRYAGAIN,
// MASTERDOWN) are worth retrying.
func (s *Store) IsRetryable(err error) bool {
	if err == nil || errors.Is(err, driver.ErrTooLarge) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "EOF", "connection refused", "connection reset"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// Publish implements driver.Broadcaster with PUBLISH on the channel.
func (s *Store) Publish(ctx context.Context, msg []byte) error {
	return s.c.Publish(ctx, s.channel, msg).Err()
}

// Subscribe implements driver.Broadcaster. It returns once Redis has
// confirmed the subscription. go-redis reconnects a dropped subscription;
// messages published meanwhile are lost.
func (s *Store) Subscribe(ctx context.Context, fn func([]byte)) (driver.Subscription, error) {
	if fn == nil {
		return nil, errors.New("rediscache: nil subscriber")
	}
	ps := s.c.Subscribe(ctx, s.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("rediscache: subscribe %q: %w", s.channel, err)
	}
	sub := &subscription{ps: ps, done: make(chan struct{})}
	ch := ps.Channel()
	go func() {
		defer close(sub.done)
		for m := range ch {
			fn([]byte(m.Payload))
		}
	}()
	return sub, nil
}

type subscription struct {
	ps   *redis.PubSub
	once sync.Once
	done chan struct{}
	err  error
}

// Close implements driver.Subscription.
func (s *subscription) Close() error {
	s.once.Do(func() {
		s.err = s.ps.Close()
		<-s.done
	})
	return s.err
}
