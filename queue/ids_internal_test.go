package queue

import (
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// TestFillIDs: generated ids are unique (across chunks and calls), have
// the process prefix, and leave ids set by the caller alone.
func TestFillIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{1, idChunk - 1, idChunk, idChunk + 1, 3*idChunk + 5} {
		dms := make([]driver.Message, n)
		for i := range dms {
			if i%3 == 1 {
				dms[i].ID = "mine-" + strings.Repeat("x", i%5)
			}
		}
		fillIDs(dms)
		for i, m := range dms {
			if i%3 == 1 {
				if !strings.HasPrefix(m.ID, "mine-") {
					t.Fatalf("caller's id %d replaced by %q", i, m.ID)
				}
				continue
			}
			if !strings.HasPrefix(m.ID, idPrefix+"-") || len(m.ID) <= len(idPrefix)+1 {
				t.Fatalf("generated id %q lacks the prefix %q", m.ID, idPrefix)
			}
			if seen[m.ID] {
				t.Fatalf("id %q generated twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
}
