// The chat demo end to end: two Chromium pages on chat.html in one room
// (and one in another room) against a private httpd; messages both ways,
// then a graceful restart (the store survives: a message published while
// a page is away reaches it by Last-Event-ID) and a full stop (the store
// is lost: the pages say so and carry on with new messages).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OUT, sleep, waitFor, setUp } = require('./lib.js');

// What a page shows.
const state = (page) => page.textContent('#state');
const messages = (page) => page.$$eval('#messages li.msg', (lis) => lis.map((li) => ({
    id: li.dataset.id,
    name: li.querySelector('.name').textContent,
    text: li.querySelector('.text').textContent,
})));
const texts = async (page) => (await messages(page)).map((m) => m.text);

async function shows(page, who, text, ms = 10000) {
    await waitFor(`${who} shows "${text}"`, async () => (await texts(page)).includes(text), ms);
}

// Sends through the page's form; returns what the page says about it.
async function send(page, text) {
    await page.fill('#text', text);
    await page.click('#sendbutton');
    return waitFor(`"${text}" sent`, async () => {
        const s = await page.textContent('#sendstatus');
        if (/^not sent/.test(s)) throw new Error(`"${text}": ${s}`);
        return (await page.inputValue('#text')) === '' && /^sent/.test(s) ? s : null;
    }, 10000);
}

// Each text once, in this order (other messages may come between).
function once(list, wanted, who) {
    for (const t of wanted) {
        assert.equal(list.filter((x) => x === t).length, 1, `${who}: "${t}" once in ${JSON.stringify(list)}`);
    }
    const at = wanted.map((t) => list.indexOf(t));
    assert.deepEqual(at, [...at].sort((a, b) => a - b), `${who}: in order`);
}

// Ids are "<store>-<seq>": numerically increasing per channel.
function idKey(id) {
    const m = /^(\d+)-(\d+)$/.exec(id || '');
    assert.ok(m, `a message id: ${id}`);
    return [BigInt(m[1]), BigInt(m[2])];
}
function increasingIds(list, who) {
    for (let i = 1; i < list.length; i++) {
        const [a, b] = [idKey(list[i - 1].id), idKey(list[i].id)];
        assert.ok(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]),
            `${who}: ids increase: ${list[i - 1].id} < ${list[i].id}`);
    }
}

test('chat: two pages talk, resume over a graceful restart, carry on after a full stop', async (t) => {
    const { httpd, browser } = await setUp(t, 'mxhr-chat-');

    const room = 'e2e-' + process.pid;
    const base = `http://127.0.0.1:${httpd.port}/chat.html`;
    const pageErrors = [];
    const open = async (name) => {
        const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
        page.on('pageerror', (e) => pageErrors.push(`${name}: ${e}`));
        return page;
    };
    const A = await open('A'), B = await open('B'), C = await open('C');
    // B's stream requests: what they carry, and a way to hold one back.
    const subRequests = [];
    let hold = null;
    await B.route('**/chat/sub/**', async (route) => {
        subRequests.push(route.request().headers());
        if (hold) await hold.promise;
        await route.continue();
    });
    await A.goto(`${base}?room=${room}`);
    await B.goto(`${base}?room=${room}`);
    await C.goto(`${base}?room=${room}-other`);
    await A.fill('#name', 'alice');
    await B.fill('#name', 'bob');
    for (const [p, n] of [[A, 'A'], [B, 'B'], [C, 'C']]) {
        await waitFor(`${n} open`, async () => (await state(p)) === 'open', 10000);
    }
    assert.equal(await A.textContent('#room'), room);
    assert.equal(subRequests[0]['last-event-id'], undefined, 'a fresh page asks without an id');

    // Both ways.
    const sentA = await send(A, 'hello from A');
    assert.equal(sentA, 'sent to 2 subscribers', 'A and B subscribe to the room, C not');
    await shows(B, 'B', 'hello from A');
    await send(B, 'hello from B');
    await shows(A, 'A', 'hello from B');
    // User text is text: no element made of it, no script run.
    const evil = '<img src=x onerror="window.__xss=1">&amp; </li>';
    await send(A, evil);
    await shows(B, 'B', evil);
    for (const p of [A, B]) {
        assert.equal(await p.$$eval('#messages img', (x) => x.length), 0);
        assert.equal(await p.evaluate(() => window.__xss), undefined);
    }
    const mB = await messages(B);
    assert.deepEqual(mB.map((m) => [m.name, m.text]),
        [['alice', 'hello from A'], ['bob', 'hello from B'], ['alice', evil]]);
    assert.deepEqual((await messages(A)).map((m) => m.id), mB.map((m) => m.id),
        'both pages got the same messages with the same ids');
    increasingIds(mB, 'B');
    assert.deepEqual(await messages(C), [], 'another room hears nothing');

    // Graceful restart: the streams end, the store survives. B's
    // reconnection is held back until a message has been published.
    const lastBefore = mB[mB.length - 1].id;
    const requestsBefore = subRequests.length;
    let release;
    hold = { promise: new Promise((r) => { release = r; }) };
    httpd.ctl('graceful');
    await waitFor('B comes back and is held', () => subRequests.length > requestsBefore, 20000);
    assert.notEqual(await state(B), 'open', 'B is reconnecting');
    await send(A, 'published while B was away');
    assert.equal(subRequests[requestsBefore]['last-event-id'], lastBefore,
        'B resumes after the last message it showed');
    hold = null;
    release();
    await shows(B, 'B', 'published while B was away', 15000);
    await shows(A, 'A', 'published while B was away', 15000);
    await waitFor('B open again', async () => (await state(B)) === 'open', 10000);
    assert.equal(await B.isHidden('#lost'), true, 'no history lost over a graceful restart');
    assert.equal(await A.isHidden('#lost'), true, 'nor on A');
    await send(B, 'after graceful from B');
    await shows(A, 'A', 'after graceful from B');
    const sequence = ['hello from A', 'hello from B', evil, 'published while B was away',
                      'after graceful from B'];
    once(await texts(A), sequence, 'A');
    once(await texts(B), sequence, 'B');
    increasingIds(await messages(B), 'B');

    // Full stop: the store is gone. The pages notice, come back by
    // themselves, say that history was lost, and carry on.
    await httpd.stop();
    await waitFor('B notices the loss', async () => (await state(B)) !== 'open', 10000);
    await sleep(1000);
    await httpd.start();
    for (const [p, n] of [[A, 'A'], [B, 'B']]) {
        await waitFor(`${n} open after the restart`, async () => (await state(p)) === 'open', 30000);
        await waitFor(`${n} says history was lost`, async () => !(await p.isHidden('#lost')), 5000);
    }
    await send(A, 'after restart from A');
    await shows(B, 'B', 'after restart from A');
    await send(B, 'after restart from B');
    await shows(A, 'A', 'after restart from B');
    const all = sequence.concat(['after restart from A', 'after restart from B']);
    once(await texts(A), all, 'A');
    once(await texts(B), all, 'B');
    assert.deepEqual(await messages(C), [], 'another room still hears nothing');
    assert.notEqual(await state(C), 'closed', 'C is still trying or back');

    const shot = path.join(OUT, 'chat.png');
    await B.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 5000, `screenshot saved: ${shot}`);
    assert.deepEqual(pageErrors, [], 'no script errors on the pages');
    console.log(`# B's stream requests' Last-Event-ID: ${subRequests.map((h) => h['last-event-id']).join(', ')}`);
    console.log(`# screenshot: ${shot}`);
});
