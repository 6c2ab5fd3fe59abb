package memorycache

import (
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// In-place updates. A reader never locks, so a Set over an existing key
// normally publishes a new node (one allocation). When V holds no pointers
// and is made of aligned 64-bit words (integers, floats, structs and arrays
// of them), the store instead rewrites the node's value and expiry under a
// per-node sequence lock: the writer (holding the shard's mutex) makes the
// sequence odd, stores the words atomically and makes it even again; a
// reader copies the words with atomic loads and retries if the sequence
// moved. No allocation, no relinking of the policy queues.

// maxInplaceWords bounds the values updated in place (larger ones are
// cheaper to replace than to copy word by word on every read).
const maxInplaceWords = 16

// inplaceWords returns how many 64-bit words V has if it can be updated in
// place, else 0.
func inplaceWords[V any]() int {
	t := reflect.TypeFor[V]()
	if t.Size() == 0 || t.Size()%8 != 0 || t.Align() != 8 || t.Size()/8 > maxInplaceWords || !pointerFree(t) {
		return 0
	}
	return int(t.Size() / 8)
}

func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// loadSeq copies n's value into *dst and returns the expiry that goes with
// it, a consistent pair even while a writer updates n.
func loadSeq[K comparable, V any](n *node[K, V], dst *V, words int) int64 {
	src := unsafe.Pointer(&n.value)
	for {
		s := n.vseq.Load()
		if s&1 != 0 {
			runtime.Gosched() // the writer holds the shard lock briefly
			continue
		}
		exp := n.expire.Load()
		for i := range words {
			*(*uint64)(unsafe.Add(unsafe.Pointer(dst), 8*i)) = atomic.LoadUint64((*uint64)(unsafe.Add(src, 8*i)))
		}
		if n.vseq.Load() == s {
			return exp
		}
	}
}

// storeSeq rewrites n's value and expiry; called under the shard's mutex.
func storeSeq[K comparable, V any](n *node[K, V], v *V, expire int64, words int) {
	dst := unsafe.Pointer(&n.value)
	n.vseq.Add(1)
	for i := range words {
		atomic.StoreUint64((*uint64)(unsafe.Add(dst, 8*i)), *(*uint64)(unsafe.Add(unsafe.Pointer(v), 8*i)))
	}
	n.expire.Store(expire)
	n.vseq.Add(1)
}
