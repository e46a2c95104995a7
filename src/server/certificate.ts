/** A wss:// server's certificate: PEM text, checked by loading it once where it is given. */
import { createSecureContext } from 'node:tls';

export interface TlsCertificate {
  cert: string;
  key: string;
}

/** The PEM strings of a certificate and key that Node's TLS loads; a clear error otherwise. */
export function checkedCertificate(tls: { cert: string | Buffer; key: string | Buffer }): TlsCertificate;
export function checkedCertificate(tls: { cert: string | Buffer; key: string | Buffer } | undefined): TlsCertificate | undefined;
export function checkedCertificate(tls: { cert: string | Buffer; key: string | Buffer } | undefined): TlsCertificate | undefined {
  if (tls === undefined) return undefined;
  const certificate = { cert: String(tls.cert), key: String(tls.key) };
  try {
    createSecureContext(certificate);
  } catch (error) {
    throw new TypeError(`tls: the certificate and key do not load: ${(error as Error).message}`);
  }
  return certificate;
}
