// The SSH algorithms this app accepts, set explicitly rather than taken from
// ssh2's defaults (ssh2 1.17 still offers ssh-rsa host-key signatures, which
// are SHA-1, and hmac-sha1). Names are ssh2 1.17's (lib/protocol/constants.js);
// each list is one that OpenSSH 7.x and later also speaks.
import type { Algorithms } from "ssh2";

/** Host-key signature algorithms: no ssh-rsa (SHA-1) and no ssh-dss. */
export const HOST_KEY_ALGORITHMS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256"] as const;

export const KEX_ALGORITHMS = [
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "ecdh-sha2-nistp256",
  "ecdh-sha2-nistp384",
  "ecdh-sha2-nistp521",
  "diffie-hellman-group-exchange-sha256",
  "diffie-hellman-group16-sha512",
  "diffie-hellman-group18-sha512",
  "diffie-hellman-group14-sha256",
] as const;

export const CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"] as const;

/** MACs (only used with the CTR ciphers; GCM and ChaCha20 carry their own): SHA-2 only. */
export const MACS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512"] as const;

/** Which host-key algorithms prove a key of this known_hosts type. */
function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256"];
  return HOST_KEY_ALGORITHMS.includes(keyType as (typeof HOST_KEY_ALGORITHMS)[number]) ? [keyType] : [];
}

/**
 * The algorithm lists for a connection. Host-key algorithms for the key
 * types known_hosts already holds for the host come first (as OpenSSH
 * orders them), so a node that has its known key proves itself with it and
 * is never judged by a second key it also has.
 */
export function sshAlgorithms(knownKeyTypes: readonly string[] = []): Algorithms {
  const preferred = knownKeyTypes.flatMap(algorithmsForKeyType);
  const serverHostKey = [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];
  return {
    kex: [...KEX_ALGORITHMS] as Algorithms["kex"],
    serverHostKey: serverHostKey as Algorithms["serverHostKey"],
    cipher: [...CIPHERS] as Algorithms["cipher"],
    hmac: [...MACS] as Algorithms["hmac"],
    compress: ["none"],
  };
}

/** ssh2's handshake failures, said for people: which side of the list the node lacks, and the fix. */
export function describeHandshakeFailure(label: string, message: string): string | undefined {
  const what = /no matching host key format/.test(message)
    ? `a host-key algorithm (this app accepts ${HOST_KEY_ALGORITHMS.join(", ")}; not ssh-rsa with SHA-1 signatures or ssh-dss). Give the node an ed25519 host key, or allow rsa-sha2-256/512 in its sshd_config (HostKeyAlgorithms)`
    : /no matching key exchange algorithm/.test(message)
      ? `a key exchange (this app accepts ${KEX_ALGORITHMS.join(", ")}; no SHA-1 ones). Update the node's OpenSSH or its KexAlgorithms`
      : /no matching (C->S|S->C) cipher/.test(message)
        ? `a cipher (this app accepts ${CIPHERS.join(", ")}). Update the node's OpenSSH or its Ciphers`
        : /no matching (C->S|S->C) MAC/.test(message)
          ? `a MAC (this app accepts ${MACS.join(", ")}; not hmac-sha1 or hmac-md5). Update the node's OpenSSH or its MACs`
          : undefined;
  if (!what) return undefined;
  return `${label} offers no SSH algorithm this app accepts for ${what}. Nothing was sent to the node.`;
}
