package natsqueue

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// TestAckMeta checks ackMeta against (*nats.Msg).Metadata on both ack
// subject formats and rejects what Metadata rejects.
func TestAckMeta(t *testing.T) {
	for _, subj := range []string{
		"$JS.ACK.S.C.3.41.40.1700000000000000000.7",
		"$JS.ACK._.ACCHASH.S.C.3.41.40.1700000000000000000.7.tok",
		"$JS.ACK.dom.ACCHASH.S.C.1.18446744073709551615.2.1.0",
	} {
		md, err := (&nats.Msg{Reply: subj, Sub: &nats.Subscription{}}).Metadata()
		if err != nil {
			t.Fatalf("Metadata(%q): %v", subj, err)
		}
		d, s, ok := ackMeta(subj)
		if !ok || d != md.NumDelivered || s != md.Sequence.Stream {
			t.Errorf("ackMeta(%q) = %d, %d, %v; Metadata says %d, %d", subj, d, s, ok, md.NumDelivered, md.Sequence.Stream)
		}
	}
	for _, subj := range []string{"", "$JS.ACK", "$JS.ACK.S.C.3.41.40.1.7.8", "$JS.NAK.S.C.3.41.40.1.7",
		"$JS.ACK.S.C.x.41.40.1.7", "$JS.ACK.S.C.3.-1.40.1.7", "$JS.ACK.a.b.S.C.3.41.40.1.7.t.u.v", "_INBOX.x"} {
		if d, s, ok := ackMeta(subj); ok {
			t.Errorf("ackMeta(%q) = %d, %d, true; want not ok", subj, d, s)
		}
	}
}
