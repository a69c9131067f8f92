-- A server's subscriber counts. ARGV: server, then ck and count of each
-- channel with subscribers here.
local now = now_us()
local k = 'mxhr:subs:' .. ARGV[1]
redis.call('DEL', k)
for i = 2, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', k, SERVER_TTL_MS + 5000)
redis.call('ZADD', 'mxhr:servers',
           math.floor(now / 1000) + SERVER_TTL_MS, ARGV[1])
return 1
