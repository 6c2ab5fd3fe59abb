package pgqueue_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// cpuMeter reads the CPU time spent so far by this process and by every
// process of the PostgreSQL server under test (the postmaster's children:
// backends, WAL writer, autovacuum …). On a machine shared with other
// jobs the wall-clock rate of a round swings with the neighbours' load;
// the CPU time a round costs does not, and on a saturated machine the
// rate is its inverse. Linux only; elsewhere it reports zero.
type cpuMeter struct {
	postmaster int
}

func newCPUMeter(pool *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{}
	var dir string
	if err := pool.QueryRow(context.Background(), "SHOW data_directory").Scan(&dir); err != nil {
		return m
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return m
	}
	m.postmaster, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return m
}

// now returns the CPU time of this process and the server's.
func (m *cpuMeter) now() cpuTime {
	c := cpuTime{client: testenv.CPUTime()}
	if m.postmaster == 0 {
		return c
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cpu, ppid, ok := testenv.ProcCPUTime(pid)
		if ok && (pid == m.postmaster || ppid == m.postmaster) {
			c.server += cpu
		}
	}
	return c
}

// cpuTime is CPU time spent by the client (this process) and the server.
type cpuTime struct{ client, server time.Duration }

func (c cpuTime) sub(o cpuTime) cpuTime { return cpuTime{c.client - o.client, c.server - o.server} }

func (c cpuTime) add(o cpuTime) cpuTime { return cpuTime{c.client + o.client, c.server + o.server} }

func (c cpuTime) total() time.Duration { return c.client + c.server }
