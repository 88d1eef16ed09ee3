// speakeasy's totp.verify (window 1, a current code) per second over the
// secrets in a "secret<TAB>code" file; prints "speakeasy N".
'use strict';
const fs = require('fs');
const path = require('path');
const speakeasy = require(path.join(__dirname, '../../test/interop/totp/node_modules/speakeasy'));

const [file, seconds, at] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split('\t'));
const time = Number(at);
let done = 0;
let ok = 0;
const t0 = process.hrtime.bigint();
let el = 0;
do {
  for (const [secret, token] of rows) {
    if (speakeasy.totp.verify({ secret, encoding: 'base32', token, window: 1, time })) ok += 1;
  }
  done += rows.length;
  el = Number(process.hrtime.bigint() - t0) / 1e9;
} while (el < Number(seconds));
if (ok !== done) { console.error(`speakeasy failed ${done - ok} checks`); process.exit(1); }
console.log(`speakeasy ${Math.round(done / el)}`);
