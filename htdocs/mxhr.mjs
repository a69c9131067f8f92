// Named ES-module exports for mxhr.js (which defines the globals).
import './mxhr.js';
export const { MxhrStream, MxhrMultipartParser } = globalThis;
