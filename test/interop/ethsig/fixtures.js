// fixtures.js: how the hard-coded vectors in sql/ethsig.sql, sql/siwe.sql and
// specs/siwe_nonce_race.spec were made (run: node fixtures.js).  Fixed keys,
// fixed nonces and a fixed Issued At, so the output never changes.
'use strict';
const { ethers } = require('ethers');

const N = BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141');
const keyA = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
const keyB = '0x0123456789012345678901234567890123456789012345678901234567890123';
const a = new ethers.Wallet(keyA);
const b = new ethers.Wallet(keyB);

function highS(sigHex) {
  const sig = ethers.Signature.from(sigHex);
  const s2 = N - BigInt(sig.s);
  const v2 = sig.v === 27 ? 28 : 27;
  return ethers.concat([sig.r, ethers.toBeHex(s2, 32), ethers.toBeHex(v2, 1)]);
}

function siwe(addr, nonce, extra = '') {
  return 'example.com wants you to sign in with your Ethereum account:\n' + addr + '\n\n' +
    'Sign in to the regression suite.\n\n' +
    'URI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: ' + nonce + '\n' +
    'Issued At: 2026-01-01T00:00:00.000Z' + extra;
}

(async () => {
  const out = {};
  out.keccak_empty = ethers.keccak256('0x');
  out.keccak_abc = ethers.keccak256(ethers.toUtf8Bytes('abc'));
  out.hash_hello = ethers.hashMessage('hello world');
  out.addrA = a.address;
  out.addrB = b.address;
  out.sig_hello_A = await a.signMessage('hello world');
  out.sig_hello_A_high_s = highS(out.sig_hello_A);
  out.sig_hello_B = await b.signMessage('hello world');
  for (const [name, nonce, extra] of [
    ['regress', 'regressNonce000000000001', ''],
    ['regress_nb', 'regressNonce000000000002', '\nExpiration Time: 2099-01-01T00:00:00.000Z\nNot Before: 2026-01-01T00:00:00Z\nRequest ID: req-1\nResources:\n- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n- https://example.com/my-web2-claim.json'],
    ['iso', 'isolationNonce0000000001', ''],
  ]) {
    const m = siwe(a.address, nonce, extra);
    out['siwe_' + name] = m;
    out['siwe_' + name + '_sig'] = await a.signMessage(m);
  }
  // message claims A, signed by B
  out.siwe_wrong_signer_sig = await b.signMessage(out.siwe_regress);
  out.siwe_regress_high_s = highS(out.siwe_regress_sig);
  console.log(JSON.stringify(out, null, 2));
})();
