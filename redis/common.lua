-- mod_mxhr: what every script starts with (redis/lua2h.pl puts it in
-- front of each; the keys are described in mxhr_redis.c).

-- Publishes kept in mxhr:all: a server that falls further behind than
-- this ends its streams, which resume from the channels' histories.
local ALL_MAX = '2000'
-- A channel's record outlives its last message's history by this (ms);
-- then it is forgotten (forget).
local META_GRACE_MS = 3600000
-- A server is counted while it said so this recently (ms).
local SERVER_TTL_MS = 10000

local function f(e, k)
  for i = 1, #e, 2 do if e[i] == k then return e[i + 1] end end
  return nil
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function epoch(now)
  local e = redis.call('GET', 'mxhr:epoch')
  if not e then
    e = string.format('%.0f', now)
    redis.call('SET', 'mxhr:epoch', e)
  end
  return e
end
local function seqof(id) return tonumber(string.match(id, '^(%d+)')) end
-- drops expired entries from the front (a few per call)
local function sweep(s, now, ht)
  if ht <= 0 then return end
  for i = 1, 64 do
    local x = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
    if #x == 0 or tonumber(f(x[1][2], 't')) >= now - ht then return end
    redis.call('XDEL', s, x[1][1])
  end
end
-- forgets channels idle for their history time and an hour: their
-- last id goes into one watermark, which a resume on a channel with no
-- record is checked against (it may be told lost wrongly, never left
-- with a gap)
local function forget(now)
  local old = redis.call('ZRANGEBYSCORE', 'mxhr:metas', '-inf',
                         math.floor(now / 1000), 'LIMIT', 0, 16)
  for _, m in ipairs(old) do
    local last = tonumber(redis.call('HGET', m, 'last') or '0')
    if last > tonumber(redis.call('GET', 'mxhr:forgotten') or '0') then
      redis.call('SET', 'mxhr:forgotten', last)
    end
    redis.call('DEL', m)
    redis.call('ZREM', 'mxhr:metas', m)
  end
end
local function subscribers(ck, now)
  local ms = math.floor(now / 1000)
  redis.call('ZREMRANGEBYSCORE', 'mxhr:servers', '-inf', ms)
  local n = 0
  for _, srv in ipairs(redis.call('ZRANGE', 'mxhr:servers', 0, -1)) do
    n = n + tonumber(redis.call('HGET', 'mxhr:subs:' .. srv, ck) or '0')
  end
  return n
end
