package httpx

import (
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func clientNaN() float64 { return math.NaN() }
func clientInf() float64 { return math.Inf(1) }

func TestClientParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"99999999999999999999999", 24 * time.Hour, true}, // overflow clamps
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Wed, 01 May 2024 12:00:30 GMT", 30 * time.Second, true},
		{"Wednesday, 01-May-24 12:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Wed May  1 12:00:30 2024", 30 * time.Second, true},          // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},        // past date
		{now.Add(100 * 24 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"+5", 0, false},
		{"soon", 0, false},
		{"Wed, 32 May 2024 12:00:30 GMT", 0, false},
	} {
		got, ok := clientParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("clientParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzClientParseRetryAfter(f *testing.F) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"0", "120", "-1", "1e3", "Wed, 01 May 2024 12:00:30 GMT",
		"Wednesday, 01-May-24 12:00:30 GMT", "Wed May  1 12:00:30 2024", "18446744073709551616", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := clientParseRetryAfter(s, now)
		if d < 0 || d > clientMaxRetryAfter {
			t.Fatalf("%q: %v out of [0, 24h]", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: rejected but returned %v", s, d)
		}
		// Any non-negative integer is accepted and means that many seconds.
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && s[0] != '+' {
			want := clientMaxRetryAfter
			if n < uint64(clientMaxRetryAfter/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if !ok || d != want {
				t.Fatalf("%q: got %v %v, want %v", s, d, ok, want)
			}
		}
		// A date this parser accepts round-trips through the IMF-fixdate form.
		if ok && s != "" && (s[0] < '0' || s[0] > '9') {
			d2, ok2 := clientParseRetryAfter(now.Add(d).Format(http.TimeFormat), now)
			if !ok2 || (d < clientMaxRetryAfter && d2 != d.Truncate(time.Second)) {
				t.Fatalf("%q: %v does not round-trip (got %v %v)", s, d, d2, ok2)
			}
		}
	})
}
