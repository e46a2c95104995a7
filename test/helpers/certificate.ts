/** A self-signed certificate for 127.0.0.1 and localhost, made by `openssl` for one test run. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

export interface TestCertificate {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** SHA-256 fingerprint, as `getPeerCertificate().fingerprint256` reports it. */
  fingerprint: string;
  remove(): void;
}

export function makeCertificate(commonName = 'wasmsocket test'): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-cert-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const cert = readFileSync(certPath, 'utf8');
  return {
    cert, key: readFileSync(keyPath, 'utf8'), certPath, keyPath,
    fingerprint: new X509Certificate(cert).fingerprint256,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
