// Package clientip resolves the address of the client behind a chain of
// reverse proxies, shared by httpx (rate-limit and idempotency keys) and lb
// (affinity keys, X-Forwarded-For handling), so both read forwarding
// headers the same way.
//
// The rule is the one that cannot be spoofed: the peer address of the
// connection is the right-most hop. While that hop is a trusted proxy, the
// next one to the left in the forwarding header is taken; the first hop
// that is not a trusted proxy is the client. Everything left of it was
// written by the client itself and is ignored. With no trusted proxies the
// peer address is the client and the headers are never read.
package clientip
