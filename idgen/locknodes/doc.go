// Package locknodes leases Snowflake node ids through package lock: it is
// an idgen/driver.NodeIDs implemented on any lock/driver.Locker (memlock,
// redislock, pglock, etcdlock, Redlock), so that a service that already
// runs a lock backend needs no separate node-id store.
//
// Node id n of namespace ns is the lock key "<prefix><ns>/<n>". Acquire
// tries the ids from a random starting point and takes the first free one;
// idgen.AcquireNode renews the lease in the background, and a Snowflake
// bound to it stops issuing IDs with idgen.ErrNodeLeaseLost as soon as the
// lease is lost (the lock engine refused a renewal, or renewals failed
// until the lease could have expired).
//
//	d, err := redislock.New(rdb, nil)
//	nodes, err := locknodes.New(d, nil)
//	lease, err := idgen.AcquireNode(ctx, nodes, "orders", idgen.TwitterLayout.MaxNode(), nil)
//	g, err := idgen.NewSnowflake(lease.ID(), &idgen.SnowflakeOptions{Lease: lease})
package locknodes
