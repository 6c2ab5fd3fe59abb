package redisrate

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The decision call path. A decision is one EVALSHA built by hand: the
// argument slice comes from a pool and the constant arguments are boxed
// once per Driver, so a call allocates only what go-redis itself does (the
// command and its reply) plus the key. NOSCRIPT (a server that has not
// seen the script, or flushed it) is answered by one EVAL of the source,
// which also loads it.
//
// When the client does not honour context deadlines on socket I/O, the
// call runs on a worker goroutine so that the caller can give up when the
// budget is spent. Workers are kept warm (idle ones wait workerIdle for
// the next call before they exit): starting a goroutine per call cost more
// than the handoff, mostly growing its stack to go-redis's call depth.

// minusOne is the boxed "use the server clock" time argument.
var minusOne any = int64(-1)

// script is one Lua script with its SHA1, as EVALSHA needs it.
type script struct {
	src, sha string
}

func newScript(src string) script {
	s := redis.NewScript(src)
	return script{src: src, sha: s.Hash()}
}

// argsPool holds the argument slices of decisions.
var argsPool = sync.Pool{New: func() any { s := make([]any, 0, 16); return &s }}

// exec runs d's script for key synchronously and returns its reply, as
// the table of integers the scripts return; gcraInt's single integer is
// unpacked into buf as gcraScript's {allowed, reset, 0}.
func (d *Driver) exec(ctx context.Context, key string, n int, now int64, buf *[3]int64) ([]int64, error) {
	p := argsPool.Get().(*[]any)
	args := append((*p)[:0], "evalsha", d.script.sha, 1, d.prefix+key, n, minusOne)
	if now >= 0 {
		args[5] = now
	}
	args = append(args, d.consts...)
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(3)
	err := d.c.Process(ctx, cmd)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		args[0], args[1] = "eval", d.script.src
		cmd = redis.NewCmd(ctx, args...)
		cmd.SetFirstKeyPos(3)
		err = d.c.Process(ctx, cmd)
	}
	var res []int64
	switch {
	case err != nil:
	case d.intReply:
		var v int64
		if v, err = cmd.Int64(); err == nil {
			*buf = [3]int64{1, v, 0}
			if v < 0 {
				*buf = [3]int64{0, -v - 1, 0}
			}
			res = buf[:]
		}
	default:
		res, err = cmd.Int64Slice()
	}
	clear(args)
	*p = args[:0]
	argsPool.Put(p)
	return res, err
}

// call is one decision handed to a worker.
type call struct {
	d    *Driver
	ctx  context.Context
	key  string
	n    int
	now  int64
	res  []int64
	err  error
	buf  [3]int64
	done chan struct{} // buffered: the worker never blocks on it
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// work hands calls to idle workers.
var work = make(chan *call)

// workerIdle is how long an idle worker waits for the next call.
const workerIdle = 5 * time.Second

func submit(c *call) {
	select {
	case work <- c:
	default:
		go worker(c)
	}
}

func worker(c *call) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		c.res, c.err = c.d.exec(c.ctx, c.key, c.n, c.now, &c.buf)
		c.done <- struct{}{}
		t.Reset(workerIdle)
		select {
		case c = <-work:
		case <-t.C:
			return
		}
	}
}
