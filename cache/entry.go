package cache

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Entry is what a Cache keeps in a store: the value plus the metadata the
// strategies need. In-process stores hold Entry values as they are; remote
// stores hold them encoded (a 26-byte header followed by the codec's
// bytes). Applications only meet Entry when they build a local store for
// NewLocal, NewInMemory or OpenTiered.
type Entry[V any] struct {
	// Value is the cached value (the zero value for a negative entry).
	Value V
	// Absent marks a negative entry: the source said the key does not exist.
	Absent bool
	// Fresh is the unix-nanosecond time until which the value is fresh;
	// zero means it never goes stale.
	Fresh int64
	// Delta is how long, in nanoseconds, the load that produced the value
	// took; XFetch uses it.
	Delta int64
	// Stored is the unix-nanosecond time the entry was written;
	// refresh-ahead measures the fraction of the TTL elapsed from it.
	Stored int64
}

// Codec turns values into bytes for remote stores. Implementations must be
// safe for concurrent use.
type Codec[V any] interface {
	Marshal(v V) ([]byte, error)
	Unmarshal(data []byte, v *V) error
}

// JSON is the default Codec: encoding/json. The zero value is ready to use.
type JSON[V any] struct{}

// Marshal implements Codec.
func (JSON[V]) Marshal(v V) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec.
func (JSON[V]) Unmarshal(data []byte, v *V) error { return json.Unmarshal(data, v) }

const (
	envelopeVersion = 1
	headerLen       = 26
	flagAbsent      = 1
)

func encodeEntry[V any](codec Codec[V], e Entry[V]) ([]byte, error) {
	var payload []byte
	if !e.Absent {
		var err error
		payload, err = codec.Marshal(e.Value)
		if err != nil {
			return nil, fmt.Errorf("cache: encode value: %w", err)
		}
	}
	buf := make([]byte, headerLen, headerLen+len(payload))
	buf[0] = envelopeVersion
	if e.Absent {
		buf[1] = flagAbsent
	}
	binary.BigEndian.PutUint64(buf[2:], uint64(e.Fresh))
	binary.BigEndian.PutUint64(buf[10:], uint64(e.Delta))
	binary.BigEndian.PutUint64(buf[18:], uint64(e.Stored))
	return append(buf, payload...), nil
}

func decodeEntry[V any](codec Codec[V], data []byte) (Entry[V], error) {
	var e Entry[V]
	if len(data) < headerLen {
		return e, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(data), headerLen)
	}
	if data[0] != envelopeVersion {
		return e, fmt.Errorf("%w: unknown version %d", ErrCorrupt, data[0])
	}
	if data[1]&^flagAbsent != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, data[1])
	}
	e.Absent = data[1]&flagAbsent != 0
	e.Fresh = int64(binary.BigEndian.Uint64(data[2:]))
	e.Delta = int64(binary.BigEndian.Uint64(data[10:]))
	e.Stored = int64(binary.BigEndian.Uint64(data[18:]))
	if e.Absent {
		if len(data) != headerLen {
			return Entry[V]{}, fmt.Errorf("%w: negative entry with payload", ErrCorrupt)
		}
		return e, nil
	}
	if err := codec.Unmarshal(data[headerLen:], &e.Value); err != nil {
		return Entry[V]{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return e, nil
}
