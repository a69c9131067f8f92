/* The Redis scripts that the build made C strings (mxhr_redis_lua.h,
 * from the .lua files of redis/ by redis/lua2h.pl): each one's SHA1 is
 * what Redis will name it by. A wrong one would not fail a request
 * (EVALSHA's NOSCRIPT falls back to EVAL), only send every script
 * whole, every time: so it is checked here, with APR-util's SHA1 over
 * the very bytes the module sends. Prints TAP. */
#include <stdio.h>
#include <string.h>

#include "apr_sha1.h"

#include "mxhr_redis_lua.h"

static int n_test, n_fail;

static void ok(int cond, const char *name)
{
    n_test++;
    if (!cond) {
        n_fail++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", n_test, name);
}

static void sha_hex(const char *text, char *out)
{
    unsigned char d[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    int i;

    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, text, (unsigned int)strlen(text));
    apr_sha1_final(d, &ctx);
    for (i = 0; i < APR_SHA1_DIGESTSIZE; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

#define CHECK(name, NAME) \
    do { \
        char hex[APR_SHA1_DIGESTSIZE * 2 + 1], msg[128]; \
        sha_hex(mxhr_lua_##name, hex); \
        snprintf(msg, sizeof(msg), "redis/%s.lua: SHA1 %s", #name, hex); \
        ok(strcmp(hex, MXHR_LUA_##NAME##_SHA1) == 0, msg); \
        snprintf(msg, sizeof(msg), "redis/%s.lua: begins with common.lua", \
                 #name); \
        ok(strncmp(mxhr_lua_##name, "-- mod_mxhr: what every script", 30) \
           == 0, msg); \
        snprintf(msg, sizeof(msg), "redis/%s.lua: one whole string (%u " \
                 "bytes)", #name, (unsigned)strlen(mxhr_lua_##name)); \
        ok(strlen(mxhr_lua_##name) + 1 == sizeof(mxhr_lua_##name), msg); \
        n_scripts++; \
    } while (0);

int main(void)
{
    int n_scripts = 0;

    MXHR_LUA_SCRIPTS(CHECK)
    ok(n_scripts == 5, "five scripts: publish, info, start, hello, counts");
    ok(strcmp(MXHR_LUA_ALL_MAX, "2000") == 0,
       "ALL_MAX from common.lua: 2000");
    ok(strstr(mxhr_lua_publish, "'MAXLEN', '~', ALL_MAX") != NULL,
       "publish trims mxhr:all to ALL_MAX");
    printf("1..%d\n", n_test);
    return n_fail ? 1 : 0;
}
