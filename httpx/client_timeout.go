package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// ClientTimeoutOptions configure ClientTimeout. The zero value (or nil) is
// valid.
type ClientTimeoutOptions struct {
	// Clock times the limit. Default real time, where the limit is also a
	// context deadline that the wrapped transport (and a server reading a
	// propagated deadline) can see.
	Clock clock.Clock
	// DeadlineHeader, when set (for example "X-Request-Timeout", which the
	// server-side Timeout middleware reads), is sent with the time left
	// before the request's deadline — this limit's or the caller's, whichever
	// is sooner — in whole milliseconds, rounded up, so that the server can
	// stop working for a client that has given up. Only with real time.
	DeadlineHeader string
}

// ClientTimeoutError is returned when a ClientTimeout limit ends a request
// (while sending or while its body is read). It matches
// context.DeadlineExceeded with errors.Is and reports Timeout() true, like
// net/http's own client timeouts, so RetryTransport retries it when the
// caller's context is still alive.
type ClientTimeoutError struct {
	// Limit is the configured timeout.
	Limit time.Duration
}

// Error implements error.
func (e *ClientTimeoutError) Error() string {
	return "httpx: request timed out after " + e.Limit.String()
}

// Timeout reports true (net.Error).
func (e *ClientTimeoutError) Timeout() bool { return true }

// Temporary reports true (net.Error).
func (e *ClientTimeoutError) Temporary() bool { return true }

// Unwrap returns context.DeadlineExceeded.
func (e *ClientTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// ClientTimeout returns a RoundTripper that bounds each request through it to
// d, from the call to RoundTrip until its response body is closed (like
// http.Client.Timeout). Placed under RetryTransport it is a per-attempt
// timeout; placed above it, an overall one that includes backoff waits.
// NewTransport does both. d = 0 disables the limit (only DeadlineHeader
// then applies); d < 0 is an error wrapping ErrInvalidClientOption. next
// nil means http.DefaultTransport.
//
// When the limit fires the request context seen by next is cancelled and
// the error is a *ClientTimeoutError; a caller's own cancellation still
// surfaces as the caller's context error. The RoundTripper is safe for
// concurrent use.
func ClientTimeout(next http.RoundTripper, d time.Duration, opts *ClientTimeoutOptions) (http.RoundTripper, error) {
	if d < 0 {
		return nil, clientOptionError("ClientTimeout duration %v < 0", d)
	}
	next = clientOr(next)
	var o ClientTimeoutOptions
	if opts != nil {
		o = *opts
	}
	if d == 0 && o.DeadlineHeader == "" {
		return next, nil
	}
	return &clientTimeout{next: next, d: d, clk: o.Clock, header: o.DeadlineHeader, err: &ClientTimeoutError{Limit: d}}, nil
}

type clientTimeout struct {
	next   http.RoundTripper
	d      time.Duration
	clk    clock.Clock // nil or real: context deadline
	header string
	err    *ClientTimeoutError
}

// RoundTrip implements http.RoundTripper.
func (t *clientTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	switch {
	case t.d == 0: // DeadlineHeader only
		ctx, cancel = parent, func() {}
	case clock.IsReal(t.clk):
		ctx, cancel = context.WithTimeoutCause(parent, t.d, t.err)
	default:
		c, cancelCause := context.WithCancelCause(parent)
		timer := t.clk.AfterFunc(t.d, func() { cancelCause(t.err) })
		ctx, cancel = c, func() { timer.Stop(); cancelCause(context.Canceled) }
	}
	send := req.WithContext(ctx)
	if dl, ok := ctx.Deadline(); ok && t.header != "" {
		send = req.Clone(ctx)
		ms := (time.Until(dl) + time.Millisecond - 1) / time.Millisecond
		send.Header.Set(t.header, strconv.FormatInt(int64(max(ms, 1)), 10))
	}
	resp, err := t.next.RoundTrip(send)
	if err != nil {
		err = t.mapErr(parent, ctx, err)
		cancel()
		return nil, err
	}
	resp.Body = &clientTimeoutBody{rc: resp.Body, t: t, parent: parent, ctx: ctx, cancel: cancel}
	return resp, nil
}

// mapErr turns the error of a send or body read that the limit ended into
// a *ClientTimeoutError.
func (t *clientTimeout) mapErr(parent, ctx context.Context, err error) error {
	if parent.Err() == nil && errors.Is(context.Cause(ctx), t.err) {
		return t.err
	}
	return err
}

// CloseIdleConnections forwards to the wrapped transport.
func (t *clientTimeout) CloseIdleConnections() { clientCloseIdle(t.next) }

// clientTimeoutBody releases the limit when the body is closed.
type clientTimeoutBody struct {
	rc          io.ReadCloser
	t           *clientTimeout
	parent, ctx context.Context
	cancel      context.CancelFunc
}

func (b *clientTimeoutBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.t.mapErr(b.parent, b.ctx, err)
	}
	return n, err
}

func (b *clientTimeoutBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
