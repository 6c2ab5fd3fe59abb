package lock

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// Defaults and bounds applied by New and by each acquisition.
const (
	// DefaultTTL is the lease duration when no TTL is given.
	DefaultTTL = 15 * time.Second
	// MinTTL is the shortest lease accepted, whatever the backend allows.
	MinTTL = 10 * time.Millisecond
	// DefaultMaxKeyLen is the longest key accepted when the backend
	// states no limit of its own.
	DefaultMaxKeyLen = 1024
)

// Wait chooses how Acquire waits for a held key.
type Wait int

const (
	// WaitAuto uses the backend's native wait (a FIFO queue or release
	// notifications) when it has one, and polls with backoff otherwise.
	WaitAuto Wait = iota
	// WaitPoll polls with exponential backoff and full jitter.
	WaitPoll
	// WaitNative requires the backend's native wait; Acquire fails with
	// ErrNoNativeWait when there is none.
	WaitNative
)

// String returns the strategy's name.
func (w Wait) String() string {
	switch w {
	case WaitAuto:
		return "auto"
	case WaitPoll:
		return "poll"
	case WaitNative:
		return "native"
	}
	return "Wait(" + strconv.Itoa(int(w)) + ")"
}

// Options configures a Locker. A nil *Options means the defaults of every
// field; the zero value of a field means its default.
type Options struct {
	// TTL is the default lease duration (default DefaultTTL, at least
	// MinTTL and the backend's minimum).
	TTL time.Duration
	// RenewEvery is the default background renewal period (default
	// TTL/3). Each renewal is jittered by ±10% so that many holders do
	// not renew in step.
	RenewEvery time.Duration
	// Wait is the default wait strategy of Acquire (default WaitAuto).
	Wait Wait
	// PollInitial and PollMax bound the backoff between attempts while
	// Acquire polls (defaults 5ms and 500ms); delays have full jitter.
	PollInitial, PollMax time.Duration
	// Meta is the default holder metadata stored with each lease (default
	// "<hostname>:<pid>").
	Meta string
	// Clock is the time source for renewal and validity (default real).
	Clock clock.Clock
	// Name is the scalekit.name attribute of the Locker's metrics and
	// spans, so two Lockers in one service never merge. Default "lock".
	Name string
	// TracerProvider and MeterProvider default to the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// AcquireOptions overrides the Locker's defaults for one acquisition. A nil
// *AcquireOptions, or a zero field, means the Locker's default.
type AcquireOptions struct {
	// TTL is the lease duration.
	TTL time.Duration
	// RenewEvery is the background renewal period.
	RenewEvery time.Duration
	// NoRenew turns background renewal off: the caller renews with
	// Lease.Renew, and the lease counts as lost when its validity runs
	// out without one.
	NoRenew bool
	// Wait is the wait strategy of Acquire.
	Wait Wait
	// Meta is the holder metadata.
	Meta string
}

// settings are the resolved options of one acquisition.
type settings struct {
	ttl, every time.Duration
	renew      bool
	wait       Wait
	meta       string
}

func defaultMeta() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return h + ":" + strconv.Itoa(os.Getpid())
}

// resolve merges o into the Locker's defaults and validates the result.
func (lk *Locker) resolve(o *AcquireOptions) (settings, error) {
	s := settings{ttl: lk.opts.TTL, every: lk.opts.RenewEvery, renew: true, wait: lk.opts.Wait, meta: lk.opts.Meta}
	if o != nil {
		if o.TTL < 0 || o.RenewEvery < 0 {
			return s, fmt.Errorf("%w: negative TTL (%v) or RenewEvery (%v)", ErrInvalidTTL, o.TTL, o.RenewEvery)
		}
		if o.TTL > 0 {
			s.ttl = o.TTL
			if o.RenewEvery == 0 {
				s.every = 0
			}
		}
		if o.RenewEvery > 0 {
			s.every = o.RenewEvery
		}
		if o.Wait != WaitAuto {
			s.wait = o.Wait
		}
		if o.Meta != "" {
			s.meta = o.Meta
		}
		s.renew = !o.NoRenew
	}
	if s.every == 0 {
		s.every = s.ttl / 3
	}
	if err := lk.checkTTL(s.ttl, s.every); err != nil {
		return s, err
	}
	if s.wait < WaitAuto || s.wait > WaitNative {
		return s, fmt.Errorf("lock: unknown wait strategy %v", s.wait)
	}
	return s, nil
}

func (lk *Locker) checkTTL(ttl, every time.Duration) error {
	switch {
	case ttl < lk.minTTL:
		return fmt.Errorf("%w: TTL %v is below the minimum %v", ErrInvalidTTL, ttl, lk.minTTL)
	case every <= 0 || every >= ttl:
		return fmt.Errorf("%w: RenewEvery %v must be positive and shorter than TTL %v", ErrInvalidTTL, every, ttl)
	}
	return nil
}

func (lk *Locker) checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > lk.maxKey:
		return fmt.Errorf("%w: key of %d bytes is longer than the backend's limit of %d", ErrInvalidKey, len(key), lk.maxKey)
	}
	return nil
}

// limitsOf returns the effective key and TTL bounds for d.
func limitsOf(d driver.Locker) (maxKey int, minTTL time.Duration) {
	maxKey, minTTL = DefaultMaxKeyLen, MinTTL
	if l, ok := d.(driver.Limited); ok {
		lim := l.Limits()
		if lim.MaxKeyLen > 0 {
			maxKey = lim.MaxKeyLen
		}
		if lim.MinTTL > minTTL {
			minTTL = lim.MinTTL
		}
	}
	return maxKey, minTTL
}
