-- A publish. KEYS: history, meta. ARGV: hist_max, hist_time (us),
-- type, event, body, vhost, channel, ck. Returns epoch, seq, kept,
-- subscribers, requested (us), now (us).
local now = now_us()
local e = epoch(now)
local ts = string.format('%.0f', now)
local id = redis.call('INCR', 'mxhr:seq')
local sid = id .. '-0'
-- a new or forgotten channel: what came before it is unknown
local prev = redis.call('HGET', KEYS[2], 'last')
             or redis.call('GET', 'mxhr:forgotten') or '0'
redis.call('XADD', KEYS[1], sid, 't', ts, 'p', prev, 'c', ARGV[3],
           'e', ARGV[4], 'b', ARGV[5])
redis.call('HSET', KEYS[2], 'last', id, 'hm', ARGV[1], 'ht', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
sweep(KEYS[1], now, tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) / 1000) + 1000)
redis.call('ZADD', 'mxhr:metas', math.floor(now / 1000)
           + math.floor(tonumber(ARGV[2]) / 1000) + META_GRACE_MS, KEYS[2])
forget(now)
redis.call('XADD', 'mxhr:all', 'MAXLEN', '~', ALL_MAX, sid,
           'y', 'm', 'x', e, 'v', ARGV[6], 'n', ARGV[7], 't', ts,
           'hm', ARGV[1], 'ht', ARGV[2], 'c', ARGV[3], 'e', ARGV[4],
           'b', ARGV[5])
return {e, id, redis.call('XLEN', KEYS[1]), subscribers(ARGV[8], now),
        redis.call('HGET', KEYS[2], 'rq') or '0', ts}
