/* mod_mxhr: a request's channel namespace (see mxhr_vhost.h). */

#include <string.h>

#include "apr_hash.h"
#include "apr_sha1.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_expr.h"

#include "mxhr_config.h"
#include "mxhr_private.h"
#include "mxhr_store.h"
#include "mxhr_vhost.h"

/* Each server_rec's own key (post_config; read-only in the children). */
static apr_hash_t *server_keys;

static const char *name_port(apr_pool_t *p, server_rec *s)
{
    unsigned port = s->port;

    if (!port && s->addrs) {
        port = s->addrs->host_port;
    }
    return apr_psprintf(p, "%s:%u",
                        s->server_hostname ? s->server_hostname : "", port);
}

/* A key the store's row holds whole: a longer one keeps its start and
 * the SHA1 of all of it, so that two never become one by truncation. */
static const char *fit(apr_pool_t *p, const char *key)
{
    apr_size_t len = strlen(key);
    unsigned char d[APR_SHA1_DIGESTSIZE];
    char hex[APR_SHA1_DIGESTSIZE * 2 + 1];
    apr_sha1_ctx_t ctx;
    int i;

    if (len <= MXHR_VHOST_KEY_MAX) {
        return key;
    }
    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, key, (unsigned int)len);
    apr_sha1_final(d, &ctx);
    for (i = 0; i < APR_SHA1_DIGESTSIZE; i++) {
        apr_snprintf(hex + 2 * i, 3, "%02x", d[i]);
    }
    return apr_psprintf(p, "%.*s#%s",
                        MXHR_VHOST_KEY_MAX - 1 - APR_SHA1_DIGESTSIZE * 2,
                        key, hex);
}

static apr_status_t forget_keys(void *data)
{
    server_keys = NULL;
    return APR_SUCCESS;
}

/* "ServerName:port" for each server: blocks that name the same site
 * (IPv4 and IPv6 blocks of one site, one name on several listeners)
 * share its channels, as they did before namespaces. A <VirtualHost>
 * without a ServerName of its own has the main server's (httpd copies
 * the pointer): it is another site that only looks like the main one,
 * so when that name and port are taken it is told apart by where its
 * block is defined. */
static int vhost_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *main_s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *s;

    server_keys = apr_hash_make(pconf);
    apr_pool_cleanup_register(pconf, NULL, forget_keys,
                              apr_pool_cleanup_null);
    for (s = main_s; s; s = s->next) {
        const char *k = name_port(ptemp, s);
        apr_size_t n = (apr_size_t)apr_hash_get(seen, k, APR_HASH_KEY_STRING);

        apr_hash_set(seen, k, APR_HASH_KEY_STRING, (void *)(n + 1));
    }
    for (s = main_s; s; s = s->next) {
        const char *k = name_port(pconf, s);
        int unnamed = s->is_virtual
                      && (!s->server_hostname
                          || s->server_hostname == main_s->server_hostname);

        if (unnamed
            && (apr_size_t)apr_hash_get(seen, k, APR_HASH_KEY_STRING) > 1) {
            k = apr_psprintf(pconf, "%s@%s:%u", k,
                             s->defn_name ? s->defn_name : "",
                             s->defn_line_number);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, MXHR_LOGNO(141)
                         "this virtual host has no ServerName of its own: "
                         "its channels are its own, named by where its "
                         "block is defined (%s); give it a ServerName to "
                         "keep them when the file changes, or to share "
                         "them with other servers (MxhrRedis)", k);
        }
        apr_hash_set(server_keys, apr_pmemdup(pconf, &s, sizeof(s)),
                     sizeof(s), fit(pconf, k));
    }
    return OK;
}

const char *mxhr_vhost_server_key(apr_pool_t *p, server_rec *s)
{
    const char *key = server_keys ? apr_hash_get(server_keys, &s, sizeof(s))
                                  : NULL;

    return key ? key : fit(p, name_port(p, s));
}

const char *mxhr_vhost_key(request_rec *r)
{
    const mxhr_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                                   &mxhr_module);
    const core_server_config *core
        = ap_get_core_module_config(r->server->module_config);
    const char *key, *root;

    if (sc && sc->namespace_expr) {
        const char *err = NULL;
        const char *v = ap_expr_str_exec(r, sc->namespace_expr, &err);

        if (err || !v) {
            /* Its own namespace, nobody else's. */
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MXHR_LOGNO(142)
                          "MxhrNamespace: %s; this request's channels are "
                          "in the empty namespace",
                          err ? err : "no value");
            v = "";
        }
        /* Within the virtual host's own namespace: a value that comes
         * from the client (a Host header) never reaches another
         * virtual host's channels. */
        return fit(r->pool, apr_pstrcat(r->pool,
                                        mxhr_vhost_server_key(r->pool,
                                                              r->server),
                                        " ns=", v, NULL));
    }
    key = mxhr_vhost_server_key(r->pool, r->server);
    /* A document root of the request's own (mass virtual hosting): the
     * site is that root. */
    root = ap_document_root(r);
    if (root && core && core->ap_document_root
        && strcmp(root, core->ap_document_root) != 0) {
        key = apr_pstrcat(r->pool, key, " root=", root, NULL);
    }
    return fit(r->pool, key);
}

void mxhr_vhost_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(vhost_post_config, NULL, NULL, APR_HOOK_MIDDLE);
}
