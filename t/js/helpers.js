// What the client's unit tests share: a fake fetch and an event log. Not
// a test itself: node --test, given this directory, runs only files named
// as tests (*.test.js and the like), and this file has no side effects
// when loaded.
'use strict';

// fetch that answers with responders[i] for the i-th call (the last one
// repeats) and records each call.
function fakeFetch(responders) {
    const calls = [];
    const f = async (url, init) => {
        calls.push({ url, init, at: Date.now() });
        const r = responders[Math.min(calls.length - 1, responders.length - 1)];
        return r(init);
    };
    f.calls = calls;
    return f;
}

// The events of the given types that s dispatches, in order.
function collect(s, types) {
    const log = [];
    for (const t of types) s.addEventListener(t, (e) => log.push(e));
    return log;
}

module.exports = { fakeFetch, collect };
