import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { UrlCheck, WebhookUrlGuard } from './webhook-url.js';

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
 * Keep-alive connections to receivers, by the address the guard checked (never by host name: a
 * connection is only reused for the address it was opened to). A TCP (and TLS) connection opened
 * for each delivery cost the service and the receiver three to four times the CPU of a request on
 * a kept connection. Idle connections close after `idleMs`, or one second before the receiver's
 * own `Keep-Alive: timeout` when that is shorter. A delivery sent again on a new connection may
 * reach a receiver twice (deliveries are at least once, with the same `webhook-id`).
 */
export class DeliveryConnections {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;

  constructor({ maxPerReceiver = 16, idleMs = 4_000 } = {}) {
    const options = { keepAlive: true, maxSockets: maxPerReceiver, maxFreeSockets: maxPerReceiver };
    this.http = new HttpAgent({ ...options, timeout: idleMs });
    this.https = new HttpsAgent({ ...options, timeout: idleMs });
  }

  /** Closes every connection (the worker has stopped). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

const UNREACHABLE = {
  outcome: 'unreachable',
  status: null,
  body: 'The connection was closed by the receiver.',
  retryAfterSeconds: undefined,
} as const;

/** Errors of a kept-alive connection the receiver closed just as it was reused. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * Sends one signed delivery: the URL is checked (and resolved) by the guard, and the connection
 * goes to the address it checked (a kept-alive one to that address when there is one; sent again
 * once on a new connection when a reused one turns out closed before any answer). Only 2xx is
 * success; an answer is cut after `timeoutMs`, or when `signal` aborts (a stopping worker).
 */
export async function sendDelivery(
  guard: WebhookUrlGuard,
  target: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  signal?: AbortSignal,
  connections?: DeliveryConnections,
): Promise<SendResult> {
  const started = Date.now();
  const checked = await guard.check(target);
  if (!checked.ok) {
    return {
      outcome: 'refused',
      status: null,
      body: `The URL ${checked.reason}.`,
      durationMs: Date.now() - started,
      retryAfterSeconds: undefined,
    };
  }
  const attempt = (reuse: boolean) =>
    sendTo(checked, headers, body, timeoutMs, started, signal, reuse ? connections : undefined);
  const first = await attempt(true);
  if (first !== 'stale') return first;
  const second = await attempt(false);
  // A new connection is never reused: it cannot be stale.
  return second === 'stale' ? { ...UNREACHABLE, durationMs: Date.now() - started } : second;
}

/** One request to the checked address; `'stale'` when a reused connection was found closed. */
function sendTo(
  checked: Extract<UrlCheck, { ok: true }>,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  started: number,
  signal: AbortSignal | undefined,
  connections: DeliveryConnections | undefined,
): Promise<SendResult | 'stale'> {
  const elapsed = () => Date.now() - started;
  const { url, host, address } = checked;
  const tls = url.protocol === 'https:';
  const request = tls ? httpsRequest : httpRequest;
  return new Promise<SendResult | 'stale'>((resolve) => {
    let settled = false;
    const settle = (result: SendResult | 'stale') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const finish = (result: Omit<SendResult, 'durationMs'>) =>
      settle({ ...result, durationMs: elapsed() });
    const req = request(
      {
        protocol: url.protocol,
        host: address,
        port: url.port || (tls ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        // The certificate is checked against the URL's host name, not the address.
        ...(tls && !isIP(host) ? { servername: host } : {}),
        method: 'POST',
        headers: {
          ...headers,
          host: url.host,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'member-roles-webhooks/1',
        },
        agent: connections ? (tls ? connections.https : connections.http) : false,
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
        };
        response.on('data', (chunk: Buffer) => {
          if (kept < KEEP_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          // More than is kept: the rest is not read, and the connection is not reused.
          if (kept >= KEEP_BYTES) {
            done();
            response.destroy();
          }
        });
        // Read to its end, the connection goes back to the pool for the next delivery.
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
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (req.reusedSocket && STALE_CONNECTION.has(error.code ?? '') && !signal?.aborted) {
        return settle('stale');
      }
      finish({
        outcome: 'unreachable',
        status: null,
        body: error.message.slice(0, KEEP_BYTES),
        retryAfterSeconds: undefined,
      });
    });
    req.end(body);
  });
}
