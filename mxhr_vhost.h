/* mod_mxhr: a request's channel namespace, what separates one site's
 * channels from another's (the store's and Redis's vhost key).
 *
 * In order:
 * - MxhrNamespace EXPRESSION (server config or <VirtualHost>), when
 *   set: its value for the request, e.g. "%{HTTP_HOST}" for mass
 *   virtual hosting, or one fixed name shared by several vhosts;
 * - else "ServerName:port" where that names one server only (as before:
 *   stores and Redis keys survive the upgrade, and servers sharing a
 *   Redis agree);
 * - else, for a <VirtualHost> whose ServerName:port another server has
 *   too (one without a ServerName of its own gets the main server's),
 *   "ServerName:port@file:line" of its <VirtualHost> block;
 * and when a module gave the request a document root of its own
 * (mod_vhost_alias's VirtualDocumentRoot), that root is added: each is
 * a site of its own. */
#ifndef MXHR_VHOST_H
#define MXHR_VHOST_H

#include "httpd.h"

/* The request's namespace, at most MXHR_VHOST_KEY_MAX bytes (a longer
 * one keeps its start and a SHA1 of the whole). */
const char *mxhr_vhost_key(request_rec *r);

/* A server's own namespace, for what has no request (another module
 * publishing to a virtual host's channel): as mxhr_vhost_key() for a
 * request of that server without MxhrNamespace and without a document
 * root of its own. */
const char *mxhr_vhost_server_key(apr_pool_t *p, server_rec *s);

void mxhr_vhost_register_hooks(apr_pool_t *p);

#endif /* MXHR_VHOST_H */
