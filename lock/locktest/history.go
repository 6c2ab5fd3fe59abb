package locktest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hold is one critical section as seen by its holder: the fencing token of
// its lease, and when (by the wall clock, in Unix nanoseconds so that
// processes on one machine can compare) the holder entered and left it.
// Start is taken after the acquisition returned and End before the
// release was sent.
type Hold struct {
	Holder string
	Token  int64
	Start  int64
	End    int64
}

// History collects holds from many goroutines. Its zero value is ready to
// use and it is safe for concurrent use.
type History struct {
	mu    sync.Mutex
	holds []Hold
}

// Add records h.
func (hs *History) Add(h Hold) {
	hs.mu.Lock()
	hs.holds = append(hs.holds, h)
	hs.mu.Unlock()
}

// Holds returns a copy of the recorded holds.
func (hs *History) Holds() []Hold {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]Hold(nil), hs.holds...)
}

// Check runs CheckHolds on the recorded holds.
func (hs *History) Check() error { return CheckHolds(hs.Holds()) }

// CheckHolds returns an error describing the first violation of mutual
// exclusion in holds of one key: two critical sections that overlap in
// time, two holds with the same fencing token, or a hold that began after
// another but carries a smaller token (tokens must increase in the order
// holders got the lock). It returns nil for a valid history.
func CheckHolds(holds []Hold) error {
	hs := append([]Hold(nil), holds...)
	for _, h := range hs {
		if h.End < h.Start {
			return fmt.Errorf("hold %+v ends before it starts", h)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Start < hs[j].Start })
	for i := 1; i < len(hs); i++ {
		prev, cur := hs[i-1], hs[i]
		if cur.Start < prev.End {
			return fmt.Errorf("mutual exclusion violated: %s held the lock (token %d) from %s to %s, and %s (token %d) entered at %s, %v before the first left",
				prev.Holder, prev.Token, fmtNano(prev.Start), fmtNano(prev.End), cur.Holder, cur.Token, fmtNano(cur.Start), time.Duration(prev.End-cur.Start))
		}
		if cur.Token <= prev.Token {
			return fmt.Errorf("fencing tokens do not increase: %s held token %d until %s, then %s held token %d from %s",
				prev.Holder, prev.Token, fmtNano(prev.End), cur.Holder, cur.Token, fmtNano(cur.Start))
		}
	}
	return nil
}

func fmtNano(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000000") }

// WriteHolds writes holds as lines "hold <holder> <token> <start> <end>",
// the format child processes report their history in.
func WriteHolds(w io.Writer, holds []Hold) error {
	bw := bufio.NewWriter(w)
	for _, h := range holds {
		fmt.Fprintf(bw, "hold %s %d %d %d\n", h.Holder, h.Token, h.Start, h.End)
	}
	return bw.Flush()
}

// ReadHolds parses the "hold" lines of r (other lines, such as test-runner
// output, are skipped).
func ReadHolds(r io.Reader) ([]Hold, error) {
	var out []Hold
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 || f[0] != "hold" {
			continue
		}
		var h Hold
		var err error
		h.Holder = f[1]
		if h.Token, err = strconv.ParseInt(f[2], 10, 64); err == nil {
			if h.Start, err = strconv.ParseInt(f[3], 10, 64); err == nil {
				h.End, err = strconv.ParseInt(f[4], 10, 64)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("locktest: bad hold line %q: %v", sc.Text(), err)
		}
		out = append(out, h)
	}
	return out, sc.Err()
}
