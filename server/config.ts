import type { TokenConfig } from './infra/tokens.js';
import type { Resolver } from './infra/webhook-url.js';
import { DEFAULT_RETRY_SCHEDULE } from './domain/webhook-delivery.js';

/** The service's configuration, read once from the environment (see the README's table). */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  platformKey: string | undefined;
  /** `true` seeds, `false` never, `undefined` seeds an empty embedded database. */
  demo: boolean | undefined;
  rateLimitPerMinute: number;
  logLevel: string;
  production: boolean;
  /** Access tokens (JWT) of the product's identity provider; undefined: not accepted. */
  jwt?: TokenConfig | undefined;
  /** Where clients reach the service (the AuthZEN decision point's identifier); undefined: the origin each request was sent to. */
  publicUrl?: string | undefined;
  /** Connections to PostgreSQL this process keeps at most. */
  databasePoolSize: number;
  /** Characters of rendered pages of members this process keeps (PAGE_CACHE_MB; 0: none). */
  pageCacheChars: number;
  /** How long connecting to PostgreSQL, or waiting for a free connection, may take. */
  databaseConnectTimeoutMs: number;
  /** How long a client may take to send a request's headers (408 after). */
  headersTimeoutMs: number;
  /** How long a client may take to send a whole request, body included (408 after; 0: no limit). */
  requestTimeoutMs: number;
  /** Concurrent client connections accepted; more are closed at once. */
  maxConnections: number;
  /** How long a shutdown may drain requests in flight before it cuts them. */
  shutdownTimeoutMs: number;
  /** `GET /metrics` without the platform key (MEMBER_ROLES_METRICS_PUBLIC=1). */
  metricsPublic?: boolean;
  /** Webhooks: the delivery worker runs (MEMBER_ROLES_WEBHOOK_DELIVERY, default on). */
  webhookDelivery: boolean;
  /** Webhooks: `http://` and private addresses allowed (MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE=1). */
  webhookAllowPrivate: boolean;
  /** Webhooks: seconds before each retry (MEMBER_ROLES_WEBHOOK_RETRY_SCHEDULE). */
  webhookRetrySchedule: readonly number[];
  /** Webhooks: how long a receiver may take to answer (MEMBER_ROLES_WEBHOOK_TIMEOUT_MS). */
  webhookTimeoutMs: number;
  /** Webhooks: how host names are resolved (not from the environment: tests give their own). */
  webhookResolver?: Resolver | undefined;
}

function flag(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value !== '0' && value !== '1') throw new Error(`${name} must be 1 or 0, not "${value}"`);
  return value === '1';
}

/** MEMBER_ROLES_WEBHOOK_RETRY_SCHEDULE: seconds, comma-separated (`5,300,1800`). */
function retrySchedule(value: string | undefined): readonly number[] {
  if (value === undefined || value.trim() === '') return DEFAULT_RETRY_SCHEDULE;
  const parts = value.split(',').map((part) => part.trim());
  if (parts.length > 50 || parts.some((part) => !/^\d{1,7}(\.\d{1,3})?$/.test(part))) {
    throw new Error(
      `MEMBER_ROLES_WEBHOOK_RETRY_SCHEDULE must be up to 50 numbers of seconds, comma-separated (e.g. 5,300,1800), not "${value}"`,
    );
  }
  return parts.map(Number);
}

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  max: number,
  min = 0,
): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max || Number(value) < min) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return Number(value);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const demo = env.MEMBER_ROLES_DEMO;
  if (demo !== undefined && demo !== '' && demo !== '0' && demo !== '1') {
    throw new Error(`MEMBER_ROLES_DEMO must be 1 or 0, not "${demo}"`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  }
  const platformKey = env.MEMBER_ROLES_PLATFORM_KEY || undefined;
  if (platformKey !== undefined && platformKey.length < 16) {
    throw new Error('MEMBER_ROLES_PLATFORM_KEY must be at least 16 characters long');
  }
  const metricsPublic = env.MEMBER_ROLES_METRICS_PUBLIC;
  if (
    metricsPublic !== undefined &&
    metricsPublic !== '' &&
    metricsPublic !== '0' &&
    metricsPublic !== '1'
  ) {
    throw new Error(`MEMBER_ROLES_METRICS_PUBLIC must be 1 or 0, not "${metricsPublic}"`);
  }
  const headersTimeoutMs = integer(
    'HEADERS_TIMEOUT_MS',
    env.HEADERS_TIMEOUT_MS,
    20_000,
    600_000,
    1,
  );
  const requestTimeoutMs = integer('REQUEST_TIMEOUT_MS', env.REQUEST_TIMEOUT_MS, 30_000, 3_600_000);
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new Error('HEADERS_TIMEOUT_MS must not be longer than REQUEST_TIMEOUT_MS');
  }
  return {
    jwt: jwtConfig(env),
    publicUrl: publicUrl(env.MEMBER_ROLES_PUBLIC_URL),
    port: integer('PORT', env.PORT, 3000, 65535),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    platformKey,
    demo: demo === '1' ? true : demo === '0' ? false : undefined,
    rateLimitPerMinute: integer('RATE_LIMIT_PER_MINUTE', env.RATE_LIMIT_PER_MINUTE, 600, 1_000_000),
    logLevel,
    production: env.NODE_ENV === 'production',
    databasePoolSize: integer('DATABASE_POOL_SIZE', env.DATABASE_POOL_SIZE, 10, 1000, 1),
    pageCacheChars: integer('PAGE_CACHE_MB', env.PAGE_CACHE_MB, 16, 4096) * 1_000_000,
    databaseConnectTimeoutMs: integer(
      'DATABASE_CONNECT_TIMEOUT_MS',
      env.DATABASE_CONNECT_TIMEOUT_MS,
      5000,
      60_000,
      100,
    ),
    headersTimeoutMs,
    requestTimeoutMs,
    maxConnections: integer('MAX_CONNECTIONS', env.MAX_CONNECTIONS, 1000, 1_000_000, 1),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', env.SHUTDOWN_TIMEOUT_MS, 10_000, 600_000, 1),
    metricsPublic: metricsPublic === '1',
    webhookDelivery: flag('MEMBER_ROLES_WEBHOOK_DELIVERY', env.MEMBER_ROLES_WEBHOOK_DELIVERY, true),
    webhookAllowPrivate: flag(
      'MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE',
      env.MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE,
      false,
    ),
    webhookRetrySchedule: retrySchedule(env.MEMBER_ROLES_WEBHOOK_RETRY_SCHEDULE),
    webhookTimeoutMs: integer(
      'MEMBER_ROLES_WEBHOOK_TIMEOUT_MS',
      env.MEMBER_ROLES_WEBHOOK_TIMEOUT_MS,
      15_000,
      60_000,
      100,
    ),
  };
}

/** MEMBER_ROLES_PUBLIC_URL: an http(s) URL without query or fragment, kept without a trailing slash. */
function publicUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`MEMBER_ROLES_PUBLIC_URL must be a URL, not "${value}"`);
  }
  if (!['https:', 'http:'].includes(url.protocol) || url.search || url.hash || url.username) {
    throw new Error(
      'MEMBER_ROLES_PUBLIC_URL must be an https:// (or http://) URL without credentials, query or fragment',
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** MEMBER_ROLES_JWT_*: all of the JWKS URL, issuer and audience, or none. */
function jwtConfig(env: NodeJS.ProcessEnv): TokenConfig | undefined {
  const jwksUrl = env.MEMBER_ROLES_JWT_JWKS_URL || undefined;
  const issuer = env.MEMBER_ROLES_JWT_ISSUER || undefined;
  const audience = env.MEMBER_ROLES_JWT_AUDIENCE || undefined;
  if (!jwksUrl) {
    if (issuer || audience) {
      throw new Error('MEMBER_ROLES_JWT_ISSUER and _AUDIENCE need MEMBER_ROLES_JWT_JWKS_URL');
    }
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(jwksUrl);
  } catch {
    throw new Error(`MEMBER_ROLES_JWT_JWKS_URL must be a URL, not "${jwksUrl}"`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error('MEMBER_ROLES_JWT_JWKS_URL must be an https:// URL (http:// only on loopback)');
  }
  if (!issuer || !audience) {
    throw new Error(
      'MEMBER_ROLES_JWT_JWKS_URL needs MEMBER_ROLES_JWT_ISSUER and MEMBER_ROLES_JWT_AUDIENCE: a token is accepted only from that issuer, for that audience',
    );
  }
  return { jwksUrl, issuer, audience, userClaim: env.MEMBER_ROLES_JWT_USER_CLAIM || 'sub' };
}
