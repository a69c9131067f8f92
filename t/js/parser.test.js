// Unit tests of the incremental multipart parser in htdocs/mxhr.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { MxhrMultipartParser, boundaryOf } = require('../../htdocs/mxhr.js');

const enc = (s) => new TextEncoder().encode(s);
const bytes = (...xs) => Uint8Array.from(xs);

function parseChunks(boundary, chunks) {
    const parts = [];
    const p = new MxhrMultipartParser(boundary, (part) => parts.push(part));
    for (const c of chunks) {
        p.feed(typeof c === 'string' ? enc(c) : c);
    }
    return { parts, closed: p.end(), parser: p };
}

function splitEvery(buf, n) {
    const out = [];
    for (let i = 0; i < buf.length; i += n) {
        out.push(buf.slice(i, i + n));
    }
    return out;
}

// What mod_mxhr sends: CRLF, Content-Length, Mxhr-Seq, delimiter with
// each part, closing delimiter at the end.
const WIRE = '--B\r\nContent-Type: text/plain; charset=utf-8\r\n'
    + 'Content-Length: 12\r\nMxhr-Seq: 1\r\n\r\n19:20:58.042\r\n--B'
    + '\r\nContent-Type: text/plain; charset=utf-8\r\n'
    + 'Content-Length: 12\r\nMxhr-Seq: 2\r\n\r\n19:21:03.042\r\n--B--\r\n';

test('many parts in one chunk, closing delimiter', () => {
    const { parts, closed } = parseChunks('B', [WIRE]);
    assert.equal(parts.length, 2);
    assert.deepEqual(parts.map((p) => p.seq), [1, 2]);
    assert.deepEqual(parts.map((p) => p.data), ['19:20:58.042', '19:21:03.042']);
    assert.equal(parts[0].contentType, 'text/plain; charset=utf-8');
    assert.equal(parts[0].headers['content-length'], '12');
    assert.equal(closed, true);
});

test('a part split across many chunks (one byte each)', () => {
    const { parts, closed } = parseChunks('B', splitEvery(enc(WIRE), 1));
    assert.deepEqual(parts.map((p) => p.data), ['19:20:58.042', '19:21:03.042']);
    assert.equal(closed, true);
});

test('a part is dispatched as soon as its delimiter arrives', () => {
    const seen = [];
    const p = new MxhrMultipartParser('B', (part) => seen.push(part.seq));
    const first = WIRE.indexOf('\r\n--B') + 5;   // through "--B" of part 1
    p.feed(enc(WIRE.slice(0, first - 1)));
    assert.deepEqual(seen, [], 'not before the delimiter is complete');
    p.feed(enc(WIRE.slice(first - 1, first)));
    assert.deepEqual(seen, [1], 'at once when it is');
});

test('the delimiter split at every position', () => {
    const buf = enc(WIRE);
    const at = WIRE.indexOf('\r\n--B\r\n');
    for (let cut = at - 1; cut <= at + 7; cut++) {
        const { parts, closed } = parseChunks('B', [buf.slice(0, cut), buf.slice(cut)]);
        assert.equal(parts.length, 2, `cut at ${cut}`);
        assert.equal(parts[0].data, '19:20:58.042', `cut at ${cut}`);
        assert.equal(closed, true);
    }
});

test('a preamble is skipped, even one mentioning the boundary', () => {
    const { parts } = parseChunks('B', ['This is a preamble x--B not a line start\r\n', WIRE]);
    assert.deepEqual(parts.map((p) => p.seq), [1, 2]);
});

test('the closing delimiter ends it: the epilogue is ignored', () => {
    const { parts, closed } = parseChunks('B', [WIRE + '--B\r\n\r\nnot a part\r\n--B--']);
    assert.equal(parts.length, 2);
    assert.equal(closed, true);
});

test('an unclosed stream reports not closed', () => {
    const { parts, closed } = parseChunks('B', [WIRE.slice(0, WIRE.indexOf('--B--') + 3)]);
    assert.equal(parts.length, 2);
    assert.equal(closed, false);
});

test('bare LF line ends and no Content-Length (scan for the delimiter)', () => {
    const body = '--sep\nContent-Type: text/plain\n\nline one\nline two\n--sep\n'
        + 'Mxhr-Seq: 7\n\nsecond\n--sep--\n';
    for (const n of [1, 3, body.length]) {
        const { parts, closed } = parseChunks('sep', splitEvery(enc(body), n));
        assert.deepEqual(parts.map((p) => p.data), ['line one\nline two', 'second']);
        assert.equal(parts[1].seq, 7);
        assert.equal(parts[0].seq, null);
        assert.equal(closed, true);
    }
});

test('a wrong Content-Length falls back to scanning', () => {
    const body = '--B\r\nContent-Length: 3\r\n\r\nhello\r\n--B--';
    const { parts } = parseChunks('B', [body]);
    assert.equal(parts[0].data, 'hello');
});

test('Content-Length lets a body contain a look-alike line', () => {
    const inner = 'a\r\n--Bx is not ours';
    const body = `--B\r\nContent-Length: ${inner.length}\r\n\r\n${inner}\r\n--B--`;
    const { parts } = parseChunks('B', splitEvery(enc(body), 2));
    assert.equal(parts[0].data, inner);
});

test('binary bodies are byte-exact and not decoded', () => {
    const payload = bytes(0, 255, 13, 10, 45, 45, 66, 120, 128, 0);  // \0 \xff \r\n--Bx ...
    const head = enc(`--B\r\nContent-Type: application/octet-stream\r\nContent-Length: ${payload.length}\r\n\r\n`);
    const tail = enc('\r\n--B--\r\n');
    const all = new Uint8Array(head.length + payload.length + tail.length);
    all.set(head); all.set(payload, head.length); all.set(tail, head.length + payload.length);
    const { parts } = parseChunks('B', splitEvery(all, 3));
    assert.deepEqual(Array.from(parts[0].bytes), Array.from(payload));
    assert.equal(parts[0].data, null);
});

test('UTF-8 characters split across chunks', () => {
    const text = 'héllo €uro 😀';
    const all = enc(`--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n--B--`);
    const { parts } = parseChunks('B', splitEvery(all, 1));
    assert.equal(parts[0].data, text);
});

test('JSON parts', () => {
    const { parts } = parseChunks('B', ['--B\r\nContent-Type: application/json\r\n\r\n{"seq": 3, "time": 1795461658042}\r\n--B--']);
    assert.deepEqual(parts[0].json(), { seq: 3, time: 1795461658042 });
    const vnd = parseChunks('B', ['--B\r\nContent-Type: application/vnd.x+json\r\n\r\n{"a":1}\r\n--B']);
    assert.equal(vnd.parts[0].data, '{"a":1}');
});

test('junk after a boundary is an error', () => {
    assert.throws(() => parseChunks('B', ['--Bjunk\r\n\r\nx\r\n--B--']), /junk after a boundary/);
});

test('memory does not grow with the stream', () => {
    let n = 0;
    const p = new MxhrMultipartParser('B', () => n++);
    p.feed(enc('--B'));
    const part = enc('\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nMxhr-Seq: 1\r\n\r\n19:20:58.042\r\n--B');
    let maxBuf = 0;
    for (let i = 0; i < 20000; i++) {
        p.feed(part);
        maxBuf = Math.max(maxBuf, p.buf.length);
    }
    assert.equal(n, 20000);
    assert.ok(maxBuf < part.length, `buffer stays below one part (max ${maxBuf})`);
});

test('boundaryOf', () => {
    assert.equal(boundaryOf('multipart/mixed; boundary="a b:c"'), 'a b:c');
    assert.equal(boundaryOf('Multipart/X-Mixed-Replace;boundary=abc'), 'abc');
    assert.equal(boundaryOf('multipart/mixed; charset=x; boundary=q1; x=y'), 'q1');
    assert.equal(boundaryOf('text/plain; boundary=x'), null);
    assert.equal(boundaryOf('multipart/mixed'), null);
    assert.equal(boundaryOf(null), null);
});

// A seeded generator, so that a failure names the seed to replay.
function mulberry32(seed) {
    return function () {
        seed = (seed + 0x6D2B79F5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

test('randomized: the same parts come out whatever the chunking', () => {
    for (let seed = 1; seed <= 300; seed++) {
        const rnd = mulberry32(seed);
        const boundary = 'mxhr' + Math.floor(rnd() * 1e9).toString(16);
        const crlf = rnd() < 0.7 ? '\r\n' : '\n';
        const expected = [];
        const pieces = [enc(rnd() < 0.3 ? 'preamble' + crlf : '')];
        const count = 1 + Math.floor(rnd() * 8);
        for (let i = 0; i < count; i++) {
            // Binary bodies that avoid the delimiter, as RFC 2046 requires.
            const len = Math.floor(rnd() * 200);
            const body = new Uint8Array(len);
            for (let j = 0; j < len; j++) {
                body[j] = Math.floor(rnd() * 256);
            }
            let h = (i === 0 ? `--${boundary}` : '') + crlf
                + 'Content-Type: application/octet-stream' + crlf
                + `Mxhr-Seq: ${i + 1}` + crlf;
            const withLength = rnd() < 0.5;
            if (withLength) {
                h += `Content-Length: ${len}` + crlf;
            }
            // Bare-LF framing without a length cannot carry a body that
            // ends in CR: "CR LF --boundary" is a CRLF delimiter.
            if (crlf === '\n' && !withLength && len > 0 && body[len - 1] === 13) {
                body[len - 1] = 0;
            }
            pieces.push(enc(h + crlf), body, enc(crlf + '--' + boundary));
            expected.push(body);
        }
        pieces.push(enc('--' + crlf));
        const all = new Uint8Array(pieces.reduce((n, x) => n + x.length, 0));
        let off = 0;
        for (const x of pieces) { all.set(x, off); off += x.length; }
        // Random cut points.
        const chunks = [];
        for (let i = 0; i < all.length;) {
            const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8 : 400));
            chunks.push(all.slice(i, i + n));
            i += n;
        }
        const { parts, closed } = parseChunks(boundary, chunks);
        assert.equal(parts.length, expected.length, `seed ${seed}: count`);
        parts.forEach((p, i) => {
            assert.deepEqual(Buffer.from(p.bytes), Buffer.from(expected[i]), `seed ${seed}: part ${i + 1} bytes`);
            assert.equal(p.seq, i + 1, `seed ${seed}: seq`);
        });
        assert.equal(closed, true, `seed ${seed}: closed`);
    }
});
