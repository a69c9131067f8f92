/* mod_mxhr_test: a test double for a module that pushes through
 * mod_mxhr (t/event/66_deliver.pl). POST to a location with
 * "SetHandler mxhr-test-deliver": the request body, with its
 * Content-Type, goes to every stream of this child (or only those whose
 * key is the query string), through mod_mxhr's mxhr_deliver. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_mxhr.h"

module AP_MODULE_DECLARE_DATA mxhr_test_module;

#define BODY_MAX (1024 * 1024)

static int deliver_handler(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(mxhr_deliver) *deliver;
    apr_bucket_brigade *bb;
    apr_off_t len;
    apr_size_t size;
    char *body;
    const char *ct;
    apr_status_t rv;

    if (!r->handler || strcmp(r->handler, "mxhr-test-deliver") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_POST) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    deliver = APR_RETRIEVE_OPTIONAL_FN(mxhr_deliver);
    if (!deliver) {
        return HTTP_NOT_IMPLEMENTED;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                        APR_BLOCK_READ, BODY_MAX);
    /* Read everything (small bodies come in one go; loop for the rest). */
    while (rv == APR_SUCCESS && !APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))) {
        apr_brigade_length(bb, 1, &len);
        if (len > BODY_MAX) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, BODY_MAX);
    }
    if (rv != APR_SUCCESS) {
        return HTTP_BAD_REQUEST;
    }
    apr_brigade_length(bb, 1, &len);
    size = (apr_size_t)len;
    body = apr_palloc(r->pool, size + 1);
    apr_brigade_flatten(bb, body, &size);
    ct = apr_table_get(r->headers_in, "Content-Type");
    rv = deliver(r->args, ct ? ct : "application/octet-stream",
                 "X-Test: 1\r\n", body, size);
    if (rv == APR_ENOTIMPL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return rv == APR_SUCCESS ? HTTP_NO_CONTENT : HTTP_INTERNAL_SERVER_ERROR;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_handler(deliver_handler, NULL, NULL, APR_HOOK_MIDDLE);
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
