/* The MxhrRedis URL parser (mxhr_redis_url.c), outside httpd: good
 * URLs, bad ones, and a fuzz. Prints TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "mxhr_redis_url.h"

static int tests_run, tests_failed;

static void ok(int cond, const char *what)
{
    tests_run++;
    if (!cond) {
        tests_failed++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", tests_run, what);
}

int main(void)
{
    apr_pool_t *p;
    char buf[256];

    apr_initialize();
    apr_pool_create(&p, NULL);
    srand(15);

    /* Redis URLs */
    {
        mxhr_redis_addr a;
        static const char *bad[] = {
            "", "redis:/x", "http://h", "redis://", "redis://:6379",
            "redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/x",
            "redis://pw@h", "redis://:@h", "redis://:a%00b@h", "redis://h 1", "redis://h\r\n",
            "unix:", "unix:rel", "redis://[::1", "redis://[]:1",
            "redis://[::1]x", "redis://h:99999999999", "redis://h:-1",
            "redis://h?db=1", "redis://h#x", "redis://user:pw@h",
            "redis://:p%zz@h", "redis://h:", "rediss://h",
        };
        apr_size_t i;

        ok(mxhr_redis_url_parse(p, "redis://127.0.0.1:6380", &a) == NULL
           && strcmp(a.host, "127.0.0.1") == 0 && a.port == 6380
           && !a.password && a.db == 0 && !a.path, "redis url host:port");
        ok(mxhr_redis_url_parse(p, "redis://h", &a) == NULL
           && strcmp(a.host, "h") == 0 && a.port == 6379,
           "redis url default port");
        ok(mxhr_redis_url_parse(p, "redis://:p@ss@h:1/3", &a) == NULL
           && strcmp(a.password, "p@ss") == 0 && strcmp(a.host, "h") == 0
           && a.port == 1 && a.db == 3, "redis url password with @ and db");
        ok(mxhr_redis_url_parse(p, "redis://[::1]:7000/", &a) == NULL
           && strcmp(a.host, "::1") == 0 && a.port == 7000,
           "redis url IPv6");
        ok(mxhr_redis_url_parse(p, "unix:/run/redis.sock", &a) == NULL
           && strcmp(a.path, "/run/redis.sock") == 0 && !a.host,
           "redis url unix socket");
        ok(mxhr_redis_url_parse(p, "redis://:p%40s%2Fs%3F@h", &a) == NULL
           && strcmp(a.password, "p@s/s?") == 0 && strcmp(a.host, "h") == 0,
           "redis url password percent-decoded");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(buf, sizeof(buf), "redis url '%s' refused", bad[i]);
            ok(mxhr_redis_url_parse(p, bad[i], &a) != NULL, buf);
        }
        /* fuzz: whatever is accepted names a host and a port in range,
         * or an absolute socket path */
        {
            static const char pool[] = "redis:/unix@[]:0123456789ah x";
            int k, j, badf = 0;

            for (k = 0; k < 20000; k++) {
                int len = rand() % 40;
                char *u = malloc(len + 9);

                if (!u) {
                    abort();
                }
                j = 0;
                if (rand() % 2) {
                    memcpy(u, "redis://", 8);
                    j = 8;
                }
                for (; j < len + 8; j++) {
                    u[j] = pool[rand() % (sizeof(pool) - 1)];
                }
                u[j] = '\0';
                if (mxhr_redis_url_parse(p, u, &a) == NULL
                    && !(a.path ? a.path[0] == '/'
                                : a.host && *a.host && a.port > 0
                                  && a.port < 65536 && a.db >= 0)) {
                    badf++;
                }
                free(u);
            }
            ok(badf == 0, "20000 fuzzed Redis URLs: accepted ones are whole");
        }
    }

    printf("1..%d\n", tests_run);
    apr_pool_destroy(p);
    apr_terminate();
    return tests_failed ? 1 : 0;
}
