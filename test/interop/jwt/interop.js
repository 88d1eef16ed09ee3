// interop.js: tracechain's jwt_sign / jwt_verify against jsonwebtoken, through
// the pg client as an application backend would call them.  Connection from
// PGHOST/PGPORT/PGUSER/PGDATABASE (a superuser: it brings in the keys with
// key_import, so that this side knows them, then acts as a tracechain_app
// member).  Prints "ok N - ..." lines; exits 1 when any check fails.
'use strict';
const crypto = require('crypto');
const jwt = require('jsonwebtoken');
const { Client } = require('pg');

let n = 0;
let failed = 0;

function check(cond, what, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${what}`);
  if (!cond && detail !== undefined) console.log('#   ' + String(detail).replace(/\n/g, '\n#   '));
}

// true when the query fails with that SQLSTATE (and, if given, a message matching re)
async function fails(db, sql, params, code, re) {
  try {
    await db.query(sql, params);
    return 'no error';
  } catch (e) {
    return e.code === code && (!re || re.test(e.message)) ? true : `${e.code}: ${e.message}`;
  }
}

function b64u(buf) {
  return Buffer.from(buf).toString('base64url');
}

async function main() {
  const db = new Client();
  await db.connect();
  const tag = crypto.randomBytes(4).toString('hex');
  const hname = `jwt_interop_h_${tag}`;
  const ename = `jwt_interop_ec_${tag}`;
  const nname = `jwt_interop_node_ec_${tag}`;
  const role = `jwt_interop_app_${tag}`;
  const secret = crypto.randomBytes(32);
  const nodeEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

  await db.query(`CREATE ROLE ${role} IN ROLE tracechain_app`);
  try {
    await db.query("SELECT tracechain.key_import($1, $2, 'hmac')", [hname, secret]);
    await db.query("SELECT tracechain.key_create($1, 'ec-p256')", [ename]);
    await db.query("SELECT tracechain.key_import($1, $2, 'ec-p256')",
      [nname, nodeEc.privateKey.export({ format: 'der', type: 'pkcs8' })]);
    await db.query(`SET ROLE ${role}`);
    const pem = (await db.query('SELECT tracechain.jwt_public_key($1) AS k', [ename])).rows[0].k;

    // 1. jsonwebtoken verifies our HS256 tokens
    for (let i = 0; i < 20; i++) {
      const claims = { sub: `user-${i}`, roles: ['a', 'b'], n: i, name: 'Grüße 日本 🦊' };
      const tok = (await db.query("SELECT tracechain.jwt_sign($1, $2, '10 minutes') AS t", [claims, hname])).rows[0].t;
      let out;
      try {
        out = jwt.verify(tok, secret, { algorithms: ['HS256'], complete: true });
      } catch (e) {
        out = e;
      }
      const ok = out && out.header && out.header.alg === 'HS256' && out.header.kid === `${hname}:1` &&
        out.header.typ === 'JWT' && out.payload.sub === claims.sub && out.payload.name === claims.name &&
        out.payload.exp - out.payload.iat === 600 && out.payload.nbf === out.payload.iat;
      if (i === 0 || !ok) check(ok, `jsonwebtoken verifies our HS256 token (${i})`, out && out.message);
    }
    check(true, 'jsonwebtoken verified 20 HS256 tokens');

    // 2. jsonwebtoken verifies our ES256 tokens with the public key
    for (let i = 0; i < 20; i++) {
      const tok = (await db.query('SELECT tracechain.jwt_sign($1, $2) AS t', [{ sub: `es-${i}` }, ename])).rows[0].t;
      let out;
      try {
        out = jwt.verify(tok, pem, { algorithms: ['ES256'], complete: true });
      } catch (e) {
        out = e;
      }
      const ok = out && out.header && out.header.alg === 'ES256' && out.header.kid === `${ename}:1` &&
        out.payload.sub === `es-${i}`;
      if (i === 0 || !ok) check(ok, `jsonwebtoken verifies our ES256 token (${i})`, out && out.message);
      // and Node's crypto with the JWK from jwt_jwks
      if (i === 0) {
        const jwks = (await db.query('SELECT tracechain.jwt_jwks($1) AS j', [ename])).rows[0].j;
        const key = crypto.createPublicKey({ key: jwks.keys[0], format: 'jwk' });
        const [h, p, s] = tok.split('.');
        check(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' },
          Buffer.from(s, 'base64url')), 'Node crypto verifies our ES256 token with the key from jwt_jwks');
      }
    }
    check(true, 'jsonwebtoken verified 20 ES256 tokens');

    // 3. our jwt_verify accepts jsonwebtoken's tokens
    const theirs = jwt.sign({ sub: 'from-node', scope: 'read' }, secret,
      { algorithm: 'HS256', keyid: `${hname}:1`, expiresIn: 120 });
    const got = (await db.query('SELECT tracechain.jwt_verify($1, $2) AS c', [theirs, hname])).rows[0].c;
    check(got.sub === 'from-node' && got.scope === 'read' && typeof got.exp === 'number',
      "jwt_verify accepts jsonwebtoken's HS256 token", JSON.stringify(got));
    const theirsEs = jwt.sign({ sub: 'from-node-es' }, nodeEc.privateKey,
      { algorithm: 'ES256', keyid: `${nname}:1`, expiresIn: 120 });
    const gotEs = (await db.query('SELECT tracechain.jwt_verify($1, $2) AS c', [theirsEs, nname])).rows[0].c;
    check(gotEs.sub === 'from-node-es', "jwt_verify accepts jsonwebtoken's ES256 token", JSON.stringify(gotEs));
    const withNbf = jwt.sign({ sub: 'nbf', nbf: Math.floor(Date.now() / 1000) - 5 }, secret,
      { algorithm: 'HS256', keyid: `${hname}:1`, expiresIn: '1h' });
    check((await db.query('SELECT tracechain.jwt_verify($1, $2) AS c', [withNbf, hname])).rows[0].c.sub === 'nbf',
      "jwt_verify accepts jsonwebtoken's token with nbf");

    // 4. and refuses its tokens with the wrong key, alg none, no exp, no kid, expired
    const wrongKey = jwt.sign({ sub: 'x' }, crypto.randomBytes(32),
      { algorithm: 'HS256', keyid: `${hname}:1`, expiresIn: 120 });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [wrongKey, hname], '28000', /signature does not verify/),
      "jwt_verify refuses jsonwebtoken's token signed with another secret");
    const otherEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrongEc = jwt.sign({ sub: 'x' }, otherEc.privateKey, { algorithm: 'ES256', keyid: `${ename}:1`, expiresIn: 120 });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [wrongEc, ename], '28000', /signature does not verify/),
      "jwt_verify refuses jsonwebtoken's ES256 token signed with another P-256 key");
    const none = jwt.sign({ sub: 'x' }, null, { algorithm: 'none', keyid: `${hname}:1`, expiresIn: 120 });
    check(none.endsWith('.'), 'jsonwebtoken makes an alg none token with an empty signature');
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [none, hname], '22P02', /malformed JWT/),
      "jwt_verify refuses jsonwebtoken's alg none token (empty signature: malformed)");
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [none + 'AAAA', hname], '28000', /alg none/),
      "jwt_verify refuses jsonwebtoken's alg none token with a signature appended");
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [none + b64u(crypto.createHmac('sha256', secret)
      .update(none.slice(0, -1)).digest()), hname], '28000', /alg none/),
    'jwt_verify refuses alg none even with a valid HMAC appended');
    const confused = jwt.sign({ sub: 'x' }, secret, { algorithm: 'HS256', keyid: `${ename}:1`, expiresIn: 120 });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [confused, ename], '28000', /algorithm is not the key/),
      'jwt_verify refuses an HS256 token for an ES256 key');
    const confusedPem = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: `${ename}:1` })) + '.' +
      b64u(JSON.stringify({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 }));
    const confusedTok = confusedPem + '.' + b64u(crypto.createHmac('sha256', pem).update(confusedPem).digest());
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [confusedTok, ename], '28000', /algorithm is not the key/),
      'jwt_verify refuses HS256 keyed with the ES256 public key (key confusion)');
    const es384 = jwt.sign({ sub: 'x' }, crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
      { algorithm: 'ES384', keyid: `${ename}:1`, expiresIn: 120 });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [es384, ename], '28000', /algorithm is not the key/),
      'jwt_verify refuses an ES384 token');
    const noExp = jwt.sign({ sub: 'x' }, secret, { algorithm: 'HS256', keyid: `${hname}:1` });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [noExp, hname], '28000', /no exp/),
      "jwt_verify refuses jsonwebtoken's token without exp");
    const noKid = jwt.sign({ sub: 'x' }, secret, { algorithm: 'HS256', expiresIn: 120 });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [noKid, hname], '28000', /no kid/),
      "jwt_verify refuses jsonwebtoken's token without kid");
    const expired = jwt.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 120 }, secret,
      { algorithm: 'HS256', keyid: `${hname}:1` });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [expired, hname], '28000', /expired/),
      "jwt_verify refuses jsonwebtoken's expired token");
    const future = jwt.sign({ sub: 'x', nbf: Math.floor(Date.now() / 1000) + 600 }, secret,
      { algorithm: 'HS256', keyid: `${hname}:1`, expiresIn: '1h' });
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [future, hname], '28000', /not valid yet/),
      "jwt_verify refuses jsonwebtoken's token with nbf in the future");
    const [h0, p0, s0] = theirs.split('.');
    const tampered = h0 + '.' + b64u(JSON.stringify({ ...JSON.parse(Buffer.from(p0, 'base64url')), scope: 'admin' })) + '.' + s0;
    check(await fails(db, 'SELECT tracechain.jwt_verify($1, $2)', [tampered, hname], '28000', /signature does not verify/),
      "jwt_verify refuses jsonwebtoken's token with a tampered payload");

    // 5. jsonwebtoken refuses our tokens with the wrong key (a sanity check of the test)
    const ours = (await db.query('SELECT tracechain.jwt_sign($1, $2) AS t', [{ sub: 'x' }, hname])).rows[0].t;
    let threw = false;
    try {
      jwt.verify(ours, crypto.randomBytes(32), { algorithms: ['HS256'] });
    } catch (e) {
      threw = true;
    }
    check(threw, 'jsonwebtoken refuses our HS256 token under another secret');
    await db.query('RESET ROLE');
  } finally {
    await db.query('RESET ROLE');
    await db.query(`DROP ROLE ${role}`);
    await db.end();
  }
  console.log(`# ${n} checks, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log('not ok - ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
