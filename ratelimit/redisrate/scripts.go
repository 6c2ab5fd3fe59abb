package redisrate

// The scripts work in whole microseconds with Lua numbers (doubles), which
// are exact for integers below 2^53: Unix microseconds (~1.8e15) and every
// product the scripts form (Burst·Period, Rate·Period, counts·Period, in
// µs) stay far below it for the limits NewDriver accepts.
//
// Every script takes one key and
//
//	ARGV[1] n      units requested (1 ≤ n ≤ capacity, checked by the caller)
//	ARGV[2] now    Unix µs to decide at, or -1 for the server clock (TIME)
//	ARGV[3] rate   Limit.Rate
//	ARGV[4] period Limit.Period in µs
//	ARGV[5] burst  Limit.Burst (bucket algorithms)
//	ARGV[6] t      emission interval Period/Rate in µs, rounded up
//	ARGV[7] slack  ms added to every key's expiry (Options.ExpirySlack)
//
// and returns {allowed (0/1), remaining, retry-after µs, reset-after µs,
// delay µs}. A key's expiry is set to its reset-after (plus the slack):
// when it expires the state it held was already equivalent to a fresh key,
// so expiry reclaims memory without changing any decision. That holds when
// decision time runs at the server's pace; an injected clock that runs
// slower (a fake clock) needs a slack longer than the test.

// prelude reads the arguments and the time, and defines exact integer
// helpers and the expiry/number-formatting helpers.
const prelude = `
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local T = tonumber(ARGV[6])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b)
  if a <= 0 then return 0 end
  return fdiv(a + b - 1, b)
end
local function num(x) return string.format('%.0f', x) end
local slack = tonumber(ARGV[7])
local function expire(us)
  redis.call('PEXPIRE', KEYS[1], num(cdiv(us, 1000) + 1 + slack))
end
`

// gcraScript is GCRA (virtual scheduling) on a single timestamp, the
// theoretical arrival time (TAT); the leaky bucket as a queue runs the same
// script (its paced delay is the old TAT minus now). It is the hot path of
// most deployments, so it stands alone, without the prelude's helpers:
// three commands (TIME, GET, SET) and plain arithmetic, and it returns only
// {allowed, reset-after µs} (the TAT minus now after the decision), from
// which the driver derives the rest exactly. The TAT is written as a Lua
// number; Redis formats it with enough digits to read it back exactly.
const gcraScript = `
local now = tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local T = tonumber(ARGV[6])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local newTat = tat + tonumber(ARGV[1]) * T
if newTat - tonumber(ARGV[5]) * T > now then
  return {0, tat - now}
end
redis.call('SET', KEYS[1], newTat, 'PX', math.floor((newTat - now) / 1000) + 2 + tonumber(ARGV[7]))
return {1, newTat - now}
`

// tokenBucketBody keeps tokens as an exact integer count of 1/Period units
// (field c) refilled at Rate per µs since field t.
const tokenBucketBody = `
local full = burst * period
local h = redis.call('HMGET', KEYS[1], 't', 'c')
local last, cur = tonumber(h[1]), tonumber(h[2])
if last == nil or cur == nil then
  last, cur = now, full
elseif now > last then
  if now - last >= cdiv(full - cur, rate) then cur = full else cur = cur + (now - last) * rate end
  last = now
end
local want = n * period
if cur < want then
  return {0, fdiv(cur, period), cdiv(want - cur, rate), cdiv(full - cur, rate), 0}
end
cur = cur - want
local reset = cdiv(full - cur, rate)
redis.call('HSET', KEYS[1], 't', num(last), 'c', num(cur))
expire(reset)
return {1, fdiv(cur, period), 0, reset, 0}
`

// fixedWindowBody counts units (field c) in the aligned window w.
const fixedWindowBody = `
local idx = fdiv(now, period)
local h = redis.call('HMGET', KEYS[1], 'w', 'c')
local w, c = tonumber(h[1]), tonumber(h[2])
if w == nil or c == nil or idx > w then w, c = idx, 0 end
local left = (w + 1) * period - now
if c + n > rate then
  return {0, rate - c, left, left, 0}
end
c = c + n
redis.call('HSET', KEYS[1], 'w', num(w), 'c', num(c))
expire(left)
return {1, rate - c, 0, left, 0}
`

// slidingWindowBody is the sliding-window counter: window w's count c and
// the previous window's count p; admitted iff ceil(p·(P-e)/P) + c + n ≤ R.
const slidingWindowBody = `
local idx = fdiv(now, period)
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w, c, p = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
if w == nil or c == nil or p == nil or idx >= w + 2 then
  w, c, p = idx, 0, 0
elseif idx == w + 1 then
  w, p, c = idx, c, 0
end
local e = now - w * period
if e < 0 then e = 0 end
local weight = cdiv(p * (period - e), period)
local function reset()
  if c > 0 then return 2 * period - e end
  if p > 0 then return period - e end
  return 0
end
if weight + c + n > rate then
  local retry
  local m = rate - c - n
  if m >= 0 then
    retry = period - fdiv(m * period, p) - e
  else
    local e2 = 0
    if c > 0 then e2 = period - fdiv((rate - n) * period, c) end
    retry = period - e + e2
  end
  return {0, math.max(0, rate - c - weight), retry, reset(), 0}
end
c = c + n
redis.call('HSET', KEYS[1], 'w', num(w), 'c', num(c), 'p', num(p))
local r = reset()
expire(r)
return {1, math.max(0, rate - c - weight), 0, r, 0}
`

// slidingLogBody keeps the admitted requests in a sorted set scored by
// time, members "time:units"; requests at one instant are merged so there
// are never more than Rate members.
const slidingLogBody = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now - period))
local es = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local ts, ns, sum = {}, {}, 0
for i = 1, #es, 2 do
  local k = tonumber(string.match(es[i], ':(%d+)$'))
  ts[#ts + 1] = tonumber(es[i + 1])
  ns[#ns + 1] = k
  sum = sum + k
end
if sum + n > rate then
  local need, retry = sum + n - rate, 0
  for i = 1, #ts do
    need = need - ns[i]
    if need <= 0 then retry = ts[i] + period - now break end
  end
  return {0, rate - sum, retry, ts[#ts] + period - now, 0}
end
local newest = now
if #ts > 0 and ts[#ts] >= now then
  newest = ts[#ts]
  redis.call('ZREM', KEYS[1], num(newest) .. ':' .. num(ns[#ns]))
  redis.call('ZADD', KEYS[1], num(newest), num(newest) .. ':' .. num(ns[#ns] + n))
else
  redis.call('ZADD', KEYS[1], num(now), num(now) .. ':' .. num(n))
end
sum = sum + n
local reset = newest + period - now
expire(reset)
return {1, rate - sum, 0, reset, 0}
`
