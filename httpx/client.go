package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Client side of httpx: http.RoundTripper wrappers that make outgoing calls
// safe to repeat and cheap to fail. Each wrapper stands alone
// (RetryTransport, NewBreakerTransport, ClientTimeout, HedgeTransport);
// NewTransport composes them in the order that keeps their promises
// (client_stack.go).

// ErrInvalidClientOption is wrapped by the error every client constructor
// returns for a bad option (negative attempts, a ratio above 1, …).
var ErrInvalidClientOption = errors.New("httpx: invalid client option")

func clientOptionError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidClientOption}, args...)...)
}

// clientIdempotencyHeaders are the request headers that mark a non-idempotent
// method as safe to repeat: the server deduplicates by key. (net/http's own
// transport honours the same two names.)
var clientIdempotencyHeaders = [...]string{"Idempotency-Key", "X-Idempotency-Key"}

// clientIdempotent reports whether req may be sent more than once: its
// method is idempotent by RFC 9110 (GET, HEAD, OPTIONS, TRACE, PUT, DELETE)
// or it carries an idempotency key.
func clientIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	for _, h := range clientIdempotencyHeaders {
		if req.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// clientReplayable reports whether req's body can be sent again: it has
// none, or GetBody can produce a fresh copy.
func clientReplayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// clientCopy returns a shallow copy of req for another send, with a fresh
// body from GetBody. The copy shares req's context and headers (RoundTrippers
// must not modify them).
func clientCopy(req *http.Request) (*http.Request, error) {
	r := new(http.Request)
	*r = *req
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, errors.New("httpx: request body cannot be replayed (no GetBody)")
		}
		b, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("httpx: replaying request body: %w", err)
		}
		r.Body = b
	}
	return r, nil
}

// clientDrainLimit bounds how much of a discarded response body is read so
// that its connection can be reused; longer bodies are just closed.
const clientDrainLimit = 64 << 10

// clientDiscard drains (up to clientDrainLimit) and closes the body of a
// response the caller will never see. nil is allowed.
func clientDiscard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, clientDrainLimit)
	_ = resp.Body.Close()
}

// clientOr returns rt, or http.DefaultTransport when rt is nil.
func clientOr(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}

// clientCloseIdle forwards CloseIdleConnections to rt when it has one, so
// that http.Client.CloseIdleConnections reaches the innermost transport
// through every wrapper.
func clientCloseIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
