package clientip_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/scalekit-go/scalekit/internal/clientip"
)

func request(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func mustNew(t testing.TB, o clientip.Options) *clientip.Resolver {
	t.Helper()
	r, err := clientip.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAddrRightMostUntrusted(t *testing.T) {
	lbNet := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	xff := mustNew(t, clientip.Options{TrustedProxies: lbNet})
	fwd := mustNew(t, clientip.Options{TrustedProxies: lbNet, Header: "forwarded"})
	none := mustNew(t, clientip.Options{})
	for _, c := range []struct {
		name string
		r    *clientip.Resolver
		req  *http.Request
		want string
	}{
		{"no trust ignores header", none, request("198.51.100.7:1", "X-Forwarded-For", "1.1.1.1"), "198.51.100.7"},
		{"untrusted peer ignores header", xff, request("198.51.100.7:1", "X-Forwarded-For", "1.1.1.1"), "198.51.100.7"},
		{"spoofed left-most ignored", xff, request("10.0.0.2:1", "X-Forwarded-For", "6.6.6.6, 203.0.113.9"), "203.0.113.9"},
		{"trusted hops skipped", xff, request("10.0.0.2:1", "X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.1.1.1"), "203.0.113.9"},
		{"several header lines", xff, request("10.0.0.2:1", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "203.0.113.9 , 10.9.9.9"), "203.0.113.9"},
		{"all trusted gives left-most", xff, request("10.0.0.2:1", "X-Forwarded-For", "10.3.3.3, 10.1.1.1"), "10.3.3.3"},
		{"no header gives peer", xff, request("10.0.0.2:1"), "10.0.0.2"},
		{"garbage hop stops at proxy", xff, request("10.0.0.2:1", "X-Forwarded-For", "6.6.6.6, unknown, 10.1.1.1"), "10.1.1.1"},
		{"hop with port", xff, request("10.0.0.2:1", "X-Forwarded-For", "203.0.113.9:4711"), "203.0.113.9"},
		{"ipv6 hop", xff, request("[2001:db8:ffff::1]:1", "X-Forwarded-For", "2001:db8:1:2::77"), "2001:db8:1:2::77"},
		{"bracketed ipv6 hop", xff, request("[2001:db8:ffff::1]:1", "X-Forwarded-For", "[2001:db8:1:2::77]:80"), "2001:db8:1:2::77"},
		{"mapped peer", xff, request("[::ffff:10.0.0.2]:1", "X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"forwarded", fwd, request("10.0.0.2:1", "Forwarded", `for=6.6.6.6, for="[2001:db8:1::9]:80";proto=https, for=10.1.1.1`), "2001:db8:1::9"},
		{"forwarded obfuscated", fwd, request("10.0.0.2:1", "Forwarded", `for=6.6.6.6, for=_hidden`), "10.0.0.2"},
		{"forwarded ignores xff", fwd, request("10.0.0.2:1", "X-Forwarded-For", "6.6.6.6"), "10.0.0.2"},
		{"bad remote", xff, request("pipe"), "invalid IP"},
	} {
		if got := c.r.Addr(c.req).String(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestKeyPrefixes(t *testing.T) {
	r := mustNew(t, clientip.Options{})
	for in, want := range map[string]string{
		"203.0.113.9":           "203.0.113.9",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":  "2001:db8:1:2::/64",
		"::ffff:203.0.113.9":    "203.0.113.9",
		"fe80::1%eth0":          "fe80::/64",
		"2001:db8:1:3:3:4:5:6":  "2001:db8:1:3::/64",
		"2001:db8:1:2:3:4:5:ff": "2001:db8:1:2::/64",
	} {
		if got := r.Key(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	r = mustNew(t, clientip.Options{IPv4Bits: 24, IPv6Bits: 128})
	if got := r.Key(netip.MustParseAddr("203.0.113.9")); got != "203.0.113.0/24" {
		t.Errorf("v4 /24: %s", got)
	}
	if got := r.Key(netip.MustParseAddr("2001:db8::1")); got != "2001:db8::1" {
		t.Errorf("v6 /128: %s", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []clientip.Options{
		{Header: "X-Real-IP"}, {IPv4Bits: 33}, {IPv6Bits: -1}, {IPv6Bits: 129},
		{TrustedProxies: []netip.Prefix{{}}},
	} {
		if _, err := clientip.New(o); !errors.Is(err, clientip.ErrBadOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func FuzzAddr(f *testing.F) {
	f.Add("10.0.0.2:1", "6.6.6.6, 203.0.113.9", `for="[::1]:80"`)
	f.Add("[::1]:2", ",,", "for=")
	r := mustNew(f, clientip.Options{TrustedProxies: clientip.PrivateRanges})
	fr := mustNew(f, clientip.Options{TrustedProxies: clientip.PrivateRanges, Header: clientip.Forwarded})
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		req := request(remote, "X-Forwarded-For", xff, "Forwarded", fwd)
		for _, res := range []*clientip.Resolver{r, fr} {
			a := res.Addr(req)
			if a.IsValid() {
				_ = res.Key(a)
			}
			// The answer is either the peer or an address from the header:
			// never something made up.
			if a.IsValid() && a != clientip.Peer(remote) && !res.Trusted(clientip.Peer(remote)) {
				t.Fatalf("untrusted peer %q, got %s", remote, a)
			}
		}
	})
}

func ExampleResolver_Addr() {
	r, _ := clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.2:51000" // the load balancer
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.9")
	a := r.Addr(req)
	fmt.Println(a, r.Key(a))
	// Output: 203.0.113.9 203.0.113.9
}
