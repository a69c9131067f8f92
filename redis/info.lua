-- A channel's info, and its deletion. KEYS: history, meta. ARGV: ck,
-- forget, vhost, channel. Returns epoch, found, last, kept,
-- subscribers, requested, now.
local now = now_us()
local e = epoch(now)
local ts = string.format('%.0f', now)
local last = redis.call('HGET', KEYS[2], 'last')
sweep(KEYS[1], now, tonumber(redis.call('HGET', KEYS[2], 'ht') or '0'))
local kept = redis.call('XLEN', KEYS[1])
local subs = subscribers(ARGV[1], now)
local rq = redis.call('HGET', KEYS[2], 'rq') or '0'
if not last or (kept == 0 and subs == 0) then return {e, 0} end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
  local id = redis.call('INCR', 'mxhr:seq')
  redis.call('XADD', 'mxhr:all', 'MAXLEN', '~', ALL_MAX, id .. '-0',
             'y', 'd', 'x', e, 'v', ARGV[3], 'n', ARGV[4])
end
return {e, 1, tonumber(last), kept, subs, rq, ts}
