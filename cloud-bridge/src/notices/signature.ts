import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signature of a notice delivery, after Stripe's webhooks: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`. The time inside the signed text lets a receiver refuse an old delivery replayed.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type SignatureCheck = { ok: true; t: number } | { ok: false; reason: string };

/**
 * What a receiver does with `X-Educard-Signature`: recompute the HMAC over the raw body as received,
 * compare in constant time, and refuse a time further than `toleranceSeconds` from its clock.
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): SignatureCheck {
  if (!header) return { ok: false, reason: 'no signature' };
  const fields = new Map(
    header.split(',').map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()] as const;
    }),
  );
  const t = Number(fields.get('t'));
  const given = fields.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given))
    return { ok: false, reason: 'malformed signature' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300))
    return { ok: false, reason: 'signature too old' };
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex')))
    return { ok: false, reason: 'signature mismatch' };
  return { ok: true, t };
}
