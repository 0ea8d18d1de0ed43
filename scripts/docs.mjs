#!/usr/bin/env node
// `npm run docs`: serves the Redoc page of the working copy's openapi/ on http://127.0.0.1:$DOCS_PORT
// (default 8080) and reloads the browser whenever openapi/ or redocly.yaml changes. A failed build
// keeps the last good page and shows the error in an overlay. Nothing is written to the tree.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const toolRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = path.resolve(values.root ?? toolRoot);
const port = Number(process.env.DOCS_PORT ?? 8080);
const specDir = path.join(root, 'openapi');
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'member-roles-docs-'));
const outFile = path.join(tmpDir, 'index.html');
const bundleFile = path.join(tmpDir, 'openapi.json');

const LIVE = '/__live';
const snippet = `<script>(() => {
  const events = new EventSource(${JSON.stringify(LIVE)});
  events.addEventListener('reload', () => location.reload());
  events.addEventListener('failed', (e) => {
    let box = document.getElementById('__live_error');
    if (!box) {
      box = document.createElement('pre');
      box.id = '__live_error';
      box.style.cssText = 'position:fixed;inset:auto 0 0 0;max-height:50vh;overflow:auto;margin:0;' +
        'padding:1em;background:#2b0000;color:#ffb4b4;font:12px monospace;z-index:99999;white-space:pre-wrap';
      document.body.appendChild(box);
    }
    box.textContent = 'Build failed (showing the last good version):\\n\\n' + JSON.parse(e.data);
  });
})();</script>`;

let page = null; // last good HTML, with the snippet injected
let lastError = null;
const clients = new Set();

function send(event, data) {
  for (const res of clients) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function redocly(args) {
  return new Promise((resolve) => {
    const child = spawn(path.join(toolRoot, 'node_modules', '.bin', 'redocly'), args, {
      cwd: root,
      env: {
        ...process.env,
        REDOCLY_TELEMETRY: 'off',
        REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (e) => resolve({ ok: false, output: String(e) }));
    child.on('close', (code) => resolve({ ok: code === 0, output }));
  });
}

// Same path as `npm run generate`: bundle first (it fails on a broken $ref or YAML error, where
// build-docs alone renders what it can and exits 0), then render the bundle.
async function buildOnce() {
  const hasConfig = fs.existsSync(path.join(root, 'redocly.yaml'));
  // With redocly.yaml, use the `main` api so its config (decorators, theme) applies.
  const api = hasConfig ? 'main' : path.join('openapi', 'openapi.yaml');
  const bundled = await redocly(['bundle', api, '--output', bundleFile]);
  if (!bundled.ok) return bundled;
  return redocly(['build-docs', bundleFile, '--output', outFile, '--inlineBundle']);
}

let building = false;
let again = false;
async function rebuild() {
  if (building) {
    again = true;
    return;
  }
  building = true;
  do {
    again = false;
    const started = performance.now();
    const { ok, output } = await buildOnce();
    const ms = Math.round(performance.now() - started);
    if (ok) {
      const html = fs.readFileSync(outFile, 'utf8');
      const at = html.lastIndexOf('</body>');
      page = at === -1 ? html + snippet : html.slice(0, at) + snippet + html.slice(at);
      lastError = null;
      console.error(`[docs] rebuilt in ${ms} ms`);
      send('reload', ms);
    } else {
      // Keep only the useful part of Redocly's output (drop its banners).
      lastError = output.replace(/\s*╔[\s\S]*?╝\s*/g, '\n').trim();
      console.error(`[docs] build failed in ${ms} ms:\n${lastError}`);
      send('failed', lastError);
    }
  } while (again);
  building = false;
}

let timer;
function schedule(reason) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    console.error(`[docs] ${reason} changed`);
    void rebuild();
  }, 150);
}

if (!fs.existsSync(specDir)) {
  console.error(`[docs] ${specDir} does not exist`);
  process.exit(1);
}
// Recursive fs.watch works on Linux since Node 20 (and sees directories created later).
fs.watch(specDir, { recursive: true }, (_event, file) =>
  schedule(path.join('openapi', String(file ?? ''))),
);
fs.watch(root, (_event, file) => {
  if (file === 'redocly.yaml') schedule(file);
});

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === LIVE) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    if (lastError) res.write(`event: failed\ndata: ${JSON.stringify(lastError)}\n\n`);
    clients.add(res);
    req.on('close', () => clients.delete(res));
    return;
  }
  if (url.pathname !== '/' && url.pathname !== '/index.html') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
    return;
  }
  const body =
    page ??
    `<!DOCTYPE html><meta charset="utf-8"><title>Docs</title><body><p>${
      lastError ? 'The first build failed; fix openapi/ and this page reloads.' : 'Building…'
    }</p>${snippet}</body>`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
});
// Keep idle SSE connections alive through proxies.
setInterval(() => clients.forEach((res) => res.write(': ping\n\n')), 30_000).unref();

function shutdown() {
  fs.rmSync(tmpDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

server.listen(port, '127.0.0.1', () => {
  console.error(`[docs] serving ${specDir} on http://127.0.0.1:${port}/ (live reload)`);
  void rebuild();
});
