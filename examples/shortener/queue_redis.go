package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisQueue is a ClickQueue on a Redis stream, used with -redis and no
// -postgres until package queue's Redis backend (redisqueue) is on main with one consumer group:
// XADD publishes, XREADGROUP hands new entries out, XAUTOCLAIM takes over
// entries whose consumer has held them longer than the visibility timeout
// (the consumer crashed), XACK+XDEL acknowledge.
type redisQueue struct {
	rdb        redis.UniversalClient
	stream     string
	group      string
	consumer   string
	visibility time.Duration
}

func openRedisQueue(ctx context.Context, rdb redis.UniversalClient, stream, consumer string, visibility time.Duration) (*redisQueue, error) {
	q := &redisQueue{rdb: rdb, stream: stream, group: "analytics", consumer: consumer, visibility: visibility}
	err := rdb.XGroupCreateMkStream(ctx, stream, q.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return nil, err
	}
	return q, nil
}

func (q *redisQueue) Publish(ctx context.Context, c Click) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []any{"c", b}}).Err()
}

func (q *redisQueue) Receive(ctx context.Context, n int, wait time.Duration) ([]Delivery, error) {
	// First take over what a crashed consumer left behind.
	msgs, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.stream, Group: q.group,
		Consumer: q.consumer, MinIdle: q.visibility, Start: "0-0", Count: int64(n)}).Result()
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.group, Consumer: q.consumer,
			Streams: []string{q.stream, ">"}, Count: int64(n), Block: wait}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
	}
	out := make([]Delivery, 0, len(msgs))
	var poison []string
	for _, m := range msgs {
		var c Click
		s, _ := m.Values["c"].(string)
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			poison = append(poison, m.ID)
			continue
		}
		out = append(out, Delivery{Tag: m.ID, Click: c})
	}
	if len(poison) > 0 {
		_ = q.Ack(ctx, poison...)
	}
	return out, nil
}

func (q *redisQueue) Ack(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	p := q.rdb.TxPipeline()
	p.XAck(ctx, q.stream, q.group, tags...)
	p.XDel(ctx, q.stream, tags...)
	_, err := p.Exec(ctx)
	return err
}

func (q *redisQueue) Backlog(ctx context.Context) (int64, error) {
	return q.rdb.XLen(ctx, q.stream).Result()
}

func (q *redisQueue) Close() error { return nil }

// DeadLetters is always 0: undecodable entries are acknowledged and dropped.
func (q *redisQueue) DeadLetters(context.Context) (int64, error) { return 0, nil }

func (q *redisQueue) Backend() string { return "redis stream (stand-in)" }
