/* mod_mxhr_test: an example of a module that publishes through
 * mod_mxhr's optional function mxhr_publish (mod_mxhr.h), and the test
 * double of t/event/66_publish_api.pl.
 *
 * "SetHandler mxhr-test-publish": a request for .../NAME publishes to
 * the channel NAME of its virtual host, with the limits in effect for
 * its location:
 *   GET  .../NAME?TEXT  the query string, %-decoded, as text/plain;
 *   POST .../NAME       the request body with its Content-Type.
 * An X-EventSource-Event header names the SSE event. The answer is
 * mod_mxhr's status (201, 202, 400, 413, 503, 507) and, when the message
 * was published, its id and how many subscribers it had, one per line. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_mxhr.h"

module AP_MODULE_DECLARE_DATA mxhr_test_module;

#define BODY_MAX (1024 * 1024)

/* The whole request body (at most BODY_MAX bytes), or a status. */
static int read_body(request_rec *r, char **body, apr_size_t *len)
{
    apr_bucket_brigade *bb;
    apr_off_t n = 0;
    apr_status_t rv;
    int seen_eos = 0;

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    do {
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, BODY_MAX);
        if (rv != APR_SUCCESS) {
            return HTTP_BAD_REQUEST;
        }
        seen_eos = !APR_BRIGADE_EMPTY(bb)
                   && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb));
        apr_brigade_length(bb, 1, &n);
        if (n > BODY_MAX) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    } while (!seen_eos);
    *len = (apr_size_t)n;
    *body = apr_palloc(r->pool, *len + 1);
    apr_brigade_flatten(bb, *body, len);
    return OK;
}

static int publish_handler(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(mxhr_publish) *publish;
    mxhr_published out;
    const char *channel, *ct, *slash;
    char *body = NULL;
    apr_size_t len = 0;
    int st;

    if (!r->handler || strcmp(r->handler, "mxhr-test-publish") != 0) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    /* Looked up per call: mod_mxhr may be absent, then this says so. */
    publish = APR_RETRIEVE_OPTIONAL_FN(mxhr_publish);
    if (!publish) {
        return HTTP_NOT_IMPLEMENTED;
    }
    slash = strrchr(r->uri, '/');
    channel = slash ? slash + 1 : r->uri;
    ct = apr_table_get(r->headers_in, "Content-Type");
    if (r->method_number == M_POST) {
        if ((st = read_body(r, &body, &len)) != OK) {
            return st;
        }
    }
    else {
        body = apr_pstrdup(r->pool, r->args ? r->args : "");
        /* httpd refuses %00 there: a query string is text. */
        if (ap_unescape_urlencoded(body) != OK) {
            return HTTP_BAD_REQUEST;
        }
        len = strlen(body);
        ct = "text/plain";
    }
    st = publish(r, channel, ct,
                 apr_table_get(r->headers_in, "X-EventSource-Event"), body,
                 len, &out);
    if (st != HTTP_CREATED && st != HTTP_ACCEPTED) {
        if (out.why) {
            ap_custom_response(r, st, apr_pstrcat(
                r->pool, ap_escape_html(r->pool, out.why), "\n", NULL));
        }
        return st;
    }
    r->status = st;
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "%s\n%u\n", out.id, out.subscribers);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_handler(publish_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(mxhr_test) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config creator */
    NULL,                       /* per-directory config merger */
    NULL,                       /* per-server config creator */
    NULL,                       /* per-server config merger */
    NULL,                       /* directive table */
    register_hooks              /* hook registration */
};
