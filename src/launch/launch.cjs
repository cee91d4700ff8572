'use strict';
// What bin/berth starts (copied to build/ by scripts/build.mjs): runs build/berth.cjs from
// V8's code cache (made at build time), as parsing and compiling the bundle would cost every
// command several ms. BERTH_CODE_CACHE names the cache bin/berth chose for the command:
// commands that run containers execute much of the bundle and take the cache of all of it
// (berth.cjs.full.cache), the quick ones their own (berth.cjs.<cmd>.cache), the others the
// smaller cache of what start-up runs (berth.cjs.cache). V8 takes a cache only under the V8
// flags it was made with: the addon sets them to node's defaults as it loads (launch.cc).
// No node module is required here (src/launch/launch.cc): the bundle loads what it uses.
const file = __dirname + '/berth.cjs';
const cacheFile = file + (process.env.BERTH_CODE_CACHE ? '.' + process.env.BERTH_CODE_CACHE : '') + '.cache';
delete process.env.BERTH_CODE_CACHE;
const addon = { exports: {} };
process.dlopen(addon, __dirname + '/launch.node');
const bundle = addon.exports.load(file, cacheFile);
if (bundle === undefined) throw new Error(`cannot read ${file}: build berth again (make build)`);
const writeCache = process.env.BERTH_WRITE_CODE_CACHE;
delete process.env.BERTH_WRITE_CODE_CACHE; // for this process, not for what it starts
if (writeCache) {
  process.once('exit', () => {
    const { renameSync, writeFileSync } = require('node:fs');
    writeFileSync(cacheFile + '.tmp', addon.exports.codeCache());
    renameSync(cacheFile + '.tmp', cacheFile); // never in place: running commands map it
  });
}
bundle(module.exports, require, module, file, __dirname);
