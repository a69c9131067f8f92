// Unit tests of MxhrStream (connect, events, reconnect, back-off) with a
// fake fetch that serves real Response objects with streamed bodies.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { MxhrStream } = require('../../htdocs/mxhr.js');
const { fakeFetch, collect } = require('./helpers.js');

const enc = (s) => new TextEncoder().encode(s);

function part(seq, body, first) {
    return (first ? '--B' : '') + '\r\nContent-Type: text/plain\r\n'
        + `Content-Length: ${body.length}\r\nMxhr-Seq: ${seq}\r\n\r\n${body}\r\n--B`;
}

// A response whose body yields the given chunks, then ends.
function multipart(chunks, status = 200) {
    const body = new ReadableStream({
        start(c) {
            for (const x of chunks) c.enqueue(enc(x));
            c.close();
        },
    });
    return new Response(body, { status,
        headers: { 'Content-Type': 'multipart/mixed; boundary="B"' } });
}

const until = (cond, ms = 2000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    (function poll() {
        if (cond()) return resolve();
        if (Date.now() - t0 > ms) return reject(new Error('timed out'));
        setTimeout(poll, 2);
    })();
});

test('open, parts, server end, reconnect, close()', async () => {
    const f = fakeFetch([() => multipart([part(1, 'a', true), part(2, 'b') + '--\r\n'])]);
    const s = new MxhrStream('/s', { fetch: f, reconnect: { initialDelay: 5, jitter: 0 } });
    const log = collect(s, ['open', 'part', 'close', 'statechange']);
    let onpart = 0;
    s.onpart = () => onpart++;
    assert.equal(s.readyState, MxhrStream.CONNECTING);
    await until(() => f.calls.length >= 2 && s.parts >= 4);
    s.close();
    assert.equal(s.readyState, MxhrStream.CLOSED);
    const parts = log.filter((e) => e.type === 'part');
    assert.deepEqual(parts.slice(0, 2).map((e) => [e.seq, e.data]), [[1, 'a'], [2, 'b']]);
    assert.equal(onpart, s.parts, 'on<event> handlers fire too');
    const closes = log.filter((e) => e.type === 'close');
    assert.equal(closes[0].reason, 'server');
    assert.equal(closes[0].clean, true);
    assert.equal(closes[0].willReconnect, true);
    assert.equal(closes.at(-1).reason, 'client');
    assert.ok(s.reconnects >= 1);
    const states = log.filter((e) => e.type === 'statechange').map((e) => e.readyState);
    assert.deepEqual(states.slice(0, 3), [MxhrStream.OPEN, MxhrStream.CONNECTING, MxhrStream.OPEN]);
    assert.equal(states.at(-1), MxhrStream.CLOSED);
    const n = f.calls.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(f.calls.length, n, 'no reconnect after close()');
});

test('request: Accept multipart/mixed, extra headers, credentials', async () => {
    const f = fakeFetch([() => multipart([part(1, 'x', true)])]);
    const s = new MxhrStream('/s', { fetch: f, withCredentials: true,
        headers: { 'X-Token': 't1' }, reconnect: false });
    await until(() => f.calls.length === 1 && s.readyState === MxhrStream.CLOSED);
    const init = f.calls[0].init;
    assert.equal(init.headers.Accept, 'multipart/mixed');
    assert.equal(init.headers['X-Token'], 't1');
    assert.equal(init.credentials, 'include');
    assert.equal(init.cache, 'no-store');
    const s2 = new MxhrStream('/s', { fetch: f, reconnect: false });
    await until(() => s2.readyState === MxhrStream.CLOSED);
    assert.equal(f.calls[1].init.credentials, 'same-origin');
});

test('a 4xx stops for good', async () => {
    const f = fakeFetch([() => new Response('nope', { status: 404 })]);
    const s = new MxhrStream('/s', { fetch: f, reconnect: { initialDelay: 1 } });
    const log = collect(s, ['error', 'close']);
    await until(() => s.readyState === MxhrStream.CLOSED);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(f.calls.length, 1);
    assert.equal(log[0].type, 'error');
    assert.equal(log[0].status, 404);
    assert.equal(log[0].willReconnect, false);
    assert.equal(log[1].reason, 'fatal');
});

test('a response that is not multipart stops for good', async () => {
    const f = fakeFetch([() => new Response('hi', { headers: { 'Content-Type': 'text/html' } })]);
    const s = new MxhrStream('/s', { fetch: f });
    const log = collect(s, ['error']);
    await until(() => s.readyState === MxhrStream.CLOSED);
    assert.match(String(log[0].error.message), /not a multipart stream/);
});

test('5xx and network errors retry with capped exponential back-off', async () => {
    let n = 0;
    const f = fakeFetch([() => {
        n++;
        if (n % 2) throw new TypeError('network down');
        return new Response('busy', { status: 503 });
    }]);
    const s = new MxhrStream('/s', { fetch: f,
        reconnect: { initialDelay: 4, maxDelay: 32, factor: 2, jitter: 0 } });
    const errors = collect(s, ['error']);
    await until(() => errors.length >= 6);
    s.close();
    assert.deepEqual(errors.slice(0, 6).map((e) => e.retryIn), [4, 8, 16, 32, 32, 32]);
    assert.ok(errors.every((e) => e.willReconnect));
    assert.equal(errors[1].status, 503);
    assert.equal(s.readyState, MxhrStream.CLOSED);
});

test('jitter draws each delay from [d*(1-jitter), d]', async () => {
    const f = fakeFetch([() => { throw new TypeError('down'); }]);
    const draws = [1, 0, 0.5];
    const s = new MxhrStream('/s', { fetch: f, random: () => draws.shift() ?? 0,
        reconnect: { initialDelay: 100, maxDelay: 1000, jitter: 0.5 } });
    const errors = collect(s, ['error']);
    await until(() => errors.length >= 1);
    s.close();
    assert.equal(errors[0].retryIn, 50);
});

test('Retry-After is honoured', async () => {
    const f = fakeFetch([() => new Response('', { status: 503, headers: { 'Retry-After': '3' } })]);
    const s = new MxhrStream('/s', { fetch: f, reconnect: { initialDelay: 1 } });
    const errors = collect(s, ['error']);
    await until(() => errors.length >= 1);
    s.close();
    assert.equal(errors[0].retryIn, 3000);
});

test('parts reset the back-off', async () => {
    let n = 0;
    const f = fakeFetch([() => {
        n++;
        if (n <= 3) throw new TypeError('down');
        return multipart([part(1, 'ok', true)]);   // ends without closing
    }]);
    const s = new MxhrStream('/s', { fetch: f,
        reconnect: { initialDelay: 2, maxDelay: 1000, jitter: 0 } });
    const log = collect(s, ['error', 'close', 'part']);
    await until(() => log.filter((e) => e.type === 'close').length >= 1);
    s.close();
    assert.deepEqual(log.filter((e) => e.type === 'error').map((e) => e.retryIn), [2, 4, 8]);
    const close = log.find((e) => e.type === 'close');
    assert.equal(close.clean, false, 'no closing delimiter was seen');
    assert.equal(close.reason, 'server');
});

test('close() during a pending connection aborts it quietly', async () => {
    let aborted = false;
    const f = fakeFetch([(init) => new Promise((_, reject) => {
        init.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new DOMException('aborted', 'AbortError'));
        });
    })]);
    const s = new MxhrStream('/s', { fetch: f });
    const log = collect(s, ['error', 'close']);
    await until(() => f.calls.length === 1);
    s.close();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(aborted, true);
    assert.deepEqual(log.map((e) => e.type), ['close']);
});
