-- A subscription's start. KEYS: history and meta of each channel.
-- ARGV: mode, resume epoch, resume seq, replay, server, byte cap, then
-- ck and count of each channel. Returns epoch, seq, lost, then per
-- channel a flat list of id, type, event, body. A start of more than
-- the cap keeps its newest messages and says "lost": it is bounded, and
-- honest.
local now = now_us()
local e = epoch(now)
local ts = string.format('%.0f', now)
local seq = tonumber(redis.call('GET', 'mxhr:seq') or '0')
local n = #KEYS / 2
local mode, L = ARGV[1], tonumber(ARGV[3])
local cap = tonumber(ARGV[6]) / n
local lost = 0
local subs = 'mxhr:subs:' .. ARGV[5]
for i = 1, n do
  local s, m = KEYS[2 * i - 1], KEYS[2 * i]
  -- only channels that exist: a subscriber cannot make keys
  if redis.call('EXISTS', m) == 1 then redis.call('HSET', m, 'rq', ts) end
  redis.call('HSET', subs, ARGV[5 + 2 * i], ARGV[6 + 2 * i])
  if mode == '1' then
    sweep(s, now, tonumber(redis.call('HGET', m, 'ht') or '0'))
    local x = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
    local dropped = tonumber(redis.call('HGET', m, 'last')
                             or redis.call('GET', 'mxhr:forgotten') or '0')
    if #x > 0 then dropped = tonumber(f(x[1][2], 'p')) end
    if L < dropped then lost = 1 end
  end
end
if mode == '1' and (ARGV[2] ~= e or L > seq) then lost = 1 end
redis.call('PEXPIRE', subs, SERVER_TTL_MS + 5000)
redis.call('ZADD', 'mxhr:servers',
           math.floor(now / 1000) + SERVER_TTL_MS, ARGV[5])
local out = {e, seq, 0}
for i = 1, n do
  local s, m = KEYS[2 * i - 1], KEYS[2 * i]
  local ht = tonumber(redis.call('HGET', m, 'ht') or '0')
  local x = {}
  if mode == '1' and lost == 0 then
    x = redis.call('XRANGE', s, '(' .. string.format('%.0f', L) .. '-0', '+')
  elseif mode == '1' then
    x = redis.call('XRANGE', s, '-', '+')
  elseif mode == '2' then
    x = redis.call('XREVRANGE', s, '+', '-', 'COUNT', ARGV[4])
    local r = {}
    for j = #x, 1, -1 do r[#r + 1] = x[j] end
    x = r
  end
  -- the newest first, up to the cap; expired ones are not kept
  local k, bytes = {}, 0
  for j = #x, 1, -1 do
    local y = x[j]
    if ht <= 0 or tonumber(f(y[2], 't')) >= now - ht then
      local b = #(f(y[2], 'b') or '')
      if bytes + b > cap and #k > 0 then
        if mode == '1' then lost = 1 end
        break
      end
      bytes = bytes + b
      k[#k + 1] = y
    end
  end
  local l = {}
  for j = #k, 1, -1 do
    local y = k[j]
    l[#l + 1] = y[1]; l[#l + 1] = f(y[2], 'c') or ''
    l[#l + 1] = f(y[2], 'e') or ''; l[#l + 1] = f(y[2], 'b') or ''
  end
  out[#out + 1] = l
end
out[3] = lost
return out
