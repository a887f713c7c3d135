// A hospital's upload signing key pair made in this browser with WebCrypto: ECDSA P-256
// (ES256), its kid the RFC 7638 thumbprint of the public key (SHA-256 of the required
// members in order, base64url), never one that begins with '-' (command lines read it as
// an option: drawn again, as shared/keyfiles.py does). The private JWK is written in the
// format `healthlink hospitals keygen` writes and the adapter's JwsSigner.from_file reads;
// only the public half ever leaves the page.

function base64url(bytes) {
  let binary = '';
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// RFC 7638 §3.2: an EC key's members crv, kty, x, y, in that order, no whitespace
export async function thumbprint(jwk) {
  const required = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(required)));
}

export const canMakeKeys = () => Boolean(window.isSecureContext && window.crypto && crypto.subtle);

// { kid, publicJwk, privateJwk }: a new key pair whose kid does not begin with '-'
export async function newKeyPair() {
  for (;;) {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const exported = await crypto.subtle.exportKey('jwk', pair.privateKey);
    const kid = await thumbprint(exported);
    if (kid.startsWith('-')) continue;
    const common = { kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y };
    return {
      kid,
      publicJwk: { ...common, kid, alg: 'ES256', use: 'sig' },
      privateJwk: { ...common, d: exported.d, kid, alg: 'ES256', use: 'sig' },
    };
  }
}

// the private key as a file the browser saves (a link with `download`; its address is
// revoked by `forgetFile`)
export function keyFile(hospital, pair) {
  const blob = new Blob([JSON.stringify(pair.privateJwk, null, 2) + '\n'], { type: 'application/jwk+json' });
  return { name: 'hospital-' + hospital + '-' + pair.kid.slice(0, 12) + '.jwk', url: URL.createObjectURL(blob) };
}

export function forgetFile(file) {
  if (file) URL.revokeObjectURL(file.url);
}

export function save(file) {
  const link = document.createElement('a');
  link.href = file.url;
  link.download = file.name;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
}
