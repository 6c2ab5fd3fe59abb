package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// clientBenchStacks are the wrapper configurations compared against a bare
// transport: each layer alone, the default stack, and the stack with
// hedging.
func clientBenchStacks(b *testing.B, base http.RoundTripper) []struct {
	name string
	rt   http.RoundTripper
} {
	must := func(rt http.RoundTripper, err error) http.RoundTripper {
		if err != nil {
			b.Fatal(err)
		}
		return rt
	}
	br, err := NewBreakerTransport(base, nil)
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", base},
		// What net/http's Client.Timeout costs: a context deadline per
		// request. ClientTimeout pays the same, plus the body wrapper.
		{"stdlib-deadline", clientRTFunc(func(r *http.Request) (*http.Response, error) {
			ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
			defer cancel()
			return base.RoundTrip(r.WithContext(ctx))
		})},
		{"retry", must(RetryTransport(base, nil))},
		{"breaker", br},
		{"timeout", must(ClientTimeout(base, time.Minute, nil))},
		{"hedge", must(HedgeTransport(base, &HedgeOptions{Delay: time.Minute}))},
		{"stack", clientStack(b, base, &TransportOptions{Timeout: time.Minute, AttemptTimeout: 10 * time.Second})},
		{"stack+hedge", clientStack(b, base, &TransportOptions{
			Timeout: time.Minute, AttemptTimeout: 10 * time.Second, Hedge: &HedgeOptions{Delay: time.Minute}})},
	}
}

// BenchmarkClientLoopback sends GETs to an httptest server over loopback
// through each configuration: the per-request cost a caller sees.
func BenchmarkClientLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	for _, s := range clientBenchStacks(b, base) {
		if s.name == "stdlib-deadline" {
			continue // it cancels before the body is read, spoiling connection reuse
		}
		b.Run(s.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				resp, err := s.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}

// clientCanned answers at once without I/O, isolating the wrappers' own
// cost.
type clientCanned struct{}

func (clientCanned) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// BenchmarkClientOverhead measures what each wrapper adds per request over a
// transport that answers instantly (sequential and parallel).
func BenchmarkClientOverhead(b *testing.B) {
	for _, s := range clientBenchStacks(b, clientCanned{}) {
		b.Run(s.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				resp, err := s.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
		})
		b.Run(s.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
				for pb.Next() {
					resp, err := s.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					_ = resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkClientRetryAfterParse parses both Retry-After forms.
func BenchmarkClientRetryAfterParse(b *testing.B) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	date := now.Add(time.Minute).Format(http.TimeFormat)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := clientParseRetryAfter("120", now); !ok {
			b.Fatal("seconds")
		}
		if _, ok := clientParseRetryAfter(date, now); !ok {
			b.Fatal("date")
		}
	}
}
