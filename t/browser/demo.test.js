// End to end in a real browser: Debian's Chromium, driven by
// playwright-core, against a private httpd with the demo page and stream.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { execFileSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const SRC = path.resolve(__dirname, '../..');
const OUT = path.join(SRC, 't/logs/browser');
const HTTPD = '/usr/sbin/apache2';
const CHROMIUM = process.env.MXHR_CHROMIUM || '/usr/bin/chromium';

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, cond, ms) {
    const t0 = Date.now();
    for (;;) {
        const v = await cond();
        if (v) return v;
        if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms}ms: ${what}`);
        await sleep(100);
    }
}

// The private httpd: started and stopped by its own PID file only.
class Httpd {
    constructor(dir, port) { this.dir = dir; this.port = port; }
    conf() {
        execFileSync('bash', [path.join(SRC, 'scripts/private-httpd.sh'), this.dir,
                              String(this.port), 'event'], { stdio: 'inherit' });
    }
    pid() {
        try { return parseInt(fs.readFileSync(path.join(this.dir, 'httpd.pid'), 'utf8'), 10); }
        catch (e) { return 0; }
    }
    alive(pid) {
        try { process.kill(pid, 0); return true; } catch (e) { return false; }
    }
    async start() {
        execFileSync(HTTPD, ['-d', this.dir, '-f', path.join(this.dir, 'httpd.conf'), '-k', 'start'],
                     { stdio: 'inherit' });
        await waitFor('httpd up', () => new Promise((resolve) => {
            const s = net.connect(this.port, '127.0.0.1', () => { s.end(); resolve(true); });
            s.on('error', () => resolve(false));
        }), 10000);
    }
    async stop() {
        const pid = this.pid();
        if (!pid || !this.alive(pid)) return;
        process.kill(pid, 'SIGTERM');
        await waitFor('httpd down', () => !this.alive(pid), 10000);
    }
}

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
    fs.mkdirSync(OUT, { recursive: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxhr-e2e-'));
    const httpd = new Httpd(dir, await freePort());
    httpd.conf();
    await httpd.start();
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--no-first-run',
               '--disable-dev-shm-usage'],
    });
    t.after(async () => {
        await browser.close().catch(() => {});
        await httpd.stop().catch(() => {});
        fs.rmSync(dir, { recursive: true, force: true });
    });
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
