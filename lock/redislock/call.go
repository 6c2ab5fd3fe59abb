package redislock

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// The hot scripts (acquire, release) are run by hand-built EVALSHA
// commands whose argument slices come from a pool, so a call allocates
// only what go-redis itself does plus the keys; NOSCRIPT is answered by
// one EVAL of the source, which also loads it.

var argsPool = sync.Pool{New: func() any { s := make([]any, 0, 12); return &s }}

// evalArgs returns a pooled slice holding "evalsha", s's SHA1 and nkeys.
func evalArgs(s *redis.Script, nkeys int) *[]any {
	p := argsPool.Get().(*[]any)
	*p = append((*p)[:0], "evalsha", s.Hash(), nkeys)
	return p
}

// evalInt runs the command in *p (from evalArgs, keys and arguments
// appended) for script s and returns its integer reply; *p goes back to
// the pool.
func (d *Driver) evalInt(ctx context.Context, s *redis.Script, src string, p *[]any) (int64, error) {
	args := *p
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(3)
	err := d.c.Process(ctx, cmd)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		args[0], args[1] = "eval", src
		cmd = redis.NewCmd(ctx, args...)
		cmd.SetFirstKeyPos(3)
		err = d.c.Process(ctx, cmd)
	}
	var v int64
	if err == nil {
		v, err = cmd.Int64()
	}
	clear(args)
	*p = args[:0]
	argsPool.Put(p)
	return v, err
}

// boxedMs is a TTL in ms boxed once: most callers use one TTL, and boxing
// an int64 above 255 allocates.
type boxedMs struct {
	ms int64
	v  any
}

func (d *Driver) boxMs(ms int64) any {
	if b := d.lastTTL.Load(); b != nil && b.ms == ms {
		return b.v
	}
	b := &boxedMs{ms: ms, v: ms}
	d.lastTTL.Store(b)
	return b.v
}
