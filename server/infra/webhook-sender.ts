import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Webhook } from 'standardwebhooks';
import type { WebhookUrlGuard } from './webhook-url.js';

/** The secrets that sign a delivery: the current one, and the previous one for 24 h after a rotation. */
export interface SigningSecrets {
  current: string;
  previous?: string | undefined;
}

/**
 * Standard Webhooks headers for a message: `webhook-id`, `webhook-timestamp` and
 * `webhook-signature`, with one `v1,<base64 HMAC-SHA256>` per secret (separated by spaces), made
 * by the `standardwebhooks` package itself.
 */
export function signedHeaders(
  id: string,
  at: Date,
  body: string,
  secrets: SigningSecrets,
): Record<string, string> {
  const signatures = [secrets.current, secrets.previous]
    .filter((s): s is string => s !== undefined)
    .map((secret) => new Webhook(secret).sign(id, at, body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

export interface SendResult {
  outcome: 'succeeded' | 'failed' | 'timeout' | 'unreachable' | 'refused';
  status: number | null;
  /** The first 1 KiB of the answer (or the reason it failed). */
  body: string | null;
  durationMs: number;
  /** `Retry-After` in seconds, when the receiver sent one. */
  retryAfterSeconds: number | undefined;
}

/** How much of a receiver's answer is kept. */
const KEEP_BYTES = 1024;

function retryAfterOf(response: IncomingMessage, now: number): number | undefined {
  const value = response.headers['retry-after'];
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * Sends one signed delivery: the URL is checked (and resolved) by the guard, and the connection
 * goes to the address it checked. Only 2xx is success; an answer is cut after `timeoutMs`, or
 * when `signal` aborts (a stopping worker).
 */
export async function sendDelivery(
  guard: WebhookUrlGuard,
  target: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SendResult> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  const checked = await guard.check(target);
  if (!checked.ok) {
    return {
      outcome: 'refused',
      status: null,
      body: `The URL ${checked.reason}.`,
      durationMs: elapsed(),
      retryAfterSeconds: undefined,
    };
  }
  const { url, address, family } = checked;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ ...result, durationMs: elapsed() });
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'member-roles-webhooks/1',
        },
        // Connect to the address the guard checked, whatever the name resolves to now.
        lookup: (_hostname, options, callback) => {
          if ((options as { all?: boolean }).all) {
            (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
              { address, family },
            ]);
          } else {
            callback(null, address, family);
          }
        },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const status = response.statusCode ?? 0;
        const retryAfterSeconds = retryAfterOf(response, Date.now());
        const done = () => {
          const text = Buffer.concat(chunks).subarray(0, KEEP_BYTES).toString('utf8');
          finish({
            outcome: status >= 200 && status < 300 ? 'succeeded' : 'failed',
            status,
            body: text.length > 0 ? text : null,
            retryAfterSeconds,
          });
          response.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          if (kept < KEEP_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          if (kept >= KEEP_BYTES) done();
        });
        response.on('end', done);
        response.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      finish({
        outcome: 'timeout',
        status: null,
        body: `No answer within ${timeoutMs} ms.`,
        retryAfterSeconds: undefined,
      });
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      finish({
        outcome: 'unreachable',
        status: null,
        body: 'The delivery was cut: the service was stopping.',
        retryAfterSeconds: undefined,
      });
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: Error) =>
      finish({
        outcome: 'unreachable',
        status: null,
        body: error.message.slice(0, KEEP_BYTES),
        retryAfterSeconds: undefined,
      }),
    );
    req.end(body);
  });
}
