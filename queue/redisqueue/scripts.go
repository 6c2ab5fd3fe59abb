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
//	B..'p'..P      stream of priority level P, one field per entry: '' ->
//	               blob (the blob starts with the message id); consumer
//	               group "g", whose PEL holds the leases (consumer "c")
//	               and the messages waiting for a retry (consumer "r")
//	B..'levels'    zset of the levels in use (score = level)
//	B..'vis'       the lease horizon H (ms): the longest visibility asked
//	               for; a lease of visibility v has its PEL delivery time
//	               set v-H ms in the past, so it is over once idle >= H
//	B..'scan'      exists for H/8 (10 ms to 1 s) after a Receive looked for
//	               expired leases
//	B..'retry'     zset handle -> retry time of a nacked message (in the PEL, consumer "r")
//	B..'gen'       hash "P:id" -> delivery count of entries delivered more
//	               than once (negative while waiting for a retry); absent = 1
//	B..'err'       hash "P:id" -> last handler error
//	B..'kid'       hash "P:id" -> ordering key of a keyed entry in a stream
//	B..'delay'     zset "<seq>|<rec>" -> due time of a delayed message
//	B..'k:'..KEY   list: '*' for the key's head (in a stream, the PEL or delay), then the recs waiting behind it
//	B..'queued'    counter of recs waiting in key lists
//	B..'live'      counter of entries in the streams (ready, leased, retrying)
//	B..'dlq'       dead-letter stream; B..'dlqi' hash message id -> dlq entry id
//
// A handle is "<level>:<stream id>:<deliveries>:<key>"; the PEL's own
// delivery counter of the entry equals <deliveries> while the lease lives.
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
-- blobid returns the message id at the start of a version 2 blob.
local function blobid(blob)
  local n, mul, i = 0, 1, 2
  while true do
    local c = string.byte(blob, i)
    i = i + 1
    if c < 128 then
      n = n + c * mul
      break
    end
    n = n + (c - 128) * mul
    mul = mul * 128
  end
  return string.sub(blob, i, i + n - 1)
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
    redis.call('XADD', s, '*', '', blob)
  else
    local sid = redis.call('XADD', s, '*', '', blob)
    redis.call('HSET', B .. 'kid', p .. ':' .. sid, key)
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
-- lastread returns the last id the group read from stream s.
local function lastread(s)
  local gs = redis.call('XINFO', 'GROUPS', s)
  for _, g in ipairs(gs) do
    local f = fields(g)
    if f['name'] == 'g' then return f['last-delivered-id'] end
  end
  return '0-0'
end
-- trim drops the acked prefix of level p's stream: every entry below the
-- first pending id (or, with none pending, up to the last id read) has
-- been delivered and acked. Unacked entries are never trimmed; '~' only
-- frees whole radix-tree nodes.
local function trim(B, p)
  local s = B .. 'p' .. p
  local pend = redis.call('XPENDING', s, 'g')
  local minid
  if pend[1] > 0 then
    minid = pend[2]
  else
    local ms, seq = string.match(lastread(s), '^(%d+)%-(%d+)$')
    if ms == '0' and seq == '0' then return end
    minid = ms .. '-' .. (tonumber(seq) + 1)
  end
  redis.call('XTRIM', s, 'MINID', '~', minid)
end
-- settle removes one leased, retrying or lost entry for good.
local function settle(B, p, id, key, now)
  local f = p .. ':' .. id
  redis.call('XACK', B .. 'p' .. p, 'g', id)
  redis.call('HDEL', B .. 'err', f)
  redis.call('HDEL', B .. 'gen', f)
  redis.call('DECR', B .. 'live')
  if key ~= '' then
    redis.call('HDEL', B .. 'kid', f)
    advance(B, key, now)
  end
  trim(B, p)
end
local function subbase(name)
  return T .. 's' .. #name .. ':' .. name .. ':'
end
-- horizon returns the lease horizon H of B, raised to vis if needed.
local function horizon(B, vis)
  local h = tonumber(redis.call('GET', B .. 'vis'))
  if not h or vis > h then
    redis.call('SET', B .. 'vis', vis)
    return vis
  end
  return h
end
-- leased reports whether entry id of level p is leased (consumer "c")
-- with delivery count n: the lease of a handle with that count lives.
local function leased(B, p, id, n)
  local pe = redis.call('XPENDING', B .. 'p' .. p, 'g', id, id, 1)[1]
  return pe ~= nil and pe[2] == 'c' and tonumber(pe[4]) == n
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

// publishScript: ARGV[1] = dedup window (ms), ARGV[2] = mode. Mode "f"
// (a batch of messages without dedup id, key or delay, all of priority
// ARGV[3]): then one blob per message, appended with one XADD per
// message and subscription and nothing else. Mode "g": six per
// message: dedup id, message id, key, priority, delay (ms), blob.
var publishScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local subs = redis.call('SMEMBERS', T .. 'subs')
local bases = {}
for i, name in ipairs(subs) do bases[i] = subbase(name) end
local win = ARGV[1]
local stored = 0
if ARGV[2] == 'f' then
  local p = tonumber(ARGV[3])
  local n = #ARGV - 3
  for _, B in ipairs(bases) do
    local s = B .. 'p' .. p
    if redis.call('ZADD', B .. 'levels', 'NX', p, p) == 1 then
      redis.pcall('XGROUP', 'CREATE', s, 'g', '0', 'MKSTREAM')
    end
    for o = 4, #ARGV do redis.call('XADD', s, '*', '', ARGV[o]) end
    redis.call('INCRBY', B .. 'live', n)
  end
  return n
end
for o = 3, #ARGV, 6 do
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
// due delayed messages into their streams, claims due retries and expired
// leases (XCLAIM without JUSTID, so the PEL's delivery counter rises),
// then reads new entries level by level, highest first, with one
// XREADGROUP COUNT per level. Nothing is written per message on the way:
// a lease is the entry's place in the PEL of consumer "c". Reply: false
// when the subscription does not exist, else {level, count, groups...}:
// when level is not "" the caller reads up to count new entries of that
// level itself with XREADGROUP (the common case: one level, every lease
// of the full horizon), and each group is {level, deliveries, last error,
// entries}, entries as XREADGROUP returns them.
var receiveScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[3]) == 0 then return false end
local now = now_ms()
local max, vis = tonumber(ARGV[1]), tonumber(ARGV[2])
local H = horizon(B, vis)
local back = H - vis
local due = redis.call('ZRANGEBYSCORE', B .. 'delay', '-inf', now, 'LIMIT', 0, 512)
for _, m in ipairs(due) do
  redis.call('ZREM', B .. 'delay', m)
  local p, nb, id, key, blob = parserec(string.sub(m, string.find(m, '|', 1, true) + 1))
  place(B, p, now, id, key, blob, now)
end
local out, n = {'', 0}, 0
-- claim moves entry id of level p to consumer "c" as delivery cnt + 1,
-- or settles it when it vanished from the stream while pending (Redis 7
-- then drops it from the PEL, as XAUTOCLAIM's third reply element
-- reports).
local function claim(p, id, cnt, key, minidle)
  local s = B .. 'p' .. p
  local got
  if back > 0 then
    got = redis.call('XCLAIM', s, 'g', 'c', minidle, id, 'IDLE', back)
  else
    got = redis.call('XCLAIM', s, 'g', 'c', minidle, id)
  end
  local e = got[1]
  local f = p .. ':' .. id
  if e and type(e[2]) == 'table' then
    redis.call('HSET', B .. 'gen', f, cnt + 1)
    out[#out + 1] = {p, cnt + 1, redis.call('HGET', B .. 'err', f) or '', got}
    n = n + 1
  else
    if key == nil then key = redis.call('HGET', B .. 'kid', f) or '' end
    settle(B, p, id, key, now)
    redis.call('INCR', B .. 'lost')
  end
end
local hs = redis.call('ZRANGEBYSCORE', B .. 'retry', '-inf', now, 'LIMIT', 0, max)
for _, h in ipairs(hs) do
  redis.call('ZREM', B .. 'retry', h)
  local p, id, cnt, key = parseh(h)
  -- Only an entry still waiting under consumer "r" (an entry settled
  -- since, or leased under the earlier layout, is left alone).
  local pe = redis.call('XPENDING', B .. 'p' .. p, 'g', id, id, 1)[1]
  if pe and pe[2] == 'r' then claim(p, id, cnt, key, 0) end
end
local levels = redis.call('ZREVRANGE', B .. 'levels', 0, -1)
-- Looking for expired leases walks the PEL of consumer "c": at most once
-- per H/8 (10 ms to 1 s) per subscription, whoever receives.
local scan = n < max and redis.call('SET', B .. 'scan', '1', 'NX', 'PX', math.max(10, math.min(1000, math.floor(H / 8))))
for _, p in ipairs(levels) do
  if not scan or n >= max then break end
  local pend = redis.call('XPENDING', B .. 'p' .. p, 'g', 'IDLE', H, '-', '+', max - n, 'c')
  for _, pe in ipairs(pend) do claim(p, pe[1], tonumber(pe[4]), nil, H) end
end
-- One level and leases of the full horizon: the caller reads the new
-- entries itself with XREADGROUP (no Lua on the way), told by the first
-- two reply elements.
local direct = ''
if n < max and #levels == 1 and back == 0 then
  direct = levels[1]
else
  for _, p in ipairs(levels) do
    local want = max - n
    if want <= 0 then break end
    local s = B .. 'p' .. p
    local r = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', want, 'STREAMS', s, '>')
    if r then
      local es = r[1][2]
      if #es > 0 then
        if back > 0 then
          local args = {s, 'g', 'c', 0}
          for _, e in ipairs(es) do args[#args + 1] = e[1] end
          args[#args + 1] = 'IDLE'
          args[#args + 1] = back
          args[#args + 1] = 'JUSTID'
          redis.call('XCLAIM', unpack(args))
        end
        out[#out + 1] = {p, 1, '', es}
        n = n + #es
      end
    end
  end
end
out[1], out[2] = direct, max - n
flush()
return out
`)

// ackScript: ARGV[1] = how many fast groups follow; a fast group is
// level, k, then k stream ids of keyless first deliveries; then four per
// other handle: level, stream id, deliveries, key. A handle is settled
// when its count is the entry's current one (B..'gen', read only while
// some entry was delivered more than once): each fast group with one
// XACK, keyed handles one by one (their key moves on only if the XACK
// did something). Reply: how many were acked.
var ackScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local now = now_ms()
local regen = redis.call('HLEN', B .. 'gen') > 0
local acked, touched = 0, {}
local o = 2
for _ = 1, tonumber(ARGV[1]) do
  local p, k = ARGV[o], tonumber(ARGV[o + 1])
  local a, b = o + 2, o + 1 + k
  o = b + 1
  local s = B .. 'p' .. p
  if regen then
    local fs, ids = {}, {}
    for i = a, b do fs[#fs + 1] = p .. ':' .. ARGV[i] end
    local gens = redis.call('HMGET', B .. 'gen', unpack(fs))
    for i = a, b do
      if not gens[i - a + 1] then ids[#ids + 1] = ARGV[i] end
    end
    if #ids > 0 then acked = acked + redis.call('XACK', s, 'g', unpack(ids)) end
  else
    acked = acked + redis.call('XACK', s, 'g', unpack(ARGV, a, b))
  end
  touched[p] = true
end
local gens
if regen and o <= #ARGV then
  local fs = {}
  for i = o, #ARGV, 4 do fs[#fs + 1] = ARGV[i] .. ':' .. ARGV[i + 1] end
  gens = redis.call('HMGET', B .. 'gen', unpack(fs))
end
local redo = {}
for i = o, #ARGV, 4 do
  local p, id, cnt, key = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local want = 1
  if gens then
    local g = gens[(i - o) / 4 + 1]
    if g then want = tonumber(g) end
  end
  if cnt == want and redis.call('XACK', B .. 'p' .. p, 'g', id) == 1 then
    acked = acked + 1
    touched[p] = true
    if cnt > 1 then redo[#redo + 1] = p .. ':' .. id end
    if key ~= '' then
      redis.call('HDEL', B .. 'kid', p .. ':' .. id)
      advance(B, key, now)
    end
  end
end
if #redo > 0 then
  redis.call('HDEL', B .. 'gen', unpack(redo))
  redis.call('HDEL', B .. 'err', unpack(redo))
end
if acked > 0 then redis.call('DECRBY', B .. 'live', acked) end
for p in pairs(touched) do trim(B, p) end
flush()
return acked
`)

// extendScript: ARGV = level, stream id, deliveries, key, visibility
// (ms). The heartbeat is XCLAIM ... IDLE JUSTID to the same consumer: it
// resets the entry's idle time without raising its delivery count. Reply:
// 1, or 0 when the lease is over.
var extendScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local p, id, cnt, key, vis = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if not leased(B, p, id, cnt) then return 0 end
local H = horizon(B, vis)
local got = redis.call('XCLAIM', B .. 'p' .. p, 'g', 'c', 0, id, 'IDLE', H - vis, 'JUSTID')
if #got == 0 then
  -- The entry vanished from the stream; XCLAIM dropped it from the PEL.
  settle(B, p, id, key, now_ms())
  redis.call('INCR', B .. 'lost')
  flush()
  return 0
end
return 1
`)

// nackScript: ARGV = level, stream id, deliveries, key, action (retry,
// dead, drop), delay (ms), reason, error. A retried entry stays in the
// PEL, moved to consumer "r" with XCLAIM JUSTID (which keeps its delivery
// count) so that no lease reclaim takes it before its retry time. Reply:
// 1, or 0 when the lease is over.
var nackScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
local now = now_ms()
local p, id, cnt, key = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if not leased(B, p, id, cnt) then return 0 end
local s = B .. 'p' .. p
local f = p .. ':' .. id
local act = ARGV[5]
if act == 'retry' then
  local got = redis.call('XCLAIM', s, 'g', 'r', 0, id, 'JUSTID')
  if #got > 0 then
    redis.call('ZADD', B .. 'retry', now + tonumber(ARGV[6]), p .. ':' .. id .. ':' .. cnt .. ':' .. key)
    redis.call('HSET', B .. 'err', f, ARGV[8])
    redis.call('HSET', B .. 'gen', f, -cnt)
    return 1
  end
  act = 'lost'
  redis.call('INCR', B .. 'lost')
end
if act == 'dead' then
  local e = redis.call('XRANGE', s, id, id)[1]
  if e then
    local fl = e[2]
    local dl, mid = B .. 'dlq', nil
    if fl[1] == 'm' then mid = fl[4] else mid = blobid(fl[2]) end
    local old = redis.call('HGET', dl .. 'i', mid)
    if old then redis.call('XDEL', dl, old) end
    local sid = redis.call('XADD', dl, '*', 'm', fl[2], 'i', mid, 'k', key, 'p', p, 'n', cnt,
      'r', ARGV[7], 'e', ARGV[8], 't', now)
    redis.call('HSET', dl .. 'i', mid, sid)
  end
end
settle(B, p, id, key, now)
flush()
return 1
`)

// statsScript: ARGV[1] = subscription name. Reply: false for an unknown
// subscription, else {backlog, in flight, dead letters, blob...} where the
// blobs are the oldest pending and oldest undelivered entry of each
// stream and the first delayed message (for the oldest publish time). In
// flight counts the PEL entries of consumer "c".
var statsScript = redis.NewScript(luaPrelude + `
local B = KEYS[2]
if redis.call('SISMEMBER', T .. 'subs', ARGV[1]) == 0 then return false end
local backlog = redis.call('ZCARD', B .. 'delay') + tonumber(redis.call('GET', B .. 'queued') or '0') +
  tonumber(redis.call('GET', B .. 'live') or '0')
local out = {backlog, 0, redis.call('XLEN', B .. 'dlq')}
for _, p in ipairs(redis.call('ZRANGE', B .. 'levels', 0, -1)) do
  local s = B .. 'p' .. p
  local pend = redis.call('XPENDING', s, 'g')
  if pend[1] > 0 then
    for _, c in ipairs(pend[4]) do
      if c[1] == 'c' then out[2] = out[2] + tonumber(c[2]) end
    end
    local e = redis.call('XRANGE', s, pend[2], pend[2])[1]
    if e then out[#out + 1] = e[2][2] end
  end
  local e = redis.call('XRANGE', s, '(' .. lastread(s), '+', 'COUNT', 1)[1]
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
