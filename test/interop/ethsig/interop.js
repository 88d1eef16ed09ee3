// interop.js: tracechain's Ethereum signatures and Sign-In with Ethereum
// against ethers and siwe, through the pg client as an application backend
// would call them.  Connection from PGHOST/PGPORT/PGUSER/PGDATABASE (a
// superuser: it sets the siwe settings, then acts as a tracechain_app member).
// Prints "ok N - ..." lines; exits 1 when any check fails.
'use strict';
const { ethers } = require('ethers');
const { SiweMessage } = require('siwe');
const { Client } = require('pg');

const N = BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141');
const DOMAIN = 'interop.example';
let n = 0;
let failed = 0;

function check(cond, what, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${what}`);
  if (!cond && detail !== undefined) console.log('#   ' + String(detail).replace(/\n/g, '\n#   '));
}

// The high-s twin of a signature: s' = n - s, v flipped; the same key signs both.
function highS(sigHex) {
  const sig = ethers.Signature.from(sigHex);
  const s2 = N - BigInt(sig.s);
  return ethers.concat([sig.r, ethers.toBeHex(s2, 32), ethers.toBeHex(sig.v === 27 ? 28 : 27, 1)]);
}

async function fails(db, sql, params, code) {
  try {
    await db.query(sql, params);
    return 'no error';
  } catch (e) {
    return e.code === code ? true : `${e.code}: ${e.message}`;
  }
}

function randomMessage(i) {
  const parts = ['hello', 'world', 'Grüße', '日本語', 'emoji 🦊', '', '\n', 'x'.repeat(300)];
  let m = `message ${i}: `;
  for (let k = 0; k < 1 + (i % 5); k++) m += parts[(i * 7 + k) % parts.length];
  return m;
}

async function main() {
  const db = new Client();
  await db.connect();
  await db.query("SET client_min_messages = warning");
  await db.query('CREATE EXTENSION IF NOT EXISTS tracechain');
  await db.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ethsig_interop_app') THEN
        CREATE ROLE ethsig_interop_app NOLOGIN IN ROLE tracechain_app;
      END IF; END $$`);
  await db.query(`SET tracechain.siwe_domain = '${DOMAIN}'`);
  await db.query('SET ROLE ethsig_interop_app');
  await db.query('SET search_path = tracechain');

  // ---- primitives against ethers ----
  {
    let ok = true;
    let detail;
    for (let i = 0; i < 50; i++) {
      const data = ethers.randomBytes(i * 13);
      const { rows } = await db.query('SELECT keccak256($1::bytea) AS k, eth_message_hash($1::bytea) AS h', [Buffer.from(data)]);
      if (ethers.hexlify(rows[0].k) !== ethers.keccak256(data) || ethers.hexlify(rows[0].h) !== ethers.hashMessage(data)) {
        ok = false;
        detail = ethers.hexlify(data);
      }
    }
    check(ok, 'keccak256 and eth_message_hash(bytea) equal ethers for random inputs', detail);
  }

  const wallets = Array.from({ length: 12 }, () => ethers.Wallet.createRandom());
  {
    let ok = true;
    let detail;
    for (const w of wallets) {
      const { rows } = await db.query('SELECT eth_checksum_address($1) AS a, eth_checksum_address($2) AS b',
        [w.address.toLowerCase(), '0x' + w.address.slice(2).toUpperCase()]);
      if (rows[0].a !== ethers.getAddress(w.address) || rows[0].b !== w.address) { ok = false; detail = w.address; }
    }
    check(ok, 'eth_checksum_address equals ethers.getAddress', detail);
  }

  {
    const res = { verify: true, recover: true, hash: true, tampered: true, other: true, highs: true, highsRecover: true };
    const detail = {};
    for (let i = 0; i < wallets.length; i++) {
      const w = wallets[i];
      const other = wallets[(i + 1) % wallets.length];
      const msg = randomMessage(i);
      const sig = await w.signMessage(msg);
      const otherSig = await other.signMessage(msg);
      const hs = highS(sig);
      // ethers 6 refuses the high-s twin too (libsecp256k1 would recover it).
      if (i === 0) {
        let refused = false;
        try { ethers.verifyMessage(msg, hs); } catch (e) { refused = true; }
        check(refused, 'ethers also refuses the high-s twin (sanity check of the twin)');
      }
      const { rows } = await db.query(
        `SELECT eth_verify_message($1, $2, $3) AS v, eth_recover(eth_message_hash($1::text), decode(substr($2, 3), 'hex')) AS r,
                eth_message_hash($1::text) AS h,
                eth_verify_message($1 || '.', $2, $3) AS t, eth_verify_message($1, $4, $3) AS o,
                eth_verify_message($1, $5, $3) AS hs`,
        [msg, sig, w.address, otherSig, hs]);
      const r = rows[0];
      if (r.v !== true) { res.verify = false; detail.verify = msg; }
      if (r.r !== w.address) { res.recover = false; detail.recover = `${r.r} vs ${w.address}`; }
      if (ethers.hexlify(r.h) !== ethers.hashMessage(msg)) { res.hash = false; detail.hash = msg; }
      if (r.t !== false) res.tampered = false;
      if (r.o !== false) res.other = false;
      if (r.hs !== false) res.highs = false;
      const e = await fails(db, "SELECT eth_recover(eth_message_hash($1::text), decode(substr($2, 3), 'hex'))", [msg, hs], '22023');
      if (e !== true) { res.highsRecover = false; detail.highsRecover = e; }
    }
    check(res.verify, 'eth_verify_message accepts ethers signMessage signatures of random wallets', detail.verify);
    check(res.recover, 'eth_recover gives the wallet address (EIP-55)', detail.recover);
    check(res.hash, 'eth_message_hash(text) equals ethers.hashMessage (UTF-8, multi-byte lengths)', detail.hash);
    check(res.tampered, 'tampered messages are refused');
    check(res.other, "other wallets' signatures are refused");
    check(res.highs, 'high-s variants are refused by eth_verify_message');
    check(res.highsRecover, 'high-s variants are refused by eth_recover (22023)', detail.highsRecover);
  }

  // ---- SIWE ----
  const login = (msg, sig) => db.query('SELECT siwe_login($1, $2, $3, $4) AS t', [msg, sig, '198.51.100.9', 'interop/1.0']);
  {
    let parsed = true;
    let fields = true;
    let libVerify = true;
    let logins = true;
    let replay = true;
    let session = true;
    let detail = {};
    for (const w of wallets.slice(0, 6)) {
      const { rows } = await db.query('SELECT siwe_challenge($1, statement => $2) AS m', [w.address.toLowerCase(), 'Sign in to the interop test.']);
      const msg = rows[0].m;
      let sm;
      try {
        sm = new SiweMessage(msg);
      } catch (e) {
        parsed = false;
        detail.parsed = `${JSON.stringify(e)}\n${msg}`;
        continue;
      }
      if (sm.domain !== DOMAIN || sm.address !== w.address || sm.chainId !== 1 || sm.uri !== 'https://' + DOMAIN ||
          !/^[A-Za-z0-9]{24}$/.test(sm.nonce) || sm.version !== '1' || sm.statement !== 'Sign in to the interop test.' ||
          !sm.expirationTime || sm.prepareMessage() !== msg) {
        fields = false;
        detail.fields = JSON.stringify(sm);
      }
      const sig = await w.signMessage(msg);
      try {
        const v = await sm.verify({ signature: sig, domain: DOMAIN, nonce: sm.nonce });
        if (!v.success) libVerify = false;
      } catch (e) {
        libVerify = false;
        detail.libVerify = JSON.stringify(e);
      }
      let token;
      try {
        token = (await login(msg, sig)).rows[0].t;
      } catch (e) {
        logins = false;
        detail.logins = e.message;
        continue;
      }
      const s = await db.query('SELECT p.address FROM session_verify($1) v JOIN principals p ON p.id = v.principal', [token]);
      if (s.rows.length !== 1 || s.rows[0].address !== w.address.toLowerCase()) session = false;
      const e = await fails(db, 'SELECT siwe_login($1, $2)', [msg, sig], '28000');
      if (e !== true) { replay = false; detail.replay = e; }
    }
    check(parsed, 'the siwe package parses siwe_challenge output', detail.parsed);
    check(fields, 'its fields: domain, EIP-55 address, statement, URI, Version 1, Chain ID, 24-char nonce, Expiration Time', detail.fields);
    check(libVerify, 'the siwe package verifies our challenge signed by ethers', detail.libVerify);
    check(logins, 'siwe_login accepts the signed challenge and returns a session token', detail.logins);
    check(session, 'the token verifies to the wallet principal (lower-case address)');
    check(replay, 'replaying the same signed message fails (28000)', detail.replay);
  }

  {
    // A message built by the siwe package, with our nonce, logs in.
    const w = wallets[7];
    const { rows } = await db.query('SELECT siwe_challenge($1) AS m', [w.address]);
    const nonce = new SiweMessage(rows[0].m).nonce;
    const now = new Date();
    const sm = new SiweMessage({
      scheme: 'https',
      domain: DOMAIN,
      address: w.address,
      statement: 'I accept the interop terms: https://interop.example/tos',
      uri: `https://${DOMAIN}/login?next=%2Fhome#top`,
      version: '1',
      chainId: 1,
      nonce,
      issuedAt: now.toISOString(),
      expirationTime: new Date(now.getTime() + 120000).toISOString(),
      notBefore: new Date(now.getTime() - 1000).toISOString(),
      requestId: 'req-42',
      resources: ['ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/', `https://${DOMAIN}/claims/1.json`],
    });
    const msg = sm.prepareMessage();
    const sig = await w.signMessage(msg);
    // Refused first, each leaving the nonce usable: tampered, another wallet, high-s.
    const t = await fails(db, 'SELECT siwe_login($1, $2)', [msg.replace('interop terms', 'interop Terms'), sig], '28000');
    check(t === true, 'a tampered SIWE message is refused (28000)', t);
    const o = await fails(db, 'SELECT siwe_login($1, $2)', [msg, await wallets[8].signMessage(msg)], '28000');
    check(o === true, "another wallet's signature of the message is refused (28000)", o);
    const h = await fails(db, 'SELECT siwe_login($1, $2)', [msg, highS(sig)], '28000');
    check(h === true, 'the high-s twin of the signature is refused (28000)', h);
    let ok = true;
    let detail;
    try {
      const r = await login(msg, sig);
      ok = /^tcs_/.test(r.rows[0].t);
    } catch (e) {
      ok = false;
      detail = `${e.message}\n${msg}`;
    }
    check(ok, 'a message built by the siwe package (scheme, every optional field) logs in with our nonce', detail);
    const r2 = await fails(db, 'SELECT siwe_login($1, $2)', [msg, sig], '28000');
    check(r2 === true, 'and its replay fails', r2);
    const crlf = await fails(db, 'SELECT siwe_login($1, $2)', [msg.replace(/\n/g, '\r\n'), sig], '28000');
    check(crlf === true, 'the same message with CR LF is refused', crlf);
  }

  {
    // A message for another domain, made by the siwe package, with a real nonce.
    const w = wallets[9];
    const { rows } = await db.query('SELECT siwe_challenge($1) AS m', [w.address]);
    const sm = new SiweMessage(rows[0].m);
    sm.domain = 'evil.example';
    sm.uri = 'https://evil.example';
    const msg = sm.prepareMessage();
    const e = await fails(db, 'SELECT siwe_login($1, $2)', [msg, await w.signMessage(msg)], '28000');
    check(e === true, 'a signed message for another domain is refused', e);
    // The nonce was for wallets[9]: wallets[10] cannot use it.
    const w2 = wallets[10];
    const sm2 = new SiweMessage(rows[0].m);
    sm2.address = w2.address;
    const msg2 = sm2.prepareMessage();
    const e2 = await fails(db, 'SELECT siwe_login($1, $2)', [msg2, await w2.signMessage(msg2)], '28000');
    check(e2 === true, "another wallet cannot use a wallet's nonce", e2);
  }

  {
    // Concurrent logins with one nonce from several connections: exactly one succeeds.
    const w = wallets[11];
    const { rows } = await db.query('SELECT siwe_challenge($1) AS m', [w.address]);
    const msg = rows[0].m;
    const sig = await w.signMessage(msg);
    const clients = [];
    for (let i = 0; i < 6; i++) {
      const c = new Client();
      await c.connect();
      await c.query(`SET tracechain.siwe_domain = '${DOMAIN}'`);
      await c.query('SET ROLE ethsig_interop_app');
      clients.push(c);
    }
    const results = await Promise.allSettled(clients.map((c) => c.query('SELECT tracechain.siwe_login($1, $2) AS t', [msg, sig])));
    const okCount = results.filter((r) => r.status === 'fulfilled').length;
    const bad = results.filter((r) => r.status === 'rejected' && r.reason.code !== '28000');
    check(okCount === 1 && bad.length === 0, 'six concurrent logins with one nonce: exactly one succeeds',
      JSON.stringify(results.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.message)));
    await Promise.all(clients.map((c) => c.end()));
  }

  {
    // Every attempt was recorded, with ip and user agent.
    await db.query('RESET ROLE');
    await db.query('SELECT events_flush_wait()');
    const { rows } = await db.query(
      `SELECT count(*) FILTER (WHERE action = 'siwe.login')::int AS ok,
              count(*) FILTER (WHERE action = 'siwe.login_failed')::int AS failed
         FROM audit_log WHERE action IN ('siwe.login', 'siwe.login_failed') AND ip = '198.51.100.9'
          AND details->>'user_agent' = 'interop/1.0'`);
    check(rows[0].ok >= 6, 'successful logins are audited with ip and user agent', JSON.stringify(rows[0]));
  }

  await db.end();
  console.log(`# ${n} checks, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - interop test died: ${e.stack || e}`);
  process.exit(1);
});
