package httpx

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
)

// This file computes the attributes of the HTTP server semantic conventions
// v1.39 the way otelhttp v0.66 does, with these deliberate differences,
// each where otelhttp departs from the conventions (checked by
// TestTelemetryMatchesOtelhttp):
//
//   - A method net/http does not know ("BREW", or "get": net/http methods
//     are case-sensitive) is http.request.method "_OTHER" on the span, with
//     http.request.method_original; otelhttp reports "GET" (or the upper
//     case) on the span.
//   - Metrics do not carry server.address and server.port: the conventions
//     make them opt-in on server metrics, and they come from the Host
//     header, which any client sets, so one client could create unbounded
//     metric series.
//   - A 5xx answer sets error.type to the status code on the span and the
//     metrics, as the conventions require; otelhttp sets no error.type on
//     the server side.

// spanStartAttrs appends the attributes a server span starts with (the
// ones samplers may look at), in otelhttp's order.
func spanStartAttrs(a []attribute.KeyValue, r *http.Request, mi int) []attribute.KeyValue {
	tls := r.TLS != nil
	host, port := splitHostPort(r.Host)
	a = append(a, semconv.ServerAddress(host), methodAttr(mi), schemeAttr(tls))
	if p := requiredPort(tls, port); p > 0 {
		a = append(a, semconv.ServerPort(p))
	}
	if mi == otherMethod {
		a = append(a, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		a = append(a, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			a = append(a, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := headerValue(r.Header, "User-Agent"); ua != "" {
		a = append(a, semconv.UserAgentOriginal(ua))
	}
	// client.address: the first X-Forwarded-For entry, else the peer
	// (never with a port), as otelhttp does.
	client := headerValue(r.Header, "X-Forwarded-For")
	if i := strings.IndexByte(client, ','); i >= 0 {
		client = client[:i]
	}
	if client == "" {
		client = peer
	}
	if client != "" {
		a = append(a, semconv.ClientAddress(client))
	}
	if r.URL != nil && r.URL.Path != "" {
		a = append(a, semconv.URLPath(r.URL.Path))
	}
	name, version := netProtocol(r.Proto)
	if name != "" && name != "http" {
		a = append(a, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		a = append(a, semconv.NetworkProtocolVersion(version))
	}
	if r.Pattern != "" {
		a = append(a, semconv.HTTPRoute(routeOfPattern(r.Pattern)))
	}
	return a
}

// metricAttrs returns the attributes of the request metrics for k.
func metricAttrs(k recordKey) attribute.Set {
	a := make([]attribute.KeyValue, 0, 7)
	a = append(a, methodAttr(k.method), schemeAttr(k.tls))
	name, version := netProtocol(k.proto)
	if name != "" {
		a = append(a, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		a = append(a, semconv.NetworkProtocolVersion(version))
	}
	a = append(a, semconv.HTTPResponseStatusCode(k.status))
	if k.route != "" {
		a = append(a, semconv.HTTPRoute(k.route))
	}
	if k.status >= 500 {
		a = append(a, semconv.ErrorTypeKey.String(strconv.Itoa(k.status)))
	}
	return attribute.NewSet(a...)
}

func methodAttr(mi int) attribute.KeyValue {
	return semconv.HTTPRequestMethodKey.String(semconvMethods[mi])
}

func schemeAttr(tls bool) attribute.KeyValue {
	if tls {
		return semconv.URLScheme("https")
	}
	return semconv.URLScheme("http")
}

// requiredPort returns port unless it is the scheme's default (or
// unknown), in which case server.port is left out.
func requiredPort(tls bool, port int) int {
	if port <= 0 || tls && port == 443 || !tls && port == 80 {
		return -1
	}
	return port
}

// netProtocol splits "HTTP/1.1" into "http" and "1.1".
func netProtocol(proto string) (name, version string) {
	name, version, _ = strings.Cut(proto, "/")
	switch name {
	case "HTTP":
		name = "http"
	case "QUIC":
		name = "quic"
	case "SPDY":
		name = "spdy"
	default:
		name = strings.ToLower(name)
	}
	return name, version
}

// splitHostPort splits "host", "[host]", "host:port" or "[host]:port" into
// the host (empty if missing or unparsable) and the port (-1 if missing or
// unparsable).
func splitHostPort(hostport string) (host string, port int) {
	port = -1
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 {
			return "", -1
		}
		if strings.LastIndexByte(hostport[end:], ':') < 0 {
			return hostport[1:end], -1
		}
	} else if strings.LastIndexByte(hostport, ':') < 0 {
		return hostport, -1
	}
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", -1
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return h, -1
	}
	return h, int(n)
}
