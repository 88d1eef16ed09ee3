// TOTP interop: tracechain's totp_* functions against speakeasy (what the
// original application used), otplib and Debian's oathtool.  Connects with
// the usual PG* environment variables; prints TAP lines; exits 1 on failure.
'use strict';
const { Client } = require('pg');
const speakeasy = require('speakeasy');
const { authenticator, totp } = require('otplib');
const { execFileSync } = require('child_process');

let n = 0;
let failed = 0;
function check(cond, what) {
  n += 1;
  if (!cond) failed += 1;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${what}`);
}

// RFC 4648 base32 of an ASCII string (no padding).
function base32(str) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const b of Buffer.from(str, 'ascii')) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += abc[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += abc[(acc << (5 - bits)) & 31];
  return out;
}

async function main() {
  const db = new Client();
  await db.connect();
  const q = async (sql, args) => (await db.query(sql, args)).rows;
  await q('CREATE EXTENSION IF NOT EXISTS tracechain');
  await q('SET search_path = tracechain, public');

  const issuer = 'Trace Chain & Co/Ops';
  const account = 'ålice+interop@example.com';
  const [{ id }] = await q("SELECT principal_create('user', 'interop') AS id");
  const [{ tok }] = await q('SELECT session_create($1) AS tok', [id]);

  await q('BEGIN');
  await q('SELECT authenticate($1)', [tok]);
  const [{ secret, otpauth_uri: uri }] = await q('SELECT * FROM totp_enroll(issuer => $1, account => $2)',
    [issuer, account]);

  // The URI, parsed by the WHATWG URL parser, carries the secret, issuer and parameters.
  const u = new URL(uri);
  check(u.protocol === 'otpauth:' && u.host === 'totp', 'URI: otpauth://totp/');
  check(decodeURIComponent(u.pathname.slice(1)) === `${issuer}:${account}`, 'URI: label is issuer:account');
  check(u.searchParams.get('secret') === secret, 'URI: secret');
  check(u.searchParams.get('issuer') === issuer, 'URI: issuer parameter');
  check(u.searchParams.get('algorithm') === 'SHA1' && u.searchParams.get('digits') === '6' &&
        u.searchParams.get('period') === '30', 'URI: algorithm, digits, period');
  // otplib builds the very same URI for that secret.
  check(authenticator.keyuri(account, issuer, secret) === uri, "URI: identical to otplib's keyuri");

  // A speakeasy code (current step) confirms the enrolment.
  const now = Date.now();
  const sCode = speakeasy.totp({ secret, encoding: 'base32', time: Math.floor(now / 1000) });
  const [{ ok: confirmed }] = await q('SELECT totp_confirm($1) AS ok', [sCode]);
  check(confirmed === true, 'speakeasy code confirms the enrolment');
  await q('COMMIT');

  // An otplib code for the next step is accepted once; the speakeasy code is spent.
  const oCode = authenticator.clone({ epoch: now + 30000 }).generate(secret);
  const verify = async (code) => {
    await q('BEGIN');
    await q('SELECT authenticate($1)', [tok]);
    const [{ ok }] = await q('SELECT totp_verify($1) AS ok', [code]);
    const [{ aal }] = await q('SELECT current_aal() AS aal');
    await q('COMMIT');
    return { ok, aal };
  };
  let r = await verify(oCode);
  check(r.ok === true && r.aal === 2, 'otplib code (next step) accepted, session at AAL 2');
  r = await verify(oCode);
  check(r.ok === false, 'the same otplib code again is refused');
  r = await verify(sCode);
  check(r.ok === false, 'the older speakeasy code after the newer one is refused');

  // speakeasy, otplib and oathtool agree with totp_code for every algorithm, digits and period.
  // The RFC 6238 keys (otplib pads a short key to the hash's length, so give each its own).
  const keys = {
    SHA1: '12345678901234567890',
    SHA256: '12345678901234567890123456789012',
    SHA512: '1234567890123456789012345678901234567890123456789012345678901234',
  };
  const times = [59, 1111111109, 1234567890, 2000000000, Math.floor(now / 1000)];
  let agreeS = true;
  let agreeO = true;
  let agreeT = true;
  for (const alg of ['SHA1', 'SHA256', 'SHA512']) {
    const ascii = keys[alg];
    const key = base32(ascii);
    for (const digits of [6, 8]) {
      for (const period of [30, 60]) {
        for (const t of times) {
          const [{ c }] = await q('SELECT totp_code($1, to_timestamp($2), $3, $4, $5) AS c',
            [key, t, digits, period, alg]);
          const s = speakeasy.totp({ secret: key, encoding: 'base32', time: t, digits, step: period,
            algorithm: alg.toLowerCase() });
          const o = totp.clone({ epoch: t * 1000, digits, step: period, algorithm: alg.toLowerCase(),
            encoding: 'ascii' }).generate(ascii);
          const a = execFileSync('oathtool', [`--totp=${alg}`, '--base32', '-d', String(digits),
            '-s', `${period}s`, '-N', `@${t}`, key]).toString().trim();
          agreeS = agreeS && s === c;
          agreeO = agreeO && o === c;
          agreeT = agreeT && a === c;
        }
      }
    }
  }
  check(agreeS, 'speakeasy agrees with totp_code (3 algorithms x 2 lengths x 2 periods x 5 times)');
  check(agreeO, 'otplib agrees with totp_code (same grid)');
  check(agreeT, 'oathtool --totp agrees with totp_code (same grid)');

  // An enrolment secret: oathtool's code for it is accepted by totp_check.
  const a = execFileSync('oathtool', ['--totp', '--base32', secret]).toString().trim();
  const [{ ok: checks }] = await q('SELECT totp_check($1, $2) AS ok', [secret, a]);
  check(checks === true, "oathtool's code for the enrolled secret passes totp_check");

  await db.end();
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - ${e.message}`);
  process.exit(1);
});
