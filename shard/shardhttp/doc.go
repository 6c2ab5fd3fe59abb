// Package shardhttp carries a shard read-your-writes session token
// (shard.Token) across HTTP hops, in a response/request header or a cookie,
// so that a user's next request served by another process still reads its
// own writes. It depends only on net/http.
package shardhttp
