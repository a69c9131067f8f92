// What the browser tests share: a free port, waiting, the private httpd
// and Chromium against it. Not a test itself: node --test, given this directory, runs only
// files named as tests (*.test.js and the like), and this file has no
// side effects when loaded.
'use strict';
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
    ctl(what) {
        execFileSync(HTTPD, ['-d', this.dir, '-f', path.join(this.dir, 'httpd.conf'), '-k', what],
                     { stdio: 'inherit' });
    }
    pid() {
        try { return parseInt(fs.readFileSync(path.join(this.dir, 'httpd.pid'), 'utf8'), 10); }
        catch (e) { return 0; }
    }
    alive(pid) {
        try { process.kill(pid, 0); return true; } catch (e) { return false; }
    }
    async start() {
        this.ctl('start');
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

// A test's start: OUT made, a private httpd (its ServerRoot a new
// temporary directory named from prefix) started on a free port, and
// Chromium launched; both stopped and the directory removed after the
// test t.
async function setUp(t, prefix) {
    fs.mkdirSync(OUT, { recursive: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
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
    return { httpd, browser };
}

module.exports = { SRC, OUT, HTTPD, CHROMIUM, freePort, sleep, waitFor, Httpd, setUp };
