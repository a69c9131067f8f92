/* mod_mxhr: what every file of the module says about the module, said
 * once: which module its log lines belong to, and their numbered tags.
 * Not for other modules (those include mod_mxhr.h). */
#ifndef MXHR_PRIVATE_H
#define MXHR_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "apr_strings.h"

extern module AP_MODULE_DECLARE_DATA mxhr_module;

/* mod_mxhr.c defines the module with AP_DECLARE_MODULE, which says
 * APLOG_USE_MODULE itself (twice would define aplog_module_index
 * twice). */
#ifndef MXHR_MODULE_C
APLOG_USE_MODULE(mxhr);
#endif

/* Our own numbered log tags; httpd's AHnnnnn numbers are httpd's. */
#define MXHR_LOGNO(n) "MXHR" #n ": "

/* Answers status with why as its body, text/html-escaped, one line.
 * The leading quote says "a message" to httpd: without it a why that
 * looks like a URL ("X-EventSource-Event: ...", "/path") would be taken
 * for an ErrorDocument to redirect to. */
static APR_INLINE void mxhr_custom_text(request_rec *r, int status,
                                        const char *why)
{
    ap_custom_response(r, status, apr_pstrcat(r->pool, "\"",
                                              ap_escape_html(r->pool, why),
                                              "\n", NULL));
}

#endif /* MXHR_PRIVATE_H */
