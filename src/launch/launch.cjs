'use strict';
// What bin/berth starts (copied to build/ by scripts/build.mjs): runs build/berth.cjs from
// V8's code cache (made at build time), as parsing and compiling the bundle would cost every
// command several ms. BERTH_CODE_CACHE names the cache bin/berth chose for the command:
// commands that run containers execute much of the bundle and take the cache of all of it
// (berth.cjs.full.cache), the quick ones their own (berth.cjs.<cmd>.cache), the others the
// smaller cache of what start-up runs (berth.cjs.cache). V8 takes a cache only under the node
// flags it was made with, so bin/berth gives each command the same flags at build and at run.
const file = __dirname + '/berth.cjs';
const cacheFile = file + (process.env.BERTH_CODE_CACHE ? '.' + process.env.BERTH_CODE_CACHE : '') + '.cache';
delete process.env.BERTH_CODE_CACHE;
const map = { exports: {} };
process.dlopen(map, __dirname + '/launch.node');
const { Script } = require('node:vm');
// The bundle is ASCII (scripts/build.mjs): its bytes are its latin1 string.
const source = map.exports.mapLatin1(file);
if (source === undefined) throw new Error(`cannot read ${file}: build berth again (make build)`);
const script = new Script(source, { filename: file, cachedData: map.exports.mapBuffer(cacheFile) });
const writeCache = process.env.BERTH_WRITE_CODE_CACHE;
delete process.env.BERTH_WRITE_CODE_CACHE; // for this process, not for what it starts
if (writeCache) {
  process.once('exit', () => {
    const { renameSync, writeFileSync } = require('node:fs');
    writeFileSync(cacheFile + '.tmp', script.createCachedData());
    renameSync(cacheFile + '.tmp', cacheFile); // never in place: running commands map it
  });
}
script.runInThisContext()(module.exports, require, module, file, __dirname);
