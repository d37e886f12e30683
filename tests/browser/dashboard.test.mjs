// Browser test of `narrate serve`: headless Debian Chromium driven by
// playwright-core. Runs the real server on a free loopback port with a
// scripted GPU (vram-trace.json crosses 95 % at batch 4), a temporary
// workspace and XDG_CONFIG_HOME, then uses the page as a person would.
//
// Environment: NARRATE_BIN (the narrate binary), NARRATE_BINARY_DIR (the
// screenshots go to $NARRATE_BINARY_DIR/artifacts/), NARRATE_SOURCE_DIR.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CHROMIUM = '/usr/bin/chromium';

function skip(msg) {
  console.log('SKIP: ' + msg);
  process.exit(77);
}
if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium)`);
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  skip('playwright-core is not installed: run (cd tests/browser && npm ci)');
}

const source = process.env.NARRATE_SOURCE_DIR || path.resolve(here, '../..');
const binDir = process.env.NARRATE_BINARY_DIR || path.join(source, 'build');
const bin = process.env.NARRATE_BIN || path.join(binDir, 'narrate');
const artifacts = path.join(binDir, 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });

let failures = 0;
function check(cond, what) {
  if (cond) {
    console.log('ok   ' + what);
  } else {
    console.log('FAIL ' + what);
    failures++;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'narrate-browser-'));
const root = path.join(tmp, 'workspace');
const cfg = path.join(tmp, 'config');
fs.mkdirSync(root);
fs.mkdirSync(cfg);
const bookName = 'the-lighthouse-keepers-clock.md';
fs.copyFileSync(path.join(source, 'examples', bookName), path.join(root, bookName));
const settingsFile = path.join(cfg, 'narrate', 'settings.json');

let server = null;
let context = null;
const serverOut = [];

// The whole test is bounded: a hang fails instead of blocking ctest.
const watchdog = setTimeout(() => {
  console.log('FAIL the test took longer than 240 s');
  finish(1);
}, 240000);

async function finish(code) {
  clearTimeout(watchdog);
  try { if (context) await context.close(); } catch (e) { /* already gone */ }
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { server.once('exit', r); setTimeout(r, 10000); });
  }
  if (code !== 0) console.log('--- server output ---\n' + serverOut.join(''));
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--port', '0', '--root', root], {
      env: { ...process.env, XDG_CONFIG_HOME: cfg, NARRATE_FAKE_GPU: path.join(here, 'vram-trace.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no URL from narrate serve in 15 s')), 15000);
    const onData = (d) => {
      serverOut.push(d.toString());
      buf += d.toString();
      const m = buf.match(/(http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]{64}))/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(m[2]), token: m[3] });
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (d) => serverOut.push(d.toString()));
    server.on('error', (e) => reject(new Error(`cannot run ${bin}: ${e.message}`)));
    server.once('exit', (code) => reject(new Error('narrate serve exited with ' + code)));
  });
}

async function main() {
  const { url, port } = await startServer();
  const base = `http://127.0.0.1:${port}`;
  console.log('server at ' + base);

  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  // Script errors fail the test. Console lines about refused requests are
  // expected here (the 403 page, the 400 of the bad setting below).
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });

  // Without the token: 403, and no token in the answer.
  let resp = await page.goto(base + '/');
  check(resp.status() === 403, `page without token -> 403 (got ${resp.status()})`);
  check(!(await page.content()).includes('narrate-token'), 'the 403 page does not carry the token');

  // With the token: the page, a cookie, and the token gone from the address bar.
  resp = await page.goto(url);
  check(resp.status() === 200, `page with token -> 200 (got ${resp.status()})`);
  const cookies = await context.cookies(base);
  const c = cookies.find((k) => k.name === `narrate_${port}`);
  check(c && c.httpOnly && c.sameSite === 'Strict', 'HttpOnly SameSite=Strict cookie set');
  await page.waitForSelector('#set-batch_size');
  check(!page.url().includes('token='), 'token removed from the address bar');

  // A reload works from the cookie alone.
  resp = await page.reload();
  check(resp.status() === 200, 'reload with the cookie -> 200');
  await page.waitForSelector('#set-batch_size');
  check((await page.inputValue('#set-batch_size')) === '3', 'batch size shows the default 3');
  await page.waitForFunction(() => document.getElementById('gpu-report').textContent.includes('Total VRAM'));
  const gpuText = await page.textContent('#gpu-report');
  check(gpuText.includes('GPU: Fake RTX 4070 Ti') && gpuText.includes('Total VRAM: 12.0 GB'),
    'GPU panel shows the start-up report');

  // A bad value is refused beside its field and the file keeps its value.
  await page.fill('#set-batch_size', '999');
  await page.click('#save-settings');
  await page.waitForFunction(() => document.getElementById('err-batch_size').textContent.length > 0);
  const errText = await page.textContent('#err-batch_size');
  check(errText.includes('batch_size') && errText.includes('0 to 256'), 'validation error beside the field: ' + errText);
  check(JSON.parse(fs.readFileSync(settingsFile, 'utf8')).batch_size === 3, 'settings.json unchanged after a bad value');

  // Batch size 5 (and WAV output, the quickest to assemble), saved to the
  // CLI's settings.json.
  await page.fill('#set-batch_size', '5');
  await page.selectOption('#set-output_format', 'wav');
  await page.click('#save-settings');
  await page.waitForFunction(() => document.getElementById('settings-msg').textContent.startsWith('Saved'));
  const saved = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  check(saved.batch_size === 5 && saved.output_format === 'wav', 'settings.json has batch_size 5 and output_format wav');
  check((await page.textContent('#err-batch_size')) === '', 'the error is cleared');

  // Upload a book through the page: it lands in ROOT/uploads and is selected.
  const upFile = path.join(tmp, 'short story.md');
  fs.writeFileSync(upFile, '# A Short Story\n\nIt was a quiet night at the lighthouse.\n');
  await page.setInputFiles('#upload-file', upFile);
  await page.click('#upload');
  await page.waitForFunction(() => document.getElementById('render-msg').textContent.startsWith('Uploaded'));
  check((await page.inputValue('#book')) === 'uploads/short story.md', 'the uploaded book is selected');
  check(fs.readFileSync(path.join(root, 'uploads', 'short story.md'), 'utf8') === fs.readFileSync(upFile, 'utf8'),
    'the upload is byte-identical in ROOT/uploads');

  // Start a render of the sample book.
  await page.selectOption('#book', bookName);
  await page.click('#start');
  // Batch 4 of the trace is at 97 %: the dialog appears.
  await page.waitForSelector('#prompt[open]', { timeout: 60000 });
  const logLines = await page.$$eval('#log .line', (els) => els.map((e) => e.textContent));
  check(logLines.some((l) => /Batch 1 \(5 chunks\) done in .* \| VRAM: 7\.2\/12\.0GB \(60%\)/.test(l)),
    'the seed\'s batch line arrived over SSE with batch size 5');
  check(logLines.length >= 8, `log lines arrived live (${logLines.length})`);
  const warnings = await page.$$eval('#log .line.warning', (els) => els.map((e) => e.textContent));
  check(warnings.some((l) => l.includes('danger: reduce batch size immediately')), 'the danger warning is highlighted');
  const points = await page.$$eval('#chart circle.pt', (els) => els.length);
  check(points >= 3, `chart has >= 3 VRAM points (${points})`);
  check(await page.$$eval('#chart line.g80', (e) => e.length) === 1 &&
        await page.$$eval('#chart line.g95', (e) => e.length) === 1, 'chart has the 80 % and 95 % guide lines');
  const reduceText = await page.textContent('#prompt-reduce');
  check(reduceText === 'Reduce batch size to 3 and continue', 'dialog offers: ' + reduceText);
  check((await page.textContent('#state')) === 'prompt', 'state badge says prompt');
  await page.screenshot({ path: path.join(artifacts, 'dashboard-prompt.png') });

  // Answer: reduce, then the render finishes.
  await page.click('#prompt-reduce');
  await page.waitForFunction(() => document.getElementById('state').textContent === 'done', null, { timeout: 90000 });
  check(!(await page.$('#prompt[open]')), 'the dialog is closed');
  const finalLog = await page.$$eval('#log .line', (els) => els.map((e) => e.textContent).join('\n'));
  check(finalLog.includes('Reducing batch size from 5 to 3 and continuing'), 'the answer reached the render');
  check(/Batch 5 \(3 chunks\)/.test(finalLog), 'later batches use batch size 3');
  check(finalLog.includes('Render finished'), 'the log says the render finished');
  check((await page.textContent('#p-chunks')) === '55 / 55', 'progress shows 55 / 55 chunks');
  const finalPoints = await page.$$eval('#chart circle.pt', (els) => els.length);
  check(finalPoints >= 10, `chart has a point per batch (${finalPoints})`);
  const out = path.join(root, 'the-lighthouse-keepers-clock-audiobook');
  const fmt = JSON.parse(fs.readFileSync(settingsFile, 'utf8')).output_format;
  check(fs.existsSync(path.join(out, 'book.' + fmt)), `book.${fmt} was written (output_format)`);
  check(pageErrors.length === 0, 'no JavaScript errors' + (pageErrors.length ? ': ' + pageErrors.join('; ') : ''));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
  console.log('screenshots: ' + path.join(artifacts, 'dashboard.png') + ', dashboard-prompt.png');

  // A fresh browser page without the cookie or token is refused.
  await context.clearCookies();
  resp = await page.goto(base + '/');
  check(resp.status() === 403, 'after clearing cookies the page is 403 again');

  // SIGTERM stops the server cleanly (under ASan this also reports leaks).
  const exited = new Promise((r) => server.once('exit', (code, sig) => r({ code, sig })));
  server.kill('SIGTERM');
  const ex = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
  check(ex && ex.code === 0, 'server exits with 0 after SIGTERM' + (ex ? ` (code ${ex.code}, signal ${ex.sig})` : ' (still running)'));
}

main().then(
  () => finish(failures ? 1 : 0),
  (e) => {
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
    finish(1);
  },
);
