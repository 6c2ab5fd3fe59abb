package httpx

import (
	"context"
	"net/http"
)

type ctxKey int

const (
	reqKey ctxKey = iota
	sessionKey
)

// reqCtx is the per-request state the middlewares of this package share:
// the request ID and the matched route. It is a context node of its own,
// installed once per request by the first middleware that needs it (one
// allocation and one request copy); the others fill in its fields instead
// of adding nodes and copying the request again. Its fields are written
// only by the goroutine serving the request, before they are read.
type reqCtx struct {
	context.Context
	id    string
	route string
	// timedOut is set by Timeout when the deadline it set passed while
	// the handler ran, so that middleware outside it (Shed) sees it.
	timedOut bool
}

// Value returns the node itself for reqKey.
func (c *reqCtx) Value(key any) any {
	if key == any(reqKey) {
		return c
	}
	return c.Context.Value(key)
}

func reqFrom(ctx context.Context) *reqCtx {
	c, _ := ctx.Value(reqKey).(*reqCtx)
	return c
}

// requestState returns the request's shared state, installing it (and
// returning the request that carries it) when no middleware has yet.
func requestState(r *http.Request) (*reqCtx, *http.Request) {
	if c := reqFrom(r.Context()); c != nil {
		return c, r
	}
	c := &reqCtx{Context: r.Context()}
	return c, r.WithContext(c)
}
