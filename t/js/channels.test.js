// Unit tests of what htdocs/mxhr.js does with channel subscriptions
// (channels-spec.md): message ids and channels, heartbeats, base64 parts,
// Mxhr-History: lost, and Last-Event-ID on reconnect, the last against a
// small node http server that answers as mod_mxhr's subscriber does.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { MxhrStream, MxhrMultipartParser } = require('../../htdocs/mxhr.js');
const { fakeFetch, collect } = require('./helpers.js');

const enc = (s) => new TextEncoder().encode(s);

function parseChunks(boundary, chunks) {
    const parts = [];
    const p = new MxhrMultipartParser(boundary, (part) => parts.push(part));
    for (const c of chunks) {
        p.feed(typeof c === 'string' ? enc(c) : c);
    }
    return { parts, closed: p.end() };
}

function splitEvery(buf, n) {
    const out = [];
    for (let i = 0; i < buf.length; i += n) {
        out.push(buf.slice(i, i + n));
    }
    return out;
}

function joinBytes(pieces) {
    const bufs = pieces.map((x) => (typeof x === 'string' ? enc(x) : x));
    const all = new Uint8Array(bufs.reduce((n, x) => n + x.length, 0));
    let off = 0;
    for (const x of bufs) { all.set(x, off); off += x.length; }
    return all;
}

// One part as the spec has it: headers in this order, CRLF, the
// delimiter after it (the first part also gets the opening "--B").
function message(seq, id, channel, body, opts = {}) {
    const type = opts.type || 'application/json';
    let payload = typeof body === 'string' ? enc(body) : body;
    let extra = '';
    if (opts.base64) {
        payload = enc(Buffer.from(payload).toString('base64'));
        extra = 'Content-Transfer-Encoding: base64\r\n';
    }
    return joinBytes([(opts.first ? '--B' : '') + `\r\nContent-Type: ${type}\r\n`
        + `Content-Length: ${payload.length}\r\nMxhr-Seq: ${seq}\r\n`
        + `Mxhr-Id: ${id}\r\nMxhr-Channel: ${channel}\r\n${extra}\r\n`,
        payload, '\r\n--B']);
}

function heartbeat(seq, first) {
    return enc((first ? '--B' : '') + '\r\nContent-Type: text/plain\r\n'
        + `Content-Length: 0\r\nMxhr-Seq: ${seq}\r\nMxhr-Heartbeat: 1\r\n\r\n\r\n--B`);
}

test('parser: e.id and e.channel from Mxhr-Id and Mxhr-Channel, null without', () => {
    const wire = joinBytes([
        message(1, '1764480000123456-41', 'lobby', '{"text":"hi"}', { first: true }),
        message(2, '1764480000123456-42', 'news', '{"text":"ho"}'),
        // a clock part: no id, no channel
        '\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nMxhr-Seq: 3\r\n\r\nab\r\n--B--\r\n',
    ]);
    const { parts, closed } = parseChunks('B', splitEvery(wire, 7));
    assert.equal(closed, true);
    assert.deepEqual(parts.map((p) => [p.seq, p.id, p.channel]), [
        [1, '1764480000123456-41', 'lobby'],
        [2, '1764480000123456-42', 'news'],
        [3, null, null],
    ]);
    assert.deepEqual(parts[1].json(), { text: 'ho' });
});

test('parser: heartbeat parts are flagged, messages are not', () => {
    const wire = joinBytes([heartbeat(1, true),
        message(2, '5-1', 'lobby', 'x', { type: 'text/plain' }), '--']);
    const { parts } = parseChunks('B', [wire]);
    assert.deepEqual(parts.map((p) => [p.seq, p.heartbeat]), [[1, true], [2, false]]);
    assert.equal(parts[0].bytes.length, 0);
    assert.equal(parts[0].id, null);
});

test('parser: base64 parts are decoded to the published bytes', () => {
    // What makes the server encode: the body holds "--<boundary>".
    const text = 'say\r\n--B\r\nContent-Type: text/html\r\n\r\n<b>--B--</b> é€😀';
    const binary = Uint8Array.from([0, 255, 13, 10, 45, 45, 66, 13, 10, 128, 61, 0, 251]);
    // Every padding case (length % 3), empty included.
    const short = [0, 1, 2, 3, 4, 5].map((n) => binary.slice(0, n));
    const wire = joinBytes([
        message(1, '9-1', 'lobby', text, { first: true, type: 'text/plain; charset=utf-8', base64: true }),
        message(2, '9-2', 'lobby', binary, { type: 'application/octet-stream', base64: true }),
        ...short.map((b, i) => message(3 + i, `9-${3 + i}`, 'lobby', b,
            { type: 'application/octet-stream', base64: true })),
        // an encoder that breaks lines every 76 characters (RFC 2045)
        '\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\n'
            + Buffer.from('x'.repeat(100)).toString('base64').replace(/.{76}/g, '$&\r\n')
            + '\r\n--B--',
    ]);
    for (const n of [1, 5, wire.length]) {
        const { parts, closed } = parseChunks('B', splitEvery(wire, n));
        assert.equal(closed, true, `chunks of ${n}`);
        assert.equal(parts.length, 9, `chunks of ${n}`);
        assert.equal(parts[0].data, text, `chunks of ${n}: text`);
        assert.deepEqual(Buffer.from(parts[0].bytes), Buffer.from(text));
        assert.deepEqual(Array.from(parts[1].bytes), Array.from(binary), `chunks of ${n}: binary`);
        assert.equal(parts[1].data, null);
        short.forEach((b, i) => assert.deepEqual(Array.from(parts[2 + i].bytes), Array.from(b),
            `chunks of ${n}: ${b.length} bytes`));
        assert.equal(parts[8].data, 'x'.repeat(100), 'line-broken base64');
        // the headers still say how it came
        assert.equal(parts[1].headers['content-transfer-encoding'], 'base64');
        assert.equal(parts[1].headers['content-length'],
            String(Buffer.from(binary).toString('base64').length));
    }
});

// --- MxhrStream with a fake fetch, as in stream.test.js ---

// A response whose body yields the given chunks, then ends (or, with
// stayOpen, waits for more that never come).
function multipart(chunks, headers = {}, stayOpen = false) {
    const body = new ReadableStream({
        start(c) {
            for (const x of chunks) c.enqueue(typeof x === 'string' ? enc(x) : x);
            if (!stayOpen) c.close();
        },
    });
    return new Response(body, { status: 200, headers: Object.assign(
        { 'Content-Type': 'multipart/mixed; boundary="B"' }, headers) });
}

const until = (what, cond, ms = 3000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    (function poll() {
        if (cond()) return resolve();
        if (Date.now() - t0 > ms) return reject(new Error(`timed out: ${what}`));
        setTimeout(poll, 2);
    })();
});

test('stream: heartbeats are never parts; counted, and a heartbeat event', async () => {
    const f = fakeFetch([() => multipart([
        heartbeat(1, true), message(2, '3-7', 'lobby', '{"n":1}'),
        heartbeat(3), heartbeat(4), message(5, '3-8', 'lobby', '{"n":2}'), '--\r\n'])]);
    const s = new MxhrStream('/chat/sub/lobby', { fetch: f, reconnect: false });
    const log = collect(s, ['part', 'heartbeat', 'close']);
    let onheartbeat = 0;
    s.onheartbeat = () => onheartbeat++;
    await until('stream ends', () => s.readyState === MxhrStream.CLOSED);
    assert.deepEqual(log.map((e) => e.type),
        ['heartbeat', 'part', 'heartbeat', 'heartbeat', 'part', 'close']);
    const parts = log.filter((e) => e.type === 'part');
    assert.deepEqual(parts.map((e) => [e.seq, e.id, e.channel, e.json().n]),
        [[2, '3-7', 'lobby', 1], [5, '3-8', 'lobby', 2]]);
    assert.deepEqual(log.filter((e) => e.type === 'heartbeat').map((e) => e.seq), [1, 3, 4]);
    assert.equal(s.parts, 2, 'heartbeats are not counted as parts');
    assert.equal(s.heartbeats, 3);
    assert.equal(onheartbeat, 3, 'onheartbeat fires too');
    assert.equal(s.lastEventId, '3-8', 'the last message id, whatever heartbeats came after');
});

test('stream: a heartbeat resets the back-off like a part does', async () => {
    let n = 0;
    const f = fakeFetch([() => {
        n++;
        if (n <= 3 || n === 5) throw new TypeError('down');
        return multipart([heartbeat(1, true)]);    // ends without closing
    }]);
    const s = new MxhrStream('/s', { fetch: f,
        reconnect: { initialDelay: 2, maxDelay: 1000, jitter: 0 } });
    const errors = collect(s, ['error']);
    await until('four failures', () => errors.length >= 4);
    s.close();
    // 3 failures (2, 4, 8), a heartbeat-only stream, then back to 2 ms
    // after its end (4) and the next failure (errors[3]).
    assert.deepEqual(errors.map((e) => e.retryIn).slice(0, 4), [2, 4, 8, 4]);
    assert.equal(s.parts, 0);
    assert.equal(s.heartbeats, 1);
});

test('stream: historylost comes after open and before the first part', async () => {
    const f = fakeFetch([
        () => multipart([message(1, '20-5', 'lobby', '{}', { first: true })],
                        { 'Mxhr-History': 'lost' }),
        () => multipart([message(1, '20-6', 'lobby', '{}', { first: true })], {}, true),
    ]);
    const s = new MxhrStream('/s', { fetch: f, lastEventId: '19-99',
        reconnect: { initialDelay: 1, jitter: 0 } });
    const log = collect(s, ['open', 'historylost', 'part']);
    let onhistorylost = null;
    s.onhistorylost = (e) => { onhistorylost = e; };
    await until('two connections', () => s.parts >= 2);
    s.close();
    assert.deepEqual(log.map((e) => e.type), ['open', 'historylost', 'part', 'open', 'part'],
        'once, on the response that says so');
    assert.equal(log[1].lastEventId, '19-99', 'names the id that was asked for');
    assert.equal(onhistorylost, log[1], 'onhistorylost fires too');
    assert.equal(f.calls[1].init.headers['Last-Event-ID'], '20-5');
});

test('stream: the lastEventId option is sent on the first connection', async () => {
    const f = fakeFetch([() => multipart(['--B--'])]);
    const s1 = new MxhrStream('/s', { fetch: f, reconnect: false, lastEventId: '42-7',
        headers: { 'X-Room': 'lobby', 'last-event-id': 'stale' } });
    await until('first', () => s1.readyState === MxhrStream.CLOSED);
    const h = f.calls[0].init.headers;
    assert.equal(h['Last-Event-ID'], '42-7');
    assert.equal(h['last-event-id'], undefined, 'one Last-Event-ID, ours');
    assert.equal(h['X-Room'], 'lobby', 'user headers kept');
    assert.equal(h.Accept, 'multipart/mixed');
    assert.equal(s1.lastEventId, '42-7');
    const s2 = new MxhrStream('/s', { fetch: f, reconnect: false });
    await until('second', () => s2.readyState === MxhrStream.CLOSED);
    assert.equal(s2.lastEventId, null);
    assert.ok(!('Last-Event-ID' in f.calls[1].init.headers), 'none without an id');
});

// --- Against a real HTTP server (node's fetch), resuming as the spec says ---

// A subscriber endpoint with a message store: it resumes after the
// request's Last-Event-ID (Mxhr-History: lost and from the oldest when it
// does not have that id; without an id, it replays the whole store).
// Each connection's script says how the stream then ends.
function specServer(script) {
    const requests = [];
    let store = [];
    const srv = http.createServer((req, res) => {
        const n = requests.length;
        requests.push(req.headers);
        const step = script[Math.min(n, script.length - 1)];
        if (step.before) store = step.before(store);
        const last = req.headers['last-event-id'];
        let from = 0, lost = false;
        if (last !== undefined) {
            const i = store.findIndex((m) => m.id === last);
            if (i >= 0) from = i + 1; else lost = true;
        }
        const headers = { 'Content-Type': 'multipart/mixed; boundary="B"',
                          'Cache-Control': 'no-cache' };
        if (lost) headers['Mxhr-History'] = 'lost';
        res.writeHead(200, headers);
        let seq = 0;
        res.write('--B');
        for (const m of store.slice(from)) {
            res.write(message(++seq, m.id, 'lobby', JSON.stringify(m.body)));
        }
        if (step.heartbeat) res.write(heartbeat(++seq));
        if (step.end === 'clean') {
            res.end('--\r\n');          // closing delimiter: graceful restart
        } else if (step.end === 'cut') {
            setTimeout(() => res.socket.destroy(), 20);     // a crash
        }
        if (step.after) store = step.after(store);
        // else: stays open until the client goes
    });
    return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
        resolve({ srv, requests, url: `http://127.0.0.1:${srv.address().port}/chat/sub/lobby` })));
}

const msg = (id, text) => ({ id, body: { name: 'a', text } });

test('stream: Last-Event-ID on every reconnect, against a node http server', async (t) => {
    const { srv, requests, url } = await specServer([
        // no id: the server replays its store, a heartbeat, then ends
        // cleanly; two more are published while the client is away
        { before: () => [msg('7-1', 'one'), msg('7-2', 'two')], heartbeat: true, end: 'clean',
          after: (st) => st.concat([msg('7-3', 'three'), msg('7-4', 'four')]) },
        // resumed after 7-2, then the connection breaks, and the server
        // loses its store (a full stop) and starts a new one
        { end: 'cut', after: () => [msg('8-1', 'after restart')] },
        // resumed after 7-4, which the new store does not have
        { end: 'open' },
    ]);
    const s = new MxhrStream(url, { headers: { 'X-Room': 'lobby' },
        reconnect: { initialDelay: 5, jitter: 0 } });
    t.after(() => { s.close(); srv.closeAllConnections(); srv.close(); });
    const log = collect(s, ['open', 'historylost', 'part', 'error', 'close']);
    await until('the message after the restart', () => s.parts >= 5 || requests.length > 3);

    assert.deepEqual(requests.map((h) => h['last-event-id']), [undefined, '7-2', '7-4'],
        'the first without an id, then the last id seen');
    assert.ok(requests.every((h) => h['x-room'] === 'lobby'), 'user headers on every request');
    const parts = log.filter((e) => e.type === 'part');
    assert.deepEqual(parts.map((e) => [e.id, e.json().text]), [
        ['7-1', 'one'], ['7-2', 'two'], ['7-3', 'three'], ['7-4', 'four'],
        ['8-1', 'after restart']], 'nothing missed, nothing twice');
    assert.equal(s.heartbeats, 1);
    assert.deepEqual(log.map((e) => e.type).filter((x) => x !== 'part'),
        ['open', 'close', 'open', 'error', 'open', 'historylost'],
        'clean end, cut connection, then history lost on the new store');
    assert.equal(log.find((e) => e.type === 'close').clean, true);
    assert.equal(log.find((e) => e.type === 'historylost').lastEventId, '7-4');
    assert.equal(s.lastEventId, '8-1');
    assert.equal(s.readyState, MxhrStream.OPEN);
});
