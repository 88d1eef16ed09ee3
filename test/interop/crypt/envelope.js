// envelope.js: the tracechain envelope (docs/crypt.md) with Node's own
// AES-256-GCM, no packages.
//   node envelope.js decrypt <key hex> <envelope hex> <context>   -> plaintext (utf8)
//   node envelope.js encrypt <key hex> <key id> <version> <plaintext> <context> -> envelope hex
'use strict';
const crypto = require('crypto');

const HDR = 21, TAG = 16;

function decrypt(key, env, context) {
  if (env.length < HDR + TAG || env[0] !== 0x01) throw new Error('not an envelope');
  const header = env.subarray(0, HDR);
  const nonce = env.subarray(9, 21);
  const ct = env.subarray(HDR, env.length - TAG);
  const tag = env.subarray(env.length - TAG);
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  d.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

function encrypt(key, keyId, version, plaintext, context) {
  const header = Buffer.alloc(HDR);
  header[0] = 0x01;
  header.writeUInt32BE(keyId, 1);
  header.writeUInt32BE(version, 5);
  crypto.randomBytes(12).copy(header, 9);
  const c = crypto.createCipheriv('aes-256-gcm', key, header.subarray(9, 21), { authTagLength: TAG });
  c.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([header, ct, c.getAuthTag()]);
}

const [cmd, ...a] = process.argv.slice(2);
const key = Buffer.from(a[0], 'hex');
if (key.length !== 32) throw new Error('key must be 32 bytes');
if (cmd === 'decrypt') {
  process.stdout.write(decrypt(key, Buffer.from(a[1], 'hex'), a[2]).toString('utf8'));
} else if (cmd === 'encrypt') {
  process.stdout.write(encrypt(key, Number(a[1]), Number(a[2]), Buffer.from(a[3], 'utf8'), a[4]).toString('hex'));
} else {
  throw new Error('usage: envelope.js decrypt|encrypt ...');
}
