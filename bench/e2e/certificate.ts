/**
 * The wss:// rows' certificate: self-signed for 127.0.0.1, made once per benchmark process with
 * `openssl` (as test/helpers/certificate.ts does) and removed when the process exits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let files: { cert: string; key: string } | undefined;

export function benchCertificate(): { cert: string; key: string } {
  if (files !== undefined) return files;
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-bench-cert-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=wasmsocket bench',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  files = { cert, key };
  return files;
}
