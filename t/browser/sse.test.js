// Server-sent events (issue 9) in Chromium's own EventSource, no
// library: a private httpd with the demo config (scripts/private-httpd.sh)
// plus a subscriber location of our own (MxhrSseRetry 300ms, so that
// reconnecting is quick; ?c= names one channel or several) and an
// access log that records each request's Last-Event-ID.
//  - one channel: onmessage gets every message, line ends made LF, the
//    id as lastEventId; base64 and named events by addEventListener;
//    the demo's /chat/sub/<room> serves EventSource too (replay, live);
//  - several channels: named events, one per channel, onmessage none;
//  - a graceful restart: the page hears mxhr-close "restart", comes
//    back by itself with Last-Event-ID (seen in the server's access log;
//    Playwright's view of the request lacks that header) while we hold
//    the request back to publish meanwhile, and gets what it missed,
//    each message once; three restarts in a row, never CLOSED;
//  - a full stop and start (the store is emptied): the page comes back
//    and the first event is mxhr-history-lost, then new messages;
//  - DELETE: mxhr-close "deleted"; a page that closes on it, as the
//    README shows, does not come back.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sleep, waitFor, setUp } = require('./lib.js');

const EXTRA = (dir) => `
# ---- sse.test.js
LogFormat "%r %>s lei=[%{Last-Event-ID}i]" sse_lei
CustomLog ${dir}/logs/sse_access_log sse_lei
<Location /sse/sub>
    SetHandler mxhr-stream
    MxhrChannel "%{mxhr_arg:c}"
    MxhrSseRetry 300ms
    MxhrHeartbeat 5s
</Location>
<Location /sse/pub>
    SetHandler mxhr-publish
    MxhrChannel "%{mxhr_arg:c}"
    Require local
</Location>
`;

// The page: EventSource and a log of everything it hears.
const PAGE = `<!doctype html>
<meta charset="utf-8"><title>sse test</title>
<script>
window.log = [];
window.openStream = function (url, names, closeOn) {
    const es = new EventSource(url);
    window.es = es;
    const rec = (kind) => (e) => {
        log.push({ kind, type: e.type, data: e.data, id: e.lastEventId, t: Date.now() });
        if (e.type === 'mxhr-close' && (closeOn || []).includes(e.data)) es.close();
    };
    es.onopen = () => log.push({ kind: 'open', t: Date.now() });
    es.onerror = () => log.push({ kind: 'error', state: es.readyState, t: Date.now() });
    es.onmessage = rec('onmessage');
    for (const n of ['mxhr-history-lost', 'mxhr-close', 'message-base64'].concat(names || [])) {
        es.addEventListener(n, rec('listener'));
    }
};
</script>
`;

let uniq = 0;
const channel = (what) => `sse-${what}-${process.pid}-${++uniq}`;

// A test's httpd with our locations, and Chromium on our page.
async function start(t, prefix) {
    const { httpd, browser } = await setUp(t, prefix);
    fs.appendFileSync(path.join(httpd.dir, 'httpd.conf'), EXTRA(httpd.dir));
    fs.writeFileSync(path.join(httpd.dir, 'htdocs', 'sse-test.html'), PAGE, { mode: 0o644 });
    httpd.ctl('graceful');
    const base = `http://127.0.0.1:${httpd.port}`;
    await waitFor('our locations served', async () => {
        const r = await fetch(`${base}/sse/pub?c=probe`, { method: 'POST', body: 'x' }).catch(() => null);
        return r && (r.status === 201 || r.status === 202);
    }, 10000);
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/sse-test.html`);
    return { httpd, browser, page, base, pageErrors };
}

async function publish(base, ch, body, headers = {}, where = `/sse/pub?c=${encodeURIComponent(ch)}`) {
    const r = await fetch(base + where, { method: 'POST', body, headers });
    assert.ok(r.status === 201 || r.status === 202, `publish to ${ch}: ${r.status}`);
    return (await r.json()).id;
}

async function subscribers(base, where) {
    const r = await fetch(base + where).catch(() => null);
    return r && r.status === 200 ? (await r.json()).subscribers : 0;
}

const log = (page) => page.evaluate(() => window.log);
const heard = async (page) => (await log(page)).filter((e) => e.kind === 'onmessage' || e.kind === 'listener');
const opens = async (page) => (await log(page)).filter((e) => e.kind === 'open').length;

async function hears(page, what, pred, ms = 10000) {
    return waitFor(what, async () => (await heard(page)).find(pred), ms);
}

function accessLines(httpd, ch) {
    const file = path.join(httpd.dir, 'logs', 'sse_access_log');
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n')
        .filter((l) => l.startsWith(`GET /sse/sub?c=${ch} `));
}

test('one channel: onmessage, ids, line ends, base64, named; the demo location too', async (t) => {
    const { browser, page, base, pageErrors } = await start(t, 'mxhr-sse1-');
    const ch = channel('one');
    await page.evaluate(([c]) => window.openStream(`/sse/sub?c=${c}`, ['named1']), [ch]);
    await waitFor('open', async () => (await opens(page)) === 1, 10000);
    await waitFor('subscribed', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);

    const bodies = ['hello', 'multi\r\nline\rcr\nlf', '', 'x\nid: forged\nevent: evil\n\ndata: y',
                    'caf\u00e9 \u2713 \u{1F389}'];
    const ids = [];
    for (const b of bodies) ids.push(await publish(base, ch, b, { 'Content-Type': 'text/plain' }));
    const bin = Uint8Array.from([0xff, 0xfe, 0x00, 0x62, 0x69, 0x6e, 0x80]);
    ids.push(await publish(base, ch, bin, { 'Content-Type': 'application/octet-stream' }));
    ids.push(await publish(base, ch, 'with a name', { 'X-EventSource-Event': 'named1' }));
    await hears(page, 'the named event', (e) => e.type === 'named1');

    const got = await heard(page);
    const msgs = got.filter((e) => e.kind === 'onmessage');
    assert.deepEqual(msgs.map((e) => e.data),
        ['hello', 'multi\nline\ncr\nlf', '', 'x\nid: forged\nevent: evil\n\ndata: y',
         'caf\u00e9 \u2713 \u{1F389}'],
        'onmessage: every text message, line ends made LF, nothing in a body taken as a field');
    assert.deepEqual(msgs.map((e) => e.id), ids.slice(0, 5), 'lastEventId is each message id');
    assert.ok(msgs.every((e) => e.type === 'message'), 'all of type message');
    const b64 = got.filter((e) => e.type === 'message-base64');
    assert.equal(b64.length, 1, 'the binary message as message-base64');
    const bytes = Buffer.from(b64[0].data.replace(/\n/g, ''), 'base64');
    assert.deepEqual([...bytes], [...bin], 'its base64 decodes to the exact bytes');
    assert.equal(b64[0].id, ids[5], 'with its id');
    const named = got.filter((e) => e.type === 'named1');
    assert.deepEqual(named.map((e) => [e.data, e.id, e.kind]), [['with a name', ids[6], 'listener']],
        'X-EventSource-Event: an event of that name, not onmessage');
    assert.equal(got.length, 7, 'nothing else (heartbeats are invisible)');
    assert.equal(await opens(page), 1, 'one connection all along');

    // The demo's chat location (MxhrChannelReplay 20) serves EventSource
    // as it is: two messages before, one after.
    const room = `sse${process.pid}`;
    const r1 = await publish(base, room, '{"name":"a","text":"one"}', {}, `/chat/pub/${room}`);
    const r2 = await publish(base, room, '{"name":"b","text":"two"}', {}, `/chat/pub/${room}`);
    const demo = await browser.newPage();
    await demo.goto(`${base}/sse-test.html`);
    await demo.evaluate(([r]) => window.openStream(`/chat/sub/${r}`, []), [room]);
    await hears(demo, 'the replay', (e) => e.id === r2);
    const r3 = await publish(base, room, '{"name":"c","text":"three"}', {}, `/chat/pub/${room}`);
    await hears(demo, 'the live one', (e) => e.id === r3);
    const d = await heard(demo);
    assert.deepEqual(d.map((e) => [e.kind, e.id, JSON.parse(e.data).text]),
        [['onmessage', r1, 'one'], ['onmessage', r2, 'two'], ['onmessage', r3, 'three']],
        'demo location: replayed and live messages through onmessage');
    assert.deepEqual(pageErrors, [], 'no script errors');
});

test('several channels: named events, one per channel', async (t) => {
    const { page, base } = await start(t, 'mxhr-sse2-');
    const [a, b] = [channel('a'), channel('b')];
    await page.evaluate(([x, y]) => window.openStream(`/sse/sub?c=${x},${y}`, [x, y, 'custom']), [a, b]);
    await waitFor('subscribed to both', async () =>
        (await subscribers(base, `/sse/pub?c=${a}`)) === 1 && (await subscribers(base, `/sse/pub?c=${b}`)) === 1, 10000);
    const ids = [];
    ids.push(await publish(base, a, 'to a'));
    ids.push(await publish(base, b, 'to b'));
    ids.push(await publish(base, a, 'to a again'));
    ids.push(await publish(base, b, 'custom name', { 'X-EventSource-Event': 'custom' }));
    await hears(page, 'the custom event', (e) => e.type === 'custom');
    const got = await heard(page);
    assert.deepEqual(got.map((e) => [e.kind, e.type, e.data, e.id]), [
        ['listener', a, 'to a', ids[0]],
        ['listener', b, 'to b', ids[1]],
        ['listener', a, 'to a again', ids[2]],
        ['listener', 'custom', 'custom name', ids[3]],
    ], 'each channel its own event name (the publisher may name it), in id order; onmessage nothing');
});

test('graceful restart: EventSource comes back with Last-Event-ID and gets what it missed', async (t) => {
    const { httpd, page, base } = await start(t, 'mxhr-sse3-');
    const ch = channel('graceful');
    // The stream's requests, and a way to hold one back.
    const requests = [];
    let hold = null;
    await page.route('**/sse/sub?**', async (route) => {
        requests.push(await route.request().allHeaders());
        if (hold) await hold.promise;
        await route.continue();
    });
    await page.evaluate(([c]) => window.openStream(`/sse/sub?c=${c}`, []), [ch]);
    await waitFor('subscribed', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    const m1 = await publish(base, ch, 'before 1');
    const m2 = await publish(base, ch, 'before 2');
    await hears(page, 'm2', (e) => e.id === m2);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]['last-event-id'], undefined, 'the first request has no Last-Event-ID');

    let release;
    hold = { promise: new Promise((r) => { release = r; }) };
    httpd.ctl('graceful');
    await hears(page, 'mxhr-close: restart', (e) => e.type === 'mxhr-close');
    await waitFor('EventSource comes back by itself', () => requests.length >= 2, 15000);
    const state = await page.evaluate(() => window.es.readyState);
    assert.equal(state, 0, 'CONNECTING while we hold it');
    const m3 = await publish(base, ch, 'while away');
    hold = null;
    release();
    await hears(page, 'what it missed', (e) => e.id === m3, 15000);
    await waitFor('open again', async () => (await opens(page)) === 2, 10000);
    const m4 = await publish(base, ch, 'after');
    await hears(page, 'a live one', (e) => e.id === m4);

    const got = await heard(page);
    assert.deepEqual(got.map((e) => [e.type, e.data, e.id]), [
        ['message', 'before 1', m1],
        ['message', 'before 2', m2],
        ['mxhr-close', 'restart', m2],
        ['message', 'while away', m3],
        ['message', 'after', m4],
    ], 'every message once, in order; the restart said; no history lost');
    assert.equal(await page.evaluate(() => window.es.readyState), 1, 'OPEN');
    // The server saw the header too.
    const lines = accessLines(httpd, ch);
    assert.equal(lines.length, 2, `two requests in the access log: ${lines.join(' | ')}`);
    assert.match(lines[0], / 200 lei=\[-?\]$/, 'the first without Last-Event-ID');
    assert.ok(lines[1].endsWith(` 200 lei=[${m2}]`), `the second with it: ${lines[1]}`);
    console.log(`# the reconnection in the access log: ${lines[1]}`);
});

test('graceful restart without holding the browser back: it stays connected', async (t) => {
    const { httpd, page, base } = await start(t, 'mxhr-sse4-');
    const ch = channel('again');
    await page.evaluate(([c]) => window.openStream(`/sse/sub?c=${c}`, []), [ch]);
    await waitFor('subscribed', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    const ids = [];
    for (let i = 1; i <= 3; i++) {
        ids.push(await publish(base, ch, `round ${i}`));
        await hears(page, `round ${i}`, (e) => e.id === ids[ids.length - 1]);
        httpd.ctl('graceful');
        await waitFor(`open again after restart ${i}`, async () => (await opens(page)) === i + 1, 15000);
        await waitFor(`subscribed again after restart ${i}`,
            async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    }
    ids.push(await publish(base, ch, 'last'));
    await hears(page, 'the last', (e) => e.id === ids[3]);
    const got = (await heard(page)).filter((e) => e.type === 'message');
    assert.deepEqual(got.map((e) => e.data), ['round 1', 'round 2', 'round 3', 'last'],
        'every message once over three restarts');
    const errors = (await log(page)).filter((e) => e.kind === 'error');
    assert.ok(errors.every((e) => e.state === 0), `never CLOSED: ${JSON.stringify(errors)}`);
    const lines = accessLines(httpd, ch);
    assert.deepEqual(lines.map((l) => l.replace(/.* (\d+) lei=/, '$1 ')),
        ['200 [-]', `200 [${ids[0]}]`, `200 [${ids[1]}]`, `200 [${ids[2]}]`],
        'the server saw each reconnection with the last id, each answered 200');
});

test('full stop: the store is gone, the lost signal arrives as an event', async (t) => {
    const { httpd, page, base } = await start(t, 'mxhr-sse5-');
    const ch = channel('lost');
    await page.evaluate(([c]) => window.openStream(`/sse/sub?c=${c}`, []), [ch]);
    await waitFor('subscribed', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    const p1 = await publish(base, ch, 'before the stop');
    await hears(page, 'p1', (e) => e.id === p1);
    await httpd.stop();
    await waitFor('the page notices', async () => (await log(page)).some((e) => e.kind === 'error'), 10000);
    await sleep(500);
    await httpd.start();
    await hears(page, 'mxhr-history-lost', (e) => e.type === 'mxhr-history-lost', 20000);
    await waitFor('subscribed again', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    const p2 = await publish(base, ch, 'after the start');
    await hears(page, 'p2', (e) => e.id === p2);
    const got = await heard(page);
    assert.deepEqual(got.map((e) => [e.kind, e.type, e.data]), [
        ['onmessage', 'message', 'before the stop'],
        ['listener', 'mxhr-close', 'restart'],
        ['listener', 'mxhr-history-lost', 'lost'],
        ['onmessage', 'message', 'after the start'],
    ], 'the stop said, then lost history first, then new messages');
    assert.equal(got[2].id, p1, 'the lost event carries no id: lastEventId is still the last message');
    const [s1] = p1.split('-').map(BigInt);
    const [s2] = p2.split('-').map(BigInt);
    assert.ok(s2 > s1, `a new store: ${p2} after ${p1}`);
    assert.ok(accessLines(httpd, ch).some((l) => l.endsWith(` 200 lei=[${p1}]`)),
        'the server saw the old id');
});

test('DELETE: mxhr-close "deleted"; a page that closes on it stays closed', async (t) => {
    const { httpd, page, base } = await start(t, 'mxhr-sse6-');
    const ch = channel('deleted');
    await page.evaluate(([c]) => window.openStream(`/sse/sub?c=${c}`, [], ['deleted', 'limit']), [ch]);
    await waitFor('subscribed', async () => (await subscribers(base, `/sse/pub?c=${ch}`)) === 1, 10000);
    const m = await publish(base, ch, 'last words');
    await hears(page, 'the message', (e) => e.id === m);
    const r = await fetch(`${base}/sse/pub?c=${ch}`, { method: 'DELETE' });
    assert.equal(r.status, 200);
    await hears(page, 'mxhr-close', (e) => e.type === 'mxhr-close');
    await sleep(1500);   // five retry delays
    assert.equal(await page.evaluate(() => window.es.readyState), 2, 'CLOSED');
    const got = await heard(page);
    assert.deepEqual(got.map((e) => [e.type, e.data]), [['message', 'last words'], ['mxhr-close', 'deleted']]);
    assert.equal(accessLines(httpd, ch).length, 1, 'no reconnection');
});
