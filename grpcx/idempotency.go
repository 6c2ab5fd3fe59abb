package grpcx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// IdempotencyKey is the incoming metadata key naming an idempotent call.
const IdempotencyKey = "idempotency-key"

// ReplayedKey is set to "true" in the response header of a replayed call.
const ReplayedKey = "idempotent-replayed"

// IdempotencyOptions configure Idempotency. The zero value (or nil) is
// valid.
type IdempotencyOptions struct {
	// TTL is how long a completed response is replayed (default 24h).
	TTL time.Duration
	// LockTTL bounds how long a key stays "in progress" (default 1m): a
	// duplicate arriving meanwhile gets codes.Aborted with a RetryInfo.
	// It must exceed the handler's run time (the handler's deadline, say),
	// or a duplicate may run after it expires.
	LockTTL time.Duration
	// Scope separates callers' keys (default: the peer host; return the
	// authenticated principal instead when there is one). The same key
	// from two scopes never meets.
	Scope func(ctx context.Context) string
	// Required answers InvalidArgument to calls without a key.
	Required bool
	// Prefix of store keys (default "grpcx:idem:").
	Prefix string
}

type idemEntry struct {
	Done        bool   `json:"done"`
	Fingerprint string `json:"fp"`
	Owner       string `json:"owner,omitempty"`
	Response    []byte `json:"resp,omitempty"` // anypb.Any, marshalled
}

// Idempotency is a unary server interceptor that runs each (scope,
// method, idempotency-key) once and replays its response to duplicates,
// on any cache driver.Store (memorycache, rediscache). The request is
// fingerprinted: the same key with a different request is refused
// (InvalidArgument). Only successful responses are stored; a failed call
// releases its key so that a retry runs again. A store error fails the
// call with Unavailable rather than risk running it twice.
func Idempotency(store driver.Store, opts *IdempotencyOptions) grpc.UnaryServerInterceptor {
	var o IdempotencyOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.LockTTL <= 0 {
		o.LockTTL = time.Minute
	}
	if o.Scope == nil {
		o.Scope = func(ctx context.Context) string { return peerHost(ctx) }
	}
	if o.Prefix == "" {
		o.Prefix = "grpcx:idem:"
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var key string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(IdempotencyKey); len(v) > 0 {
				key = v[0]
			}
		}
		if key == "" {
			if o.Required {
				return nil, status.Error(codes.InvalidArgument, "idempotency-key metadata required")
			}
			return handler(ctx, req)
		}
		if !validIdemKey(key) {
			return nil, status.Error(codes.InvalidArgument, "invalid idempotency-key (1–255 visible ASCII characters)")
		}
		msg, ok := req.(proto.Message)
		if !ok {
			return handler(ctx, req)
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			return nil, status.Error(codes.Internal, "internal error")
		}
		fp := sha256.Sum256(append([]byte(info.FullMethod+"\x00"), raw...))
		sk := sha256.Sum256([]byte(o.Scope(ctx) + "\x00" + info.FullMethod + "\x00" + key))
		skey := o.Prefix + hex.EncodeToString(sk[:])
		var owner [8]byte
		_, _ = rand.Read(owner[:])
		pending, _ := json.Marshal(idemEntry{Fingerprint: hex.EncodeToString(fp[:]), Owner: hex.EncodeToString(owner[:])})
		added, err := store.Add(ctx, skey, pending, o.LockTTL)
		if err != nil {
			return nil, status.Error(codes.Unavailable, "idempotency store unavailable")
		}
		if !added {
			return replay(ctx, store, skey, hex.EncodeToString(fp[:]))
		}
		resp, herr := handler(ctx, req)
		sctx := context.WithoutCancel(ctx)
		out, isMsg := resp.(proto.Message)
		if herr != nil || !isMsg {
			_ = store.Delete(sctx, skey)
			return resp, herr
		}
		a, err := anypb.New(out)
		if err == nil {
			var b []byte
			if b, err = proto.Marshal(a); err == nil {
				var done []byte
				done, _ = json.Marshal(idemEntry{Done: true, Fingerprint: hex.EncodeToString(fp[:]), Response: b})
				err = store.Set(sctx, skey, done, o.TTL)
			}
		}
		if err != nil {
			_ = store.Delete(sctx, skey)
		}
		return resp, nil
	}
}

func replay(ctx context.Context, store driver.Store, skey, fp string) (any, error) {
	raw, ok, err := store.Get(ctx, skey)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "idempotency store unavailable")
	}
	var e idemEntry
	if !ok || json.Unmarshal(raw, &e) != nil || !e.Done {
		return nil, abortedRetry("a call with this idempotency-key is in progress", time.Second)
	}
	if e.Fingerprint != fp {
		return nil, status.Error(codes.InvalidArgument, "idempotency-key reused with a different request")
	}
	var a anypb.Any
	if err := proto.Unmarshal(e.Response, &a); err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(ReplayedKey, "true"))
	return m, nil
}

// abortedRetry is codes.Aborted with a RetryInfo.
func abortedRetry(msg string, after time.Duration) error {
	st, _ := status.FromError(ResourceExhausted(msg, after))
	p := st.Proto()
	p.Code = int32(codes.Aborted)
	return status.FromProto(p).Err()
}

// validIdemKey accepts 1–255 visible ASCII characters.
func validIdemKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}
