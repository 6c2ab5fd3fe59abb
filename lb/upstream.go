package lb

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// UpstreamIdleConnsPerHost is how many idle keep-alive connections the
// default upstream transport of Transport and ReverseProxy keeps per
// endpoint. http.DefaultTransport keeps 2: a proxy under more than two
// concurrent requests per endpoint then closes a connection after almost
// every response and dials a new one for the next (thousands of new
// upstream connections per 10,000 requests, and dialling becomes a fifth
// of the CPU). 1,024 covers the concurrency a single proxy process sees;
// idle connections still close after 90 s.
const UpstreamIdleConnsPerHost = 1024

// upstreamTransport is the default base of Transport: http.DefaultTransport's
// dialer and timeouts, with a keep-alive pool sized for a proxy, no limit on
// idle connections in total (each endpoint is bounded instead), and, for a
// proxy, no transparent gzip (a proxy passes the client's Accept-Encoding
// through and must not ask for gzip the client did not ask for).
func upstreamTransport(proxy bool) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   UpstreamIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		DisableCompression:    proxy,
		// 32 KiB connection buffers instead of 4 KiB: proxybench measured
		// 11–18% less CPU per proxied request with them (1 KiB
		// responses), at 64 KiB of memory per upstream connection.
		WriteBufferSize: 32 << 10,
		ReadBufferSize:  32 << 10,
	}
}

// copyBuffers is the httputil.BufferPool of ReverseProxy: without one,
// every proxied response allocates a fresh 32 KiB copy buffer. The pool
// holds array pointers, so that neither Get nor Put allocates (a pool of
// *[]byte needs a new slice header on every Put).
type copyBuffers struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newCopyBuffers() *copyBuffers {
	return &copyBuffers{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (c *copyBuffers) Get() []byte { return c.p.Get().(*[copyBufferSize]byte)[:] }

func (c *copyBuffers) Put(b []byte) {
	if cap(b) >= copyBufferSize {
		c.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}
