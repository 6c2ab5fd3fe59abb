package queuetest

import (
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

// Run runs the conformance suite against the backend described by h, each
// property as a named sub-test, always through package queue's Queue.
//
// When h.ChildEnv is set, Run also starts copies of the test binary that
// play consumers; in such a child process Run plays that part and
// returns, so the caller's test function must call Run unconditionally.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("queuetest: Harness.New is nil")
	}
	if h.Visibility <= 0 {
		h.Visibility = time.Second
	}
	s := &suite{Harness: h, top: strings.SplitN(t.Name(), "/", 2)[0]}
	if testenv.ChildRole() == roleKill {
		s.childKill(t)
		return
	}
	t.Run("BadInput", s.testBadInput)
	t.Run("PublishConsume", s.testPublishConsume)
	t.Run("ReceiveLoop", s.testReceiveLoop)
	t.Run("ReceiveBatchAck", s.testReceiveBatchAck)
	t.Run("FanOut", s.testFanOut)
	t.Run("CompetingConsumers", s.testCompetingConsumers)
	t.Run("Dedup", s.testDedup)
	t.Run("TraceContextInHeaders", s.testTraceContext)
	t.Run("RedeliveryAfterVisibilityTimeout", s.testRedelivery)
	t.Run("HeartbeatPreventsRedelivery", s.testHeartbeat)
	t.Run("DeadLetterAfterMaxDeliveries", s.testMaxDeliveries)
	t.Run("CrashLoopGoesToDLQ", s.testCrashLoop)
	t.Run("NackPolicies", s.testNackPolicies)
	t.Run("PoisonMessageDoesNotBlockOthers", s.testPoison)
	t.Run("PerKeyOrderUnderConcurrency", s.testPerKeyOrder)
	t.Run("SlowKeyDoesNotBlockOthers", s.testSlowKey)
	t.Run("Priority", s.testPriority)
	t.Run("DelayedNotEarly", s.testDelayed)
	t.Run("Backpressure", s.testBackpressure)
	t.Run("GracefulShutdown", s.testShutdown)
	t.Run("ShutdownDeadline", s.testShutdownDeadline)
	t.Run("CloseStopsHeartbeat", s.testCloseStopsHeartbeat)
	t.Run("DrainTimeoutStopsHeartbeat", s.testDrainTimeoutStopsHeartbeat)
	t.Run("DLQListInspectRedrivePurge", s.testDLQ)
	t.Run("KillMidHandler", s.testKillMidHandler)
}
