package conformance_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/sketch"
	"github.com/scalekit-go/scalekit/sketch/redissketch"
)

// exerciseSketch makes every documented redissketch span against a real
// Redis.
func exerciseSketch(ctx context.Context, t *testing.T, e *env) {
	rdb := testenv.RedisClient(t)
	opts := &redissketch.Options{KeyPrefix: "conformance:", TracerProvider: e.tp}
	b, err := redissketch.NewBloom(rdb, "usernames", 1000, 0.01, opts)
	must(t, err)
	must(t, b.Add(ctx, []byte("ada")))
	_, err = b.TestAndAdd(ctx, []byte("bob"))
	must(t, err)
	local, err := sketch.NewBloomWithSize(b.Bits(), b.Hashes())
	must(t, err)
	must(t, b.Merge(ctx, local))
	h, err := redissketch.NewHyperLogLog(rdb, "dau", opts)
	must(t, err)
	_, err = h.Add(ctx, "ada", "bob")
	must(t, err)
	_, err = h.Count(ctx)
	must(t, err)
}

// spanNameRe is the ARCHITECTURE.md span naming scheme: <pkg>.<Operation>,
// the operation being an exported method name, qualified by its type where
// the package has several (redissketch.Bloom.Add).
var spanNameRe = regexp.MustCompile(`^[a-z][a-z0-9]*\.([A-Z][A-Za-z0-9]*\.)?[A-Z][A-Za-z0-9]*$`)

// checkSpanNames checks every span scalekit starts, except the HTTP spans
// named by the semantic conventions, against the naming scheme, and that
// it carries scalekit.name.
func checkSpanNames(t *testing.T, e *env) {
	seen := map[string]bool{}
	for _, s := range e.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer || strings.HasPrefix(s.Name(), "HTTP ") || seen[s.Name()] {
			continue
		}
		seen[s.Name()] = true
		if !spanNameRe.MatchString(s.Name()) {
			t.Errorf("span %q (scope %s) is not named <pkg>.<Operation>", s.Name(), s.InstrumentationScope().Name)
		}
		hasName := false
		for _, kv := range s.Attributes() {
			hasName = hasName || kv.Key == "scalekit.name" && kv.Value.AsString() != ""
			if !attrKeyOK(string(kv.Key)) {
				t.Errorf("span %q attribute %q is neither scalekit.<pkg>.… nor a semantic-convention name", s.Name(), kv.Key)
			}
		}
		if !hasName {
			t.Errorf("span %q carries no scalekit.name", s.Name())
		}
	}
}

// semconvPrefixes are the OpenTelemetry semantic-convention namespaces
// scalekit's spans may use besides its own scalekit.* names.
var semconvPrefixes = []string{"scalekit.", "messaging.", "http.", "url.", "server.", "client.", "network.",
	"db.", "rpc.", "error.", "exception.", "user_agent.", "otel."}

func attrKeyOK(k string) bool {
	for _, p := range semconvPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
