package redisqueue

import "github.com/redis/go-redis/v9"

// Every script takes KEYS[1] = the topic's base "<prefix>{<topic>}:" and,
// except publish, KEYS[2] = the subscription's base
// "<prefix>{<topic>}:s<len>:<sub>:". Every other key a script touches is
// built from those bases, so it shares their hash slot (the topic in
// braces is the hash tag) and the scripts run on a Cluster.
//
// Per subscription B:
//
//	B..'p'..P      stream of priority level P, consumer group "g", consumer "c"
//	B..'levels'    zset of the levels in use (score = level)
//	B..'lease'     zset handle -> lease deadline (ms, engine clock)
//	B..'retry'     zset handle -> retry time of a nacked message (still in the PEL)
//	B..'err'       hash stream id -> last handler error
//	B..'delay'     zset "<seq>|<rec>" -> due time of a delayed message
//	B..'k:'..KEY   list: '*' for the key's head (in a stream, the PEL or delay), then the recs waiting behind it
//	B..'queued'    counter of recs waiting in key lists
//	B..'dlq'       dead-letter stream; B..'dlqi' hash message id -> dlq entry id
//
// A handle is "<level>:<stream id>:<deliveries>:<key>".
const luaPrelude = `
local T = KEYS[1]
local unpack = unpack or table.unpack
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function mkrec(p, nb, id, key, blob)
  return p .. '|' .. nb .. '|' .. #id .. '|' .. #key .. '|' .. id .. key .. blob
end
local function parserec(rec)
  local p, nb, il, kl, s = string.match(rec, '^(-?%d+)|(-?%d+)|(%d+)|(%d+)|()')
  il, kl = tonumber(il), tonumber(kl)
  return tonumber(p), tonumber(nb), string.sub(rec, s, s + il - 1), string.sub(rec, s + il, s + il + kl - 1), string.sub(rec, s + il + kl)
end
local function parseh(h)
  local p, id, n, key = string.match(h, '^(-?%d+):(%d+%-%d+):(%d+):(.*)$')
  return p, id, tonumber(n), key
end
local function fields(f)
  local r = {}
  for i = 1, #f, 2 do r[f[i]] = f[i + 1] end
  return r
end
-- Entries appended per subscription base, added to B..'live' by flush.
local added = {}
local levelok = {}
local function flush()
  for B, n in pairs(added) do redis.call('INCRBY', B .. 'live', n) end
end
-- place puts a message that is the head of its key (or keyless) where
-- Receive finds it: the delay zset when it is not due, else its stream.
local function place(B, p, nb, id, key, blob, now)
  if nb > now then
    local seq = redis.call('INCR', B .. 'seq')
    redis.call('ZADD', B .. 'delay', nb, seq .. '|' .. mkrec(p, nb, id, key, blob))
    return
  end
  local s = B .. 'p' .. p
  if not levelok[s] then
    if redis.call('ZADD', B .. 'levels', 'NX', p, p) == 1 then
      redis.pcall('XGROUP', 'CREATE', s, 'g', '0', 'MKSTREAM')
    end
    levelok[s] = true
  end
  if key == '' then
    redis.call('XADD', s, '*', 'm', blob, 'i', id)
  else
    redis.call('XADD', s, '*', 'm', blob, 'i', id, 'k', key)
  end
  added[B] = (added[B] or 0) + 1
end
-- enqueue adds a new message to B: behind the live messages of its key.
local function enqueue(B, p, nb, id, key, blob, now)
  if key == '' then
    place(B, p, nb, id, key, blob, now)
    return
  end
  local kl = B .. 'k:' .. key
  if redis.call('LLEN', kl) == 0 then
    redis.call('RPUSH', kl, '*')
    place(B, p, nb, id, key, blob, now)
  else
    redis.call('RPUSH', kl, mkrec(p, nb, id, key, blob))
    redis.call('INCR', B .. 'queued')
  end
end
-- advance settles the head of key and places the next message of the key.
local function advance(B, key, now)
  local kl = B .. 'k:' .. key
  redis.call('LPOP', kl)
  local nxt = redis.call('LINDEX', kl, 0)
  if nxt then
    redis.call('DECR', B .. 'queued')
    redis.call('LSET', kl, 0, '*')
    local p, nb, id, k, blob = parserec(nxt)
    place(B, p, nb, id, k, blob, now)
  end
end
-- trim drops the acked prefix of level p's stream: every entry below both
-- the first pending id and the last delivered id (kept in B..'ld'..p by
-- Receive) has been delivered and acked. Unacked entries are never
-- trimmed; '~' only frees whole radix-tree nodes.
local function trim(B, p)
  local s = B .. 'p' .. p
  local ld = redis.call('GET', B .. 'ld' .. p)
  if not ld then return end
  local pend = redis.call('XPENDING', s, 'g')
  local minid
  if pend[1] > 0 then
    minid = pend[2]
  else
    local ms, seq = string.match(ld, '^(%d+)%-(%d+)$')
    minid = ms .. '-' .. (tonumber(seq) + 1)
  end
  redis.call('XTRIM', s, 'MINID', '~', minid)
end
-- settle removes one leased or lost message for good.
local function settle(B, h, p, id, key, now)
  redis.call('ZREM', B .. 'lease', h)
  redis.call('XACK', B .. 'p' .. p, 'g', id)
  redis.call('HDEL', B .. 'err', id)
  redis.call('DECR', B .. 'live')
  if key ~= '' then advance(B, key, now) end
  trim(B, p)
end
local function subbase(name)
  return T .. 's' .. #name .. ':' .. name .. ':'
end
local function live(B, h, now)
  local sc = redis.call('ZSCORE', B .. 'lease', h)
  return sc and tonumber(sc) > now
end
`

// subscribeScript: ARGV[1] = subscription name.
var subscribeScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
redis.call('SADD', T .. 'subs', ARGV[1])
if redis.call('ZADD', B .. 'levels', 'NX', 0, 0) == 1 then
  redis.pcall('XGROUP', 'CREATE', B .. 'p0', 'g', '0', 'MKSTREAM')
end
return 1
`)

// publishScript: ARGV[1] = dedup window (ms), then six per message:
// dedup id, message id, key, priority, delay (ms), blob.
var publishScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local subs = redis.call('SMEMBERS', T .. 'subs')
local bases = {}
for i, name in ipairs(subs) do bases[i] = subbase(name) end
local win = ARGV[1]
local stored = 0
for o = 2, #ARGV, 6 do
  local dedup = ARGV[o]
  if dedup == '' or redis.call('SET', T .. 'd:' .. dedup, '1', 'NX', 'PX', win) then
    local id, key, p, nb, blob = ARGV[o + 1], ARGV[o + 2], tonumber(ARGV[o + 3]), now + tonumber(ARGV[o + 4]), ARGV[o + 5]
    for _, B in ipairs(bases) do enqueue(B, p, nb, id, key, blob, now) end
    stored = stored + 1
  end
end
flush()
return stored
`)

// receiveScript: ARGV = max, visibility (ms), subscription name. It moves
// due delayed messages into their streams, claims expired leases and due
// retries (XCLAIM without JUSTID, so the PEL's delivery counter rises),
// then reads new entries level by level, highest first. Reply: false when
// the subscription does not exist, else a list of {handle, blob, last
// error, message id}.
var receiveScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[3]) == 0 then return false end
local now = now_ms()
local max, vis = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', B .. 'delay', '-inf', now, 'LIMIT', 0, 512)
for _, m in ipairs(due) do
  redis.call('ZREM', B .. 'delay', m)
  local p, nb, id, key, blob = parserec(string.sub(m, string.find(m, '|', 1, true) + 1))
  place(B, p, now, id, key, blob, now)
end
local out = {}
local function reclaim(z)
  if #out >= max then return end
  local hs = redis.call('ZRANGEBYSCORE', B .. z, '-inf', now, 'LIMIT', 0, max - #out)
  for _, h in ipairs(hs) do
    redis.call('ZREM', B .. z, h)
    local p, id, n, key = parseh(h)
    local got = redis.call('XCLAIM', B .. 'p' .. p, 'g', 'c', 0, id)
    local e = got[1]
    if e and type(e[2]) == 'table' then
      local f = e[2]
      local nh = p .. ':' .. id .. ':' .. (n + 1) .. ':' .. key
      redis.call('ZADD', B .. 'lease', now + vis, nh)
      out[#out + 1] = {nh, f[2], redis.call('HGET', B .. 'err', id) or '', f[4]}
    else
      -- The entry vanished from the stream (XDEL or a trim by someone
      -- else) while pending: Redis 7 drops it from the PEL on XCLAIM
      -- (XAUTOCLAIM reports such ids in its third reply element).
      settle(B, h, p, id, key, now)
      redis.call('INCR', B .. 'lost')
    end
  end
end
reclaim('lease')
reclaim('retry')
if #out < max then
  local levels = redis.call('ZREVRANGE', B .. 'levels', 0, -1)
  local dl = now + vis
  for _, p in ipairs(levels) do
    local want = max - #out
    if want <= 0 then break end
    local r = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', want, 'STREAMS', B .. 'p' .. p, '>')
    if r then
      local es = r[1][2]
      local z = {}
      for _, e in ipairs(es) do
        local f = e[2]
        local h = p .. ':' .. e[1] .. ':1:' .. (f[6] or '')
        z[#z + 1] = dl
        z[#z + 1] = h
        out[#out + 1] = {h, f[2], '', f[4]}
      end
      if #z > 0 then
        redis.call('ZADD', B .. 'lease', unpack(z))
        redis.call('SET', B .. 'ld' .. p, es[#es][1])
      end
    end
  end
end
flush()
return out
`)

// ackScript: ARGV = handles. It settles the live ones with one ZREM,
// one XACK per level and trims the acked prefix. Reply: how many were
// live.
var ackScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local now = now_ms()
local sc = redis.call('ZMSCORE', B .. 'lease', unpack(ARGV))
local hs, levels, errs, keys, seen = {}, {}, {}, {}, {}
for i, h in ipairs(ARGV) do
  local s = sc[i]
  if s and not seen[h] and tonumber(s) > now then
    seen[h] = true
    local p, id, n, key = parseh(h)
    hs[#hs + 1] = h
    local l = levels[p]
    if not l then l = {}; levels[p] = l end
    l[#l + 1] = id
    if n > 1 then errs[#errs + 1] = id end
    if key ~= '' then keys[#keys + 1] = key end
  end
end
if #hs == 0 then return 0 end
redis.call('ZREM', B .. 'lease', unpack(hs))
if #errs > 0 then redis.call('HDEL', B .. 'err', unpack(errs)) end
redis.call('DECRBY', B .. 'live', #hs)
for _, key in ipairs(keys) do advance(B, key, now) end
for p, ids in pairs(levels) do
  redis.call('XACK', B .. 'p' .. p, 'g', unpack(ids))
  trim(B, p)
end
flush()
return #hs
`)

// extendScript: ARGV = handle, visibility (ms). Reply: 1, or 0 when the
// lease is over.
var extendScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local now = now_ms()
if not live(B, ARGV[1], now) then return 0 end
redis.call('ZADD', B .. 'lease', 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
`)

// nackScript: ARGV = handle, action (retry, dead, drop), delay (ms),
// reason, error. Reply: 1, or 0 when the lease is over.
var nackScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local now = now_ms()
local h = ARGV[1]
if not live(B, h, now) then return 0 end
local p, id, n, key = parseh(h)
local act = ARGV[2]
if act == 'retry' then
  redis.call('ZREM', B .. 'lease', h)
  redis.call('ZADD', B .. 'retry', now + tonumber(ARGV[3]), h)
  redis.call('HSET', B .. 'err', id, ARGV[5])
  return 1
end
if act == 'dead' then
  local e = redis.call('XRANGE', B .. 'p' .. p, id, id)[1]
  if e then
    local f = e[2]
    local dl, mid = B .. 'dlq', f[4]
    local old = redis.call('HGET', dl .. 'i', mid)
    if old then redis.call('XDEL', dl, old) end
    local sid = redis.call('XADD', dl, '*', 'm', f[2], 'i', mid, 'k', key, 'p', p, 'n', n,
      'r', ARGV[4], 'e', ARGV[5], 't', now)
    redis.call('HSET', dl .. 'i', mid, sid)
  end
end
settle(B, h, p, id, key, now)
flush()
return 1
`)

// statsScript: ARGV[1] = subscription name. Reply: false for an unknown
// subscription, else {backlog, in flight, dead letters, blob...} where the
// blobs are the oldest pending and oldest undelivered entry of each
// stream and the first delayed message (for the oldest publish time).
var statsScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return false end
local now = now_ms()
local backlog = redis.call('ZCARD', B .. 'delay') + tonumber(redis.call('GET', B .. 'queued') or '0') +
  tonumber(redis.call('GET', B .. 'live') or '0')
local out = {backlog, redis.call('ZCOUNT', B .. 'lease', '(' .. now, '+inf'), redis.call('XLEN', B .. 'dlq')}
for _, p in ipairs(redis.call('ZRANGE', B .. 'levels', 0, -1)) do
  local s = B .. 'p' .. p
  local pend = redis.call('XPENDING', s, 'g')
  if pend[1] > 0 then
    local e = redis.call('XRANGE', s, pend[2], pend[2])[1]
    if e then out[#out + 1] = e[2][2] end
  end
  local ld = redis.call('GET', B .. 'ld' .. p)
  local e = redis.call('XRANGE', s, ld and ('(' .. ld) or '-', '+', 'COUNT', 1)[1]
  if e then out[#out + 1] = e[2][2] end
end
local d = redis.call('ZRANGE', B .. 'delay', 0, 0)[1]
if d then
  local _, _, _, _, blob = parserec(string.sub(d, string.find(d, '|', 1, true) + 1))
  out[#out + 1] = blob
end
return out
`)

// deadListScript: ARGV = subscription name, after (message id or ”),
// limit. Reply: false for an unknown subscription, else dlq entries.
var deadListScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return false end
local dl = B .. 'dlq'
local start = '-'
if ARGV[2] ~= '' then
  local sid = redis.call('HGET', dl .. 'i', ARGV[2])
  if sid then start = '(' .. sid end
end
return redis.call('XRANGE', dl, start, '+', 'COUNT', tonumber(ARGV[3]))
`)

// deadGetScript: ARGV = subscription name, message id. Reply: false for
// an unknown subscription, {} for an unknown id, else {entry}.
var deadGetScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return false end
local sid = redis.call('HGET', B .. 'dlqi', ARGV[2])
if not sid then return {} end
return redis.call('XRANGE', B .. 'dlq', sid, sid)
`)

// redriveScript: ARGV = subscription name, message ids. Reply: -1 for an
// unknown subscription, else how many moved.
var redriveScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return -1 end
local now = now_ms()
local dl = B .. 'dlq'
local n = 0
for i = 2, #ARGV do
  local sid = redis.call('HGET', dl .. 'i', ARGV[i])
  if sid then
    local e = redis.call('XRANGE', dl, sid, sid)[1]
    redis.call('XDEL', dl, sid)
    redis.call('HDEL', dl .. 'i', ARGV[i])
    if e then
      local f = fields(e[2])
      enqueue(B, tonumber(f['p']), now, f['i'], f['k'], f['m'], now)
      n = n + 1
    end
  end
end
flush()
return n
`)

// purgeScript: ARGV = subscription name, "all" or "ids", message ids.
// Reply: -1 for an unknown subscription, else how many were deleted.
var purgeScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return -1 end
local dl = B .. 'dlq'
if ARGV[2] == 'all' then
  local n = redis.call('XLEN', dl)
  redis.call('DEL', dl, dl .. 'i')
  return n
end
local n = 0
for i = 3, #ARGV do
  local sid = redis.call('HGET', dl .. 'i', ARGV[i])
  if sid then
    n = n + redis.call('XDEL', dl, sid)
    redis.call('HDEL', dl .. 'i', ARGV[i])
  end
end
return n
`)
