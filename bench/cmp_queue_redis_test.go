package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

// redisConc is the handler window of the Redis and NATS rows: handlers
// running at once (and messages prefetched) for scalekit, messages per
// read (twice that) for the raw clients.
const redisConc = 256

// redisqueueSide is package queue over redisqueue: one Consume of
// redisConc handlers.
func redisqueueSide(b testing.TB, c redis.UniversalClient) e2eSide {
	d, err := redisqueue.New(c, &redisqueue.Options{Prefix: testenv.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return queueSide(q, 1, &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 5 * time.Millisecond},
		&queue.ConsumeOptions{Concurrency: redisConc, Prefetch: redisConc})
}

// rawRedisSide does the same work with go-redis alone: pipelined XADD per
// batch, one XREADGROUP loop of up to 2×redisConc entries, XACK in batches
// of 256 from a second goroutine.
func rawRedisSide(b testing.TB, c redis.UniversalClient) e2eSide {
	stream := testenv.Prefix(b) + "{raw}"
	fields := []string{"m", string(qBody)}
	return e2eSide{
		start: func(ctx context.Context, handled func(int)) (func() error, error) {
			if err := c.XGroupCreateMkStream(ctx, stream, "g", "0").Err(); err != nil {
				return nil, err
			}
			cctx, cancel := context.WithCancel(ctx)
			acks := make(chan []string, 64)
			errc := make(chan error, 2)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { // reader
				defer wg.Done()
				defer close(acks)
				for cctx.Err() == nil {
					res, err := c.XReadGroup(cctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"},
						Count: 2 * redisConc, Block: 5 * time.Millisecond}).Result()
					if err != nil && !errors.Is(err, redis.Nil) {
						if cctx.Err() == nil {
							errc <- err
						}
						return
					}
					for _, s := range res {
						ids := make([]string, len(s.Messages))
						for i, m := range s.Messages {
							ids[i] = m.ID
						}
						acks <- ids
					}
				}
			}()
			go func() { // acker
				defer wg.Done()
				for ids := range acks {
					n := len(ids)
					for len(ids) > 0 {
						k := min(len(ids), 256)
						if err := c.XAck(ctx, stream, "g", ids[:k]...).Err(); err != nil {
							errc <- err
							cancel()
							for range acks {
							}
							return
						}
						ids = ids[k:]
					}
					handled(n)
				}
			}()
			return onceStop(func() error {
				cancel()
				wg.Wait()
				c.Del(context.Background(), stream)
				select {
				case err := <-errc:
					return err
				default:
					return nil
				}
			}), nil
		},
		publish: func(ctx context.Context, k int) error {
			p := c.Pipeline()
			for i := 0; i < k; i++ {
				p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields})
			}
			_, err := p.Exec(ctx)
			return err
		},
	}
}

// BenchmarkCmpQueueRedis: publish + consume + ack end to end on the same
// Redis, redisqueue against go-redis doing the same work by hand
// (pipelined XADD, XREADGROUP, XACK).
func BenchmarkCmpQueueRedis(b *testing.B) {
	c := testenv.RedisClient(b)
	b.Run("scalekit", func(b *testing.B) { endToEnd(b, redisqueueSide(b, c), "msgs/s") })
	b.Run("raw", func(b *testing.B) { endToEnd(b, rawRedisSide(b, c), "msgs/s") })
}
