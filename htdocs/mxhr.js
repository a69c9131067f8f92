/*
 * mxhr.js: a client for multipart streams (mod_mxhr) in today's browsers.
 *
 * `xhr.multipart = true` is long gone, so this reads the response with
 * fetch() and response.body.getReader(), and parses multipart/mixed or
 * multipart/x-mixed-replace incrementally. No dependencies.
 *
 * Usage, as a classic script:
 *     <script src="mxhr.js"></script>
 *     const s = new MxhrStream('/mxhr-stream');
 * as an ES module (the script defines globalThis.MxhrStream):
 *     import './mxhr.js';  const { MxhrStream } = globalThis;
 * or with named imports through the two-line wrapper mxhr.mjs:
 *     import { MxhrStream } from './mxhr.mjs';
 * and in Node (CommonJS): const { MxhrStream } = require('./mxhr.js');
 *
 * The API follows EventSource:
 *     const s = new MxhrStream(url, {
 *         withCredentials: false,      // send cookies cross-origin
 *         headers: {},                 // extra request headers
 *         reconnect: { initialDelay: 1000, maxDelay: 30000 }, // or false
 *         lastEventId: null,           // resume after this id at once
 *     });
 *     s.addEventListener('part', (e) => {
 *         e.seq;          // Mxhr-Seq, a number (or null)
 *         e.id;           // Mxhr-Id, the message's id (or null)
 *         e.channel;      // Mxhr-Channel, the message's channel (or null)
 *         e.headers;      // { 'content-type': ..., ... } lower-case names
 *         e.contentType;  // the part's Content-Type
 *         e.bytes;        // Uint8Array, always: the published bytes
 *         e.data;         // the body as text for textual types, else null
 *         e.json();       // the body parsed as JSON
 *     });
 *     s.onopen / s.onpart / s.onheartbeat / s.onhistorylost / s.onerror /
 *     s.onclose / s.onstatechange
 *     s.readyState;       // MxhrStream.CONNECTING, OPEN or CLOSED
 *     s.lastEventId;      // the last Mxhr-Id seen (or the option), or null
 *     s.parts; s.heartbeats; s.reconnects;    // counts, all connections
 *     s.close();
 *
 * Events:
 *   open        the response arrived and is a multipart stream
 *   historylost the response says "Mxhr-History: lost": the server no
 *               longer has the messages after the id we resumed from, so
 *               some were missed; it starts at the oldest it has. Comes
 *               after open, before that response's first part; detail:
 *               { lastEventId (the id sent) }
 *   part        one complete part (a message of a channel, or a section
 *               of a clock stream); never a heartbeat
 *   heartbeat   a part with "Mxhr-Heartbeat: 1": the server says the idle
 *               stream is alive. Counted in s.heartbeats, not in s.parts,
 *               never a part event; detail: { seq, headers }
 *   error       detail: { error, status, willReconnect, retryIn }
 *   close       the stream ended; detail: { reason: 'server' | 'client' |
 *               'fatal', willReconnect, clean (closing delimiter seen) }
 *   statechange detail: { readyState, previous }
 *
 * It reconnects after a network error or when the server ends the
 * stream, with capped exponential back-off and jitter; it stops for good
 * on close() and on a 4xx status a retry cannot fix. Every request after
 * a part with an id (and the first, given the lastEventId option) carries
 * "Last-Event-ID: <that id>", so mod_mxhr resumes the channel after it
 * and nothing is missed while its history lasts. A Last-Event-ID among
 * the user's headers is replaced by it. Cross-origin, Last-Event-ID
 * needs a CORS preflight, and the server must expose Mxhr-History
 * (Access-Control-Expose-Headers) for historylost to be seen.
 *
 * A part sent with "Content-Transfer-Encoding: base64" (mod_mxhr does so
 * when a message contains the stream's delimiter) is decoded: e.bytes and
 * e.data are the published bytes; e.headers still shows the encoding and
 * the encoded Content-Length.
 */
(function (root, factory) {
    'use strict';
    var api = factory();
    if (typeof module === 'object' && module && module.exports) {
        module.exports = api;
    }
    root.MxhrStream = api.MxhrStream;
    root.MxhrMultipartParser = api.MxhrMultipartParser;
}(typeof globalThis !== 'undefined' ? globalThis : this, function () {
    'use strict';

    var CR = 13, LF = 10, DASH = 45, SP = 32, TAB = 9;

    function asciiBytes(s) {
        var out = new Uint8Array(s.length);
        for (var i = 0; i < s.length; i++) {
            out[i] = s.charCodeAt(i) & 0xff;
        }
        return out;
    }

    function concat(a, b) {
        if (a.length === 0) {
            return b;
        }
        var out = new Uint8Array(a.length + b.length);
        out.set(a, 0);
        out.set(b, a.length);
        return out;
    }

    /* First index >= from where needle occurs in hay, or -1. */
    function indexOf(hay, needle, from) {
        var first = needle[0];
        var last = hay.length - needle.length;
        for (var i = from || 0; i <= last; i++) {
            if (hay[i] !== first) {
                continue;
            }
            var j = 1;
            while (j < needle.length && hay[i + j] === needle[j]) {
                j++;
            }
            if (j === needle.length) {
                return i;
            }
        }
        return -1;
    }

    /* The boundary parameter of a multipart Content-Type, or null. */
    function boundaryOf(contentType) {
        if (!contentType || !/^\s*multipart\//i.test(contentType)) {
            return null;
        }
        var m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
        return m ? (m[1] || m[2]) : null;
    }

    function isTextual(contentType) {
        var t = (contentType || 'text/plain').toLowerCase();
        return /^text\//.test(t) || /charset=/.test(t)
            || /^application\/(json|xml|javascript|ecmascript)\b/.test(t)
            || /\+(json|xml)\b/.test(t);
    }

    function charsetOf(contentType) {
        var m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType || '');
        return m ? m[1] : 'utf-8';
    }

    function decodeText(bytes, contentType) {
        var decoder;
        try {
            decoder = new TextDecoder(charsetOf(contentType));
        }
        catch (e) {
            decoder = new TextDecoder('utf-8');
        }
        return decoder.decode(bytes);
    }

    /*
     * Incremental multipart parser over bytes. feed() it chunks as they
     * come; onPart(part) is called for each complete part, where part is
     * { headers, contentType, seq, id, channel, heartbeat, bytes, data,
     * json() }; heartbeats come out too (heartbeat: true), for the caller
     * to skip, and base64 bodies are decoded. Consumed bytes are dropped,
     * so memory does not grow with the stream's length.
     *
     * Line ends may be CRLF (RFC 2046) or bare LF. A part with a
     * Content-Length that the delimiter follows is taken at its length;
     * otherwise the body ends at the first CRLF or LF + "--boundary"
     * (so with bare LF and no length, a body cannot end in CR).
     */
    function MxhrMultipartParser(boundary, onPart) {
        if (!boundary) {
            throw new Error('MxhrMultipartParser: a boundary is required');
        }
        this.dashBoundary = asciiBytes('--' + boundary);
        this.lfDelimiter = asciiBytes('\n--' + boundary);
        this.onPart = onPart;
        this.buf = new Uint8Array(0);
        this.state = 'preamble';
        this.atStart = true;    // nothing of the preamble dropped yet
        this.scanFrom = 0;      // where the next delimiter search starts
        this.headers = null;
        this.length = -1;       // Content-Length of the current part
        this.closed = false;    // the closing delimiter was seen
        this.parts = 0;
    }

    MxhrMultipartParser.prototype.feed = function (chunk) {
        if (this.closed || !chunk || chunk.length === 0) {
            return;
        }
        this.buf = concat(this.buf, chunk);
        while (this.step()) {
            /* each step consumes input or moves to a new state */
        }
    };

    /* True once the body ended with the closing delimiter. */
    MxhrMultipartParser.prototype.end = function () {
        return this.closed;
    };

    MxhrMultipartParser.prototype.consume = function (n) {
        /* slice copies: a subarray would keep the old buffer alive */
        this.buf = this.buf.slice(n);
        this.scanFrom = 0;
    };

    /* Runs one state; returns false when it needs more input. */
    MxhrMultipartParser.prototype.step = function () {
        switch (this.state) {
        case 'preamble':
            return this.findFirstBoundary();
        case 'after-boundary':
            return this.afterBoundary();
        case 'headers':
            return this.readHeaders();
        case 'body':
            return this.readBody();
        default:
            return false;
        }
    };

    MxhrMultipartParser.prototype.findFirstBoundary = function () {
        var b = this.buf, db = this.dashBoundary;
        /* At the very start of the body, or after a line break (then
         * what came before is a preamble, ignored). */
        if (this.atStart && b.length < db.length
            && indexOf(db, b) === 0) {
            return false;           /* could still be the first boundary */
        }
        if (this.atStart && indexOf(b.subarray(0, db.length), db) === 0) {
            this.consume(db.length);
            this.state = 'after-boundary';
            return true;
        }
        var i = indexOf(b, this.lfDelimiter, this.scanFrom);
        if (i >= 0) {
            this.consume(i + this.lfDelimiter.length);
            this.state = 'after-boundary';
            return true;
        }
        /* Keep only what could still start a delimiter. */
        this.atStart = false;
        if (b.length > this.lfDelimiter.length) {
            this.consume(b.length - this.lfDelimiter.length);
        }
        return false;
    };

    /* After "--boundary": "--" closes; else padding and a line break. */
    MxhrMultipartParser.prototype.afterBoundary = function () {
        var b = this.buf;
        if (b.length < 2) {
            return false;
        }
        if (b[0] === DASH && b[1] === DASH) {
            this.closed = true;
            this.state = 'epilogue';
            this.buf = new Uint8Array(0);
            return false;
        }
        var i = 0;
        while (i < b.length && (b[i] === SP || b[i] === TAB)) {
            i++;
        }
        if (i >= b.length || (b[i] === CR && i + 1 >= b.length)) {
            return false;
        }
        if (b[i] === CR && b[i + 1] === LF) {
            this.consume(i + 2);
        }
        else if (b[i] === LF) {
            this.consume(i + 1);
        }
        else {
            throw new Error('MxhrMultipartParser: junk after a boundary');
        }
        this.state = 'headers';
        return true;
    };

    MxhrMultipartParser.prototype.readHeaders = function () {
        var b = this.buf, end = -1, skip = 0;
        /* A part with no headers starts with the empty line itself. */
        if (b.length >= 1 && b[0] === LF) {
            end = 0; skip = 1;
        }
        else if (b.length >= 2 && b[0] === CR && b[1] === LF) {
            end = 0; skip = 2;
        }
        else {
            for (var i = this.scanFrom; i < b.length; i++) {
                if (b[i] !== LF) {
                    continue;
                }
                if (b[i + 1] === LF) {
                    end = i + 1; skip = 1; break;
                }
                if (b[i + 1] === CR && b[i + 2] === LF) {
                    end = i + 1; skip = 2; break;
                }
            }
            if (end < 0) {
                this.scanFrom = Math.max(0, b.length - 2);
                return false;
            }
        }
        var text = decodeText(b.subarray(0, end), 'text/plain; charset=latin1');
        var headers = {};
        text.split(/\r?\n/).forEach(function (line) {
            var c = line.indexOf(':');
            if (c > 0) {
                var name = line.slice(0, c).trim().toLowerCase();
                var value = line.slice(c + 1).trim();
                headers[name] = name in headers ? headers[name] + ', ' + value
                                                : value;
            }
        });
        this.headers = headers;
        var len = headers['content-length'];
        this.length = /^\d+$/.test(len || '') ? parseInt(len, 10) : -1;
        this.consume(end + skip);
        this.state = 'body';
        return true;
    };

    /* Length of the delimiter (CRLF or LF, then --boundary) at i, or 0. */
    MxhrMultipartParser.prototype.delimiterAt = function (i) {
        var b = this.buf, eol = 0;
        if (b[i] === CR && b[i + 1] === LF) {
            eol = 2;
        }
        else if (b[i] === LF) {
            eol = 1;
        }
        else {
            return 0;
        }
        var db = this.dashBoundary;
        for (var j = 0; j < db.length; j++) {
            if (b[i + eol + j] !== db[j]) {
                return 0;
            }
        }
        return eol + db.length;
    };

    MxhrMultipartParser.prototype.readBody = function () {
        var b = this.buf, bodyEnd = -1, delim = 0;
        if (this.length >= 0) {
            /* Trust Content-Length when the delimiter follows it. */
            var db = this.dashBoundary, n = this.length;
            if (b.length < n + 1 + db.length) {
                return false;
            }
            delim = this.delimiterAt(n);
            if (delim) {
                bodyEnd = n;
            }
            else if (b[n] === CR && b.length < n + 2 + db.length) {
                return false;       /* CRLF--boundary not all here yet */
            }
            else {
                this.length = -1;   /* the length is wrong: scan instead */
            }
        }
        if (bodyEnd < 0) {
            var i = indexOf(b, this.lfDelimiter, this.scanFrom);
            if (i < 0) {
                this.scanFrom = Math.max(0, b.length - this.lfDelimiter.length);
                return false;
            }
            bodyEnd = i > 0 && b[i - 1] === CR ? i - 1 : i;
            delim = (i - bodyEnd) + this.lfDelimiter.length;
        }
        var bytes = b.slice(0, bodyEnd);
        var headers = this.headers;
        this.consume(bodyEnd + delim);
        this.state = 'after-boundary';
        this.headers = null;
        this.parts++;
        this.onPart(makePart(headers, bytes));
        return true;
    };

    var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    var B64_VALUE = new Int8Array(256).fill(-1);
    for (var k = 0; k < B64.length; k++) {
        B64_VALUE[B64.charCodeAt(k)] = k;
    }

    /* Base64 bytes to the bytes they encode. As RFC 2045 says, characters
     * outside the alphabet (line breaks) are ignored; "=" ends the data. */
    function base64Decode(input) {
        var out = new Uint8Array(Math.floor(input.length * 3 / 4));
        var n = 0, acc = 0, bits = 0;
        for (var i = 0; i < input.length; i++) {
            if (input[i] === 61) {          // '='
                break;
            }
            var v = B64_VALUE[input[i]];
            if (v < 0) {
                continue;
            }
            acc = ((acc << 6) | v) & 0xffffff;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[n++] = (acc >> bits) & 0xff;
            }
        }
        return out.slice(0, n);
    }

    /* A header's value, or null when it is absent or empty. */
    function headerOrNull(headers, name) {
        return headers[name] ? headers[name] : null;
    }

    function makePart(headers, bytes) {
        var type = headers['content-type'] || 'text/plain';
        var seq = /^\d+$/.test(headers['mxhr-seq'] || '')
            ? parseInt(headers['mxhr-seq'], 10) : null;
        if (/^base64$/i.test(headers['content-transfer-encoding'] || '')) {
            bytes = base64Decode(bytes);
        }
        var data = isTextual(type) ? decodeText(bytes, type) : null;
        return {
            headers: headers,
            contentType: type,
            seq: seq,
            id: headerOrNull(headers, 'mxhr-id'),
            channel: headerOrNull(headers, 'mxhr-channel'),
            heartbeat: !!headers['mxhr-heartbeat']
                && headers['mxhr-heartbeat'] !== '0',
            bytes: bytes,
            data: data,
            json: function () {
                return JSON.parse(data !== null ? data
                                                : decodeText(bytes, 'utf-8'));
            }
        };
    }

    var CONNECTING = 0, OPEN = 1, CLOSED = 2;
    var DEFAULT_RECONNECT = {
        initialDelay: 1000,     // ms before the first retry
        maxDelay: 30000,        // cap on the back-off
        factor: 2,
        jitter: 0.5             // each delay is drawn from [d*(1-jitter), d]
    };

    function makeEvent(type, props) {
        var ev = new Event(type);
        for (var k in props) {
            if (Object.prototype.hasOwnProperty.call(props, k)) {
                Object.defineProperty(ev, k, { value: props[k],
                                               enumerable: true });
            }
        }
        return ev;
    }

    function HttpError(status, message) {
        var e = new Error(message);
        e.status = status;
        return e;
    }

    /* 4xx other than 408 (timeout) and 429 (too many): retrying will
     * not help; 5xx and network errors may pass. */
    function retryable(status) {
        return !(status >= 400 && status < 500) || status === 408
            || status === 429;
    }

    class MxhrStream extends EventTarget {
        constructor(url, options) {
            super();
            options = options || {};
            this.url = String(url);
            this.withCredentials = !!options.withCredentials;
            this.headers = Object.assign({}, options.headers || {});
            this.reconnect = options.reconnect === false ? null
                : Object.assign({}, DEFAULT_RECONNECT, options.reconnect || {});
            this._fetch = options.fetch || globalThis.fetch.bind(globalThis);
            this._random = options.random || Math.random;
            this.readyState = CONNECTING;
            this.parts = 0;           // parts received, all connections
            this.heartbeats = 0;      // heartbeat parts (not surfaced)
            this.lastEventId = options.lastEventId === undefined
                || options.lastEventId === null || options.lastEventId === ''
                ? null : String(options.lastEventId);
            this.reconnects = 0;      // connections after the first
            this._attempt = 0;        // failures since the last good part
            this._timer = null;
            this._abort = null;
            this._closed = false;
            ['open', 'part', 'heartbeat', 'historylost', 'error', 'close',
             'statechange'].forEach((t) => {
                this['on' + t] = null;
            });
            Promise.resolve().then(() => this._connect());
        }

        dispatchEvent(ev) {
            var handler = this['on' + ev.type];
            if (typeof handler === 'function') {
                handler.call(this, ev);
            }
            return super.dispatchEvent(ev);
        }

        close() {
            if (this._closed) {
                return;
            }
            this._closed = true;
            clearTimeout(this._timer);
            if (this._abort) {
                this._abort.abort();
            }
            this._setState(CLOSED);
            this.dispatchEvent(makeEvent('close', {
                reason: 'client', willReconnect: false, clean: false }));
        }

        _setState(state) {
            if (this.readyState === state) {
                return;
            }
            var previous = this.readyState;
            this.readyState = state;
            this.dispatchEvent(makeEvent('statechange', {
                readyState: state, previous: previous }));
        }

        async _connect() {
            if (this._closed) {
                return;
            }
            this._setState(CONNECTING);
            var abort = new AbortController();
            this._abort = abort;
            var parser = null, retryAfter = 0;
            try {
                var headers = Object.assign({ Accept: 'multipart/mixed' },
                                            this.headers);
                var sentId = this.lastEventId;
                if (sentId !== null) {
                    /* ours replaces any the user gave, whatever its case */
                    Object.keys(headers).forEach((name) => {
                        if (name.toLowerCase() === 'last-event-id') {
                            delete headers[name];
                        }
                    });
                    headers['Last-Event-ID'] = sentId;
                }
                var res = await this._fetch(this.url, {
                    headers: headers,
                    credentials: this.withCredentials ? 'include'
                                                      : 'same-origin',
                    cache: 'no-store',
                    signal: abort.signal
                });
                if (!res.ok) {
                    retryAfter = parseInt(res.headers.get('retry-after'), 10);
                    throw HttpError(res.status, 'HTTP ' + res.status);
                }
                var boundary = boundaryOf(res.headers.get('content-type'));
                if (!boundary || !res.body) {
                    var notStream = HttpError(res.status,
                        'not a multipart stream: '
                        + res.headers.get('content-type'));
                    notStream.fatal = true;
                    throw notStream;
                }
                parser = new MxhrMultipartParser(boundary, (part) => {
                    this._attempt = 0;
                    if (part.heartbeat) {
                        this.heartbeats++;
                        this.dispatchEvent(makeEvent('heartbeat', {
                            seq: part.seq, headers: part.headers }));
                        return;
                    }
                    this.parts++;
                    if (part.id !== null) {
                        this.lastEventId = part.id;
                    }
                    this.dispatchEvent(makeEvent('part', part));
                });
                this._setState(OPEN);
                this.dispatchEvent(makeEvent('open', { status: res.status }));
                if (!this._closed && /^\s*lost\s*$/i.test(
                        res.headers.get('mxhr-history') || '')) {
                    this.dispatchEvent(makeEvent('historylost', {
                        lastEventId: sentId }));
                }
                var reader = res.body.getReader();
                for (;;) {
                    var r = await reader.read();
                    if (r.done) {
                        break;
                    }
                    parser.feed(r.value);
                }
            }
            catch (err) {
                if (this._closed) {
                    return;         // close() aborted the fetch
                }
                var status = err && err.status;
                var fatal = !!(err && err.fatal)
                    || (status !== undefined && !retryable(status));
                var retryIn = fatal ? null : this._schedule(retryAfter);
                this.dispatchEvent(makeEvent('error', {
                    error: err, status: status, willReconnect: !fatal,
                    retryIn: retryIn }));
                if (fatal) {
                    this._closed = true;
                    this._setState(CLOSED);
                    this.dispatchEvent(makeEvent('close', {
                        reason: 'fatal', willReconnect: false,
                        clean: false }));
                }
                else {
                    this._setState(CONNECTING);
                }
                return;
            }
            if (this._closed) {
                return;
            }
            /* The server ended the stream: come back, like EventSource.
             * A stream that gave parts resets the back-off (_attempt). */
            var clean = parser.end();
            var delay = this._schedule(0);
            this.dispatchEvent(makeEvent('close', {
                reason: 'server', willReconnect: delay !== null,
                clean: clean }));
            this._setState(delay !== null ? CONNECTING : CLOSED);
        }

        /* Arms the next attempt; returns its delay in ms, or null when
         * reconnecting is off. */
        _schedule(minSeconds) {
            if (!this.reconnect) {
                this._closed = true;
                return null;
            }
            var rc = this.reconnect;
            var d = Math.min(rc.maxDelay,
                             rc.initialDelay * Math.pow(rc.factor, this._attempt));
            d = d * (1 - rc.jitter * this._random());
            if (minSeconds > 0) {
                d = Math.max(d, minSeconds * 1000);
            }
            d = Math.round(d);
            this._attempt++;
            clearTimeout(this._timer);
            this._timer = setTimeout(() => {
                this.reconnects++;
                this._connect();
            }, d);
            return d;
        }
    }
    MxhrStream.CONNECTING = CONNECTING;
    MxhrStream.OPEN = OPEN;
    MxhrStream.CLOSED = CLOSED;

    return {
        MxhrStream: MxhrStream,
        MxhrMultipartParser: MxhrMultipartParser,
        boundaryOf: boundaryOf
    };
}));
