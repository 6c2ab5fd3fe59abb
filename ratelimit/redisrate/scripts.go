package redisrate

// The scripts work in whole microseconds with Lua numbers (doubles), which
// are exact for integers below 2^53: Unix microseconds (~1.8e15) and every
// product the scripts form (Burst·Period, Rate·Period, counts·Period, in
// µs, and Burst·Rate) stay far below it for the limits New accepts.
// Where a quantity is not a whole number of µs (GCRA's emission interval),
// it is carried as µs plus a fraction in units of 1/Rate µs, so no
// decision is rounded.
//
// Every script takes one key and
//
//	ARGV[1] n      units requested (1 ≤ n ≤ capacity, checked by the caller)
//	ARGV[2] now    Unix µs to decide at, or -1 for the server clock (TIME)
//	ARGV[3] rate   Limit.Rate
//	ARGV[4] period Limit.Period in µs
//	ARGV[5] burst  Limit.Burst (bucket algorithms)
//	ARGV[6] q      whole µs of the emission interval Period/Rate (GCRA)
//	ARGV[7] slack  ms added to every key's expiry (Options.ExpirySlack)
//	ARGV[8] r      Period mod Rate: the interval's fraction, in 1/Rate µs
//	ARGV[9], ARGV[10]  Burst·Period/Rate as whole µs and fraction (GCRA)
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
// three commands (TIME, GET, SET) and plain arithmetic.
//
// The arithmetic is exact whatever the rate: the emission interval
// T = Period/Rate is q µs plus r/Rate µs (q = ARGV[6], r = ARGV[8]), and the
// TAT is kept as whole µs plus a fraction in units of 1/Rate µs, stored as
// "<µs>:<fraction>" (a bare number, the earlier format, reads as fraction
// 0). Burst·T is passed the same way (ARGV[9] µs, ARGV[10] fraction). It
// returns {allowed, reset-after µs, reset-after fraction} (the TAT minus now
// after the decision), from which the driver derives the rest exactly.
const gcraScript = `
local now = tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local rate = tonumber(ARGV[3])
local q, r = tonumber(ARGV[6]), tonumber(ARGV[8])
local bq, bf = tonumber(ARGV[9]), tonumber(ARGV[10])
local n = tonumber(ARGV[1])
local tu, tf = now, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b = string.match(v, '^(%d+):(%d+)$')
  if a then tu, tf = tonumber(a), tonumber(b) else tu, tf = tonumber(v) or now, 0 end
  if tu < now then tu, tf = now, 0 end
end
local f = tf + n * r
local carry = math.floor(f / rate)
if carry * rate > f then carry = carry - 1 elseif (carry + 1) * rate <= f then carry = carry + 1 end
local nu, nf = tu + n * q + carry, f - carry * rate
local du, df = nu - bq, nf - bf
if df < 0 then du, df = du - 1, df + rate end
if du > now or (du == now and df > 0) then
  return {0, tu - now, tf}
end
redis.call('SET', KEYS[1], string.format('%.0f:%.0f', nu, nf), 'PX', math.floor((nu - now) / 1000) + 2 + tonumber(ARGV[7]))
return {1, nu - now, nf}
`

// gcraIntScript is gcraScript for limits whose emission interval is a
// whole number of µs (Period divisible by Rate, so the fraction is always
// 0): the TAT is a bare number of µs, written as a Lua number (Redis
// formats it with %.17g, exact for integers below 2^53), so the script does
// no string formatting or pattern matching: TIME, GET, arithmetic, SET.
// It reads the "<µs>:<fraction>" format gcraScript writes too (the
// fraction is 0 for these limits). Its arguments are
//
//	ARGV[1] n, ARGV[2] now (or -1), ARGV[3] q (the interval in µs),
//	ARGV[4] Burst·q, ARGV[5] slack ms
//
// and it returns one integer instead of a table (a table reply cost about
// 1.5 µs of server time per call): the reset-after µs r ≥ 0 when admitted,
// -r-1 when denied; the fraction is 0.
const gcraIntScript = `
local now = tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local tu = now
local v = redis.call('GET', KEYS[1])
if v then
  local x = tonumber(v) or tonumber(string.match(v, '^(%d+)')) or now
  if x > now then tu = x end
end
local nu = tu + tonumber(ARGV[1]) * tonumber(ARGV[3])
if nu - tonumber(ARGV[4]) > now then
  return -(tu - now) - 1
end
redis.call('SET', KEYS[1], nu, 'PX', math.floor((nu - now) / 1000) + 2 + tonumber(ARGV[5]))
return nu - now
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
