-- A server's hello. ARGV: its epoch, the newest seq it has. Returns
-- epoch, seq. A Redis whose counter is behind what a server saw came
-- back without its last writes (an RDB restore, a lagging replica): its
-- ids would be given twice, so it starts a new epoch (clients resuming
-- are told "lost").
local now = now_us()
local e = epoch(now)
local seq = tonumber(redis.call('GET', 'mxhr:seq') or '0')
if ARGV[1] == e and tonumber(ARGV[2]) > seq then
  e = string.format('%.0f', now)
  redis.call('SET', 'mxhr:epoch', e)
end
return {e, seq}
