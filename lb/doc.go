// Package lb balances calls over a changing set of endpoints, as a
// client-side balancer (Transport), an L7 reverse proxy (ReverseProxy) and
// an L4 TCP proxy (TCPProxy).
//
// # Pickers
//
// The model is grpc-go's balancer: a Policy builds an immutable Picker
// snapshot of the ready endpoints, and the Balancer swaps in a new one
// atomically whenever the set, a weight or an endpoint's health changes.
// Pick loads the snapshot with one atomic read and never blocks; each
// picked call reports its latency, bytes and outcome through
// Result.Done. The policies:
//
//   - RoundRobin: in turn, exactly even.
//   - WeightedRoundRobin: nginx's smooth weighted round robin, shares
//     proportional to weight and evenly interleaved (5,1,1 → a a b a c a a).
//   - Random and WeightedRandom.
//   - LeastConn: fewest in-flight calls per unit of weight; an exact scan
//     for small sets, power of two choices for large ones.
//   - LeastResponseTime: power of two choices over peak-EWMA latency ×
//     (in-flight + 1), the "P2C-EWMA" of Finagle, Linkerd and go-zero.
//   - LeastBandwidth: fewest bytes per second recently.
//   - ConsistentHash: a hash ring with bounded loads; the key comes from the
//     client IP, a header or a cookie (KeyFromIP, KeyFromHeader,
//     KeyFromCookie). Keys move minimally when endpoints change and no
//     endpoint carries more than (1+ε)× the average load.
//
// Sticky sessions (StickyCookie) pin a client to an endpoint with a cookie
// holding an HMAC of its address under Options.StickyKey, and fall back to
// the policy when that endpoint is gone. Behind other proxies the client IP
// is the right-most X-Forwarded-For hop not in the trusted networks
// (KeyFromIP(true), KeyFromClientIP, ProxyOptions.TrustedProxies). Slow start
// (Options.SlowStart) ramps a new endpoint's weight up over a window.
//
// # Health
//
// A Balancer keeps only healthy endpoints in its snapshot: active health
// checks (HealthCheck: HTTP path or TCP connect, interval, timeout,
// rise/fall), passive outlier ejection (OutlierOptions: consecutive
// failures or failure rate, a growing ejection period, a cap on the
// ejected share, half-open return), per-endpoint circuit breakers on
// resilience.Breaker (BreakerOptions; their own rejections are never counted
// as failures) and connection draining of removed endpoints. When nothing
// would be left, it spreads over every endpoint instead (panic mode).
//
// # Discovery
//
// New takes a static list and SetEndpoints changes it; Open follows a
// Resolver: Static, DNS (A/AAAA) and SRV re-resolved on an interval, or
// any registry implementing Watch.
//
// # Observability
//
// Options.MeterProvider (default the global one) receives
// scalekit.lb.picks, scalekit.lb.ejections, scalekit.lb.inflight,
// scalekit.lb.breaker.state and scalekit.lb.endpoint.up per endpoint
// (attributes scalekit.name, server.address, server.port), read at
// collection time from counters the hot path keeps anyway;
// Options.OnEvent receives every state change. Transport.TracerProvider
// receives an lb.RoundTrip span per request. docs/metrics.md lists every
// instrument.
//
// The lbtest package has fake endpoints (virtual ones for simulations,
// real loopback HTTP and TCP servers that can be killed) and distribution
// checkers.
package lb
