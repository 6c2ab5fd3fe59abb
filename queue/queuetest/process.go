package queuetest

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
)

const (
	roleKill = "queuetest-kill"
	envTopic = "SCALEKIT_QUEUETEST_TOPIC"
)

// testKillMidHandler: a consumer process killed with SIGKILL in the
// middle of a handler loses nothing: the message it was handling, and
// every message it had not acked, are delivered to another consumer.
func (s *suite) testKillMidHandler(t *testing.T) {
	if s.ChildEnv == nil {
		t.Skip("in-process backend: no second process can share it (Harness.ChildEnv is nil)")
	}
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "work", nil)
	const n = 30
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i].Body = []byte("ok")
	}
	msgs[n/2].Body = []byte("hang")
	ids := s.publish(t, q, tp, msgs...)
	hangID := ids[n/2]

	env := append(s.ChildEnv(t), envTopic+"="+tp)
	cmd := testenv.Child(t, s.top, roleKill, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	testenv.StartChild(t, cmd)
	childDone := map[string]bool{}
	hung := make(chan struct{})
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			switch f[0] {
			case "QUEUETEST-DONE":
				mu.Lock()
				childDone[f[1]] = true
				mu.Unlock()
			case "QUEUETEST-HANG":
				close(hung)
			}
		}
	}()
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("the child consumer never reached the hanging handler")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()

	var parent counter
	var hangDeliveries int
	var hmu sync.Mutex
	stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
		parent.add(d.ID)
		if d.ID == hangID {
			hmu.Lock()
			hangDeliveries = d.Deliveries
			hmu.Unlock()
		}
		return nil
	}, &queue.ConsumeOptions{Concurrency: 4})
	s.eventually(t, 3*s.Visibility+10*time.Second, "every message handled by the child or the survivor", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if !childDone[id] && parent.count(id) == 0 {
				return false
			}
		}
		return true
	})
	s.eventually(t, 5*time.Second, "backlog empty", func() bool { return s.stats(t, sub).Backlog == 0 })
	_ = stop()
	hmu.Lock()
	defer hmu.Unlock()
	if parent.count(hangID) == 0 || hangDeliveries < 2 {
		t.Errorf("the message being handled when its consumer was killed: redelivered %d times, delivery count %d; want it redelivered with a count of at least 2",
			parent.count(hangID), hangDeliveries)
	}
}

// childKill is the consumer process that the kill test kills.
func (s *suite) childKill(t *testing.T) {
	q := s.queue(t, nil)
	tp := os.Getenv(envTopic)
	sub := s.subscribe(t, q, tp, "work", nil)
	var mu sync.Mutex
	_ = sub.Consume(context.Background(), func(_ context.Context, d *queue.Delivery) error {
		if string(d.Body) == "hang" {
			mu.Lock()
			os.Stdout.WriteString("QUEUETEST-HANG " + d.ID + "\n")
			mu.Unlock()
			select {} // until SIGKILL
		}
		mu.Lock()
		os.Stdout.WriteString("QUEUETEST-DONE " + d.ID + "\n")
		mu.Unlock()
		return nil
	}, &queue.ConsumeOptions{Concurrency: 2})
}
