// End to end in a real browser: Debian's Chromium, driven by
// playwright-core, against a private httpd with the demo page and stream.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OUT, sleep, waitFor, setUp } = require('./lib.js');

// Seconds since midnight of an HH:MM:SS.mmm string.
function secondsOf(t) {
    const m = /^(\d\d):(\d\d):(\d\d)\.(\d{3})$/.exec(t);
    return m ? m[1] * 3600 + m[2] * 60 + m[3] * 1 + m[4] / 1000 : NaN;
}
function increasing(a, b) {
    const d = secondsOf(b) - secondsOf(a);
    return d > 0 || d < -86000;   // or past midnight
}

test('the demo page streams, reconnects after a restart, and is screenshot', async (t) => {
    const { httpd, browser } = await setUp(t, 'mxhr-e2e-');
    const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const base = `http://127.0.0.1:${httpd.port}/`;
    await page.goto(base);

    // Successive, increasing server times (a section a second).
    const seen = [];
    const t0 = Date.now();
    await waitFor('three increasing times', async () => {
        const v = await page.textContent('#time');
        if (secondsOf(v) && v !== seen[seen.length - 1]) seen.push(v);
        return seen.length >= 3;
    }, 8000);
    const took = Date.now() - t0;
    for (let i = 1; i < seen.length; i++) {
        assert.ok(increasing(seen[i - 1], seen[i]), `${seen[i - 1]} < ${seen[i]}`);
    }
    assert.ok(took < 6000, `three times within 6s (${took}ms)`);
    assert.equal(await page.textContent('#state'), 'open');
    assert.ok(parseInt(await page.textContent('#count'), 10) >= 3);
    assert.equal(await page.textContent('#reconnects'), '0');

    // The client asked for multipart/mixed (Accept), which the server chose.
    const ct = await page.evaluate(async () => {
        const ac = new AbortController();
        const r = await fetch('mxhr-stream', { headers: { Accept: 'multipart/mixed' }, signal: ac.signal });
        ac.abort();
        return r.headers.get('content-type');
    });
    assert.match(ct, /^multipart\/mixed; boundary="mxhr[0-9a-f]{32}"$/);

    // Both ways of loading the client work: classic script (the page) and
    // an ES module.
    const esm = await page.evaluate(async () => {
        const m = await import('./mxhr.mjs');
        return typeof m.MxhrStream === 'function' && typeof m.MxhrMultipartParser === 'function';
    });
    assert.equal(esm, true, 'mxhr.mjs exports MxhrStream');

    // Restart the server: the page sees the loss and comes back by itself.
    const before = seen[seen.length - 1];
    await httpd.stop();
    await waitFor('page notices the loss', async () =>
        (await page.textContent('#state')) !== 'open', 8000);
    await sleep(1500);
    await httpd.start();
    await waitFor('reconnected', async () =>
        parseInt(await page.textContent('#reconnects'), 10) >= 1
        && (await page.textContent('#state')) === 'open', 20000);
    const after = [];
    await waitFor('times resume', async () => {
        const v = await page.textContent('#time');
        if (increasing(before, v) && v !== after[after.length - 1]) after.push(v);
        return after.length >= 2;
    }, 8000);
    assert.ok(increasing(after[0], after[1]));
    const logText = await page.textContent('#log');
    assert.match(logText, /retrying in|stream ended by the server/);

    const shot = path.join(OUT, 'demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 5000, `screenshot saved: ${shot}`);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    console.log(`# times before restart: ${seen.join(', ')}; after: ${after.join(', ')}`);
    console.log(`# screenshot: ${shot}`);
});
