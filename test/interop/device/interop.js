// Device interop: a Node device simulator with its own crypto (createHmac)
// registers, answers challenges and gets a device token that jsonwebtoken
// verifies; a replayed response fails; firmware signed with the openssl
// command line (P-256 with dgst -sha256 -sign, Ed25519 with pkeyutl) verifies
// and a flipped byte does not.  Connects with the PG* environment variables;
// prints TAP lines; exits 1 on failure.
'use strict';
const { Client } = require('pg');
const jwt = require('jsonwebtoken');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

let n = 0;
let failed = 0;
function check(cond, what) {
  n += 1;
  if (!cond) failed += 1;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${what}`);
}

// The device: it holds only its secret, and answers with its own HMAC.
class Device {
  constructor(id, secretHex) {
    this.id = id;
    this.key = Buffer.from(secretHex, 'hex');
  }
  answer(challenge, issuedAt) {
    return crypto.createHmac('sha256', this.key).update(`${challenge}${issuedAt}`).digest('hex');
  }
}

async function main() {
  const db = new Client();
  await db.connect();
  const q = async (sql, args) => (await db.query(sql, args)).rows;
  await q('CREATE EXTENSION IF NOT EXISTS tracechain');
  await q('SET search_path = tracechain, public');
  const id = `node-sim-${process.pid}-${Date.now()}`;

  const [{ secret }] = await q("SELECT device_register($1, 'node-simulator', 'Interop Inc') AS secret", [id]);
  check(/^[0-9a-f]{64}$/.test(secret), 'device_register returns 64 hex digits');
  const dev = new Device(id, secret);

  const [c] = await q('SELECT * FROM device_challenge($1)', [id]);
  check(/^[0-9a-f]{64}$/.test(c.challenge) && Number(c.expires_in) === 300, 'a challenge valid 5 minutes');
  const response = dev.answer(c.challenge, c.issued_at);
  const [{ token }] = await q('SELECT device_verify($1, $2) AS token', [id, response]);
  check(typeof token === 'string' && token.split('.').length === 3, 'device_verify returns a compact JWS');

  // The relying party's key: device_token_key() (tracechain_admin), base64url.
  const [{ key }] = await q('SELECT device_token_key() AS key');
  const claims = jwt.verify(token, Buffer.from(key, 'base64url'), { algorithms: ['HS256'], issuer: 'tracechain' });
  check(claims.device_id === id && claims.device_type === 'node-simulator' && claims.manufacturer === 'Interop Inc',
    'jsonwebtoken verifies the token; claims carry device id, type, manufacturer');
  check(claims.exp - claims.iat === 3600, 'the token lasts one hour');
  const header = jwt.decode(token, { complete: true }).header;
  check(header.alg === 'HS256' && header.typ === 'JWT' && header.kid === 'device', 'header alg HS256, typ JWT, kid device');
  let refused = false;
  try { jwt.verify(token, crypto.randomBytes(32), { algorithms: ['HS256'] }); } catch (e) { refused = true; }
  check(refused, 'another key does not verify it');
  // The database's own verifier (for relying parties inside it) agrees.
  const [{ c2 }] = await q('SELECT device_token_verify($1) AS c2', [token]);
  check(c2.device_id === id, 'device_token_verify accepts it');

  // Replay: the same response again.
  let replay = null;
  try { await q('SELECT device_verify($1, $2)', [id, response]); } catch (e) { replay = e; }
  check(replay && replay.code === '28000' && replay.message === 'device authentication failed', 'a replayed response fails (28000)');

  // A second round works; a wrong answer consumes the challenge.
  const [c3] = await q('SELECT * FROM device_challenge($1)', [id]);
  let wrong = null;
  try { await q('SELECT device_verify($1, $2)', [id, dev.answer(c3.challenge, Number(c3.issued_at) + 1)]); } catch (e) { wrong = e; }
  check(wrong && wrong.code === '28000', 'an answer over the wrong issued_at fails');
  let after = null;
  try { await q('SELECT device_verify($1, $2)', [id, dev.answer(c3.challenge, c3.issued_at)]); } catch (e) { after = e; }
  check(after && after.code === '28000', 'the right answer after a wrong one fails: the challenge was consumed');
  const [c4] = await q('SELECT * FROM device_challenge($1)', [id]);
  const [{ t4 }] = await q('SELECT device_verify($1, $2) AS t4', [id, dev.answer(c4.challenge, c4.issued_at)]);
  check(jwt.verify(t4, Buffer.from(key, 'base64url'), { algorithms: ['HS256'] }).device_id === id, 'a new challenge, a new token');

  // Telemetry round trip.
  const [{ plain }] = await q('SELECT device_decrypt($1, device_encrypt($1, $2::jsonb)) AS plain', [id, '{"celsius": 19.25}']);
  check(plain.celsius === 19.25, 'device_encrypt / device_decrypt round trip');

  // Firmware signed with the openssl command line.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-fw-'));
  const f = (x) => path.join(dir, x);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  fs.writeFileSync(f('fw.bin'), crypto.randomBytes(100000));
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ec.pem'));
  ossl('pkey', '-in', f('ec.pem'), '-pubout', '-out', f('ec.pub'));
  ossl('dgst', '-sha256', '-sign', f('ec.pem'), '-out', f('fw.ecsig'), f('fw.bin'));
  ossl('genpkey', '-algorithm', 'ed25519', '-out', f('ed.pem'));
  ossl('pkey', '-in', f('ed.pem'), '-pubout', '-out', f('ed.pub'));
  ossl('pkeyutl', '-sign', '-inkey', f('ed.pem'), '-rawin', '-in', f('fw.bin'), '-out', f('fw.edsig'));
  const fw = fs.readFileSync(f('fw.bin'));
  const flipped = Buffer.from(fw);
  flipped[12345] ^= 0x01;
  const verify = async (image, sig) => (await q('SELECT verify_firmware($1, $2, $3) AS ok', [id, image, sig]))[0].ok;

  await q('SELECT device_set_public_key($1, $2)', [id, fs.readFileSync(f('ec.pub'), 'utf8')]);
  const ecsig = fs.readFileSync(f('fw.ecsig'));
  check(await verify(fw, ecsig) === true, 'P-256: openssl dgst -sha256 -sign verifies');
  check(await verify(flipped, ecsig) === false, 'P-256: a flipped firmware byte does not');
  await q('SELECT device_set_public_key($1, $2)', [id, fs.readFileSync(f('ed.pub'), 'utf8')]);
  const edsig = fs.readFileSync(f('fw.edsig'));
  check(await verify(fw, edsig) === true, 'Ed25519: openssl pkeyutl -sign -rawin verifies');
  check(await verify(flipped, edsig) === false, 'Ed25519: a flipped firmware byte does not');
  const edflip = Buffer.from(edsig);
  edflip[5] ^= 0x80;
  check(await verify(fw, edflip) === false, 'Ed25519: a flipped signature byte does not');
  fs.rmSync(dir, { recursive: true, force: true });

  await q('SELECT device_revoke($1)', [id]);
  let revoked = null;
  try { await q('SELECT device_token_verify($1)', [t4]); } catch (e) { revoked = e; }
  check(revoked && revoked.code === '28000', 'a revoked device\'s token is refused by device_token_verify');

  await db.end();
  console.log(`1..${n}`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
