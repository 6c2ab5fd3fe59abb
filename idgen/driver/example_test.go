package driver_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/driver"
)

// counterSource is a minimal SegmentSource: it reserves [next, next+size)
// of one counter per name. A real backend does the same in one atomic
// engine operation and passes idgentest against that engine.
type counterSource struct {
	mu   sync.Mutex
	next map[string]int64
}

func (s *counterSource) NextBlock(_ context.Context, name string, size int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.next[name] + 1
	s.next[name] = start + size - 1
	return start, nil
}

var _ driver.SegmentSource = (*counterSource)(nil)

func Example() {
	seg, err := idgen.NewSegment(&counterSource{next: map[string]int64{}}, "tickets", &idgen.SegmentOptions{BlockSize: 2})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	for range 3 {
		id, _ := seg.Next(context.Background())
		fmt.Println(id)
	}
	// Output:
	// 1
	// 2
	// 3
}
