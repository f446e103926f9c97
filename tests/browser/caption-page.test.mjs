// Real-browser test of the caption page: headless Chromium uploads images through the page, presses
// Caption, reads the captions from the DOM and saves a screenshot.
// Usage: node caption-page.test.mjs <server URL with ?token=> <good image> <corrupt image> <out folder> <CT DICOM file>
// Prints "BROWSER_COUNTS <passed> <failed>" last; exit code 1 on any failure.
import { chromium } from 'playwright-core';
import { readFile, mkdir, access } from 'node:fs/promises';
import path from 'node:path';

const [url, goodImage, badImage, outDir, dicomImage] = process.argv.slice(2);
if (!url || !goodImage || !badImage || !outDir || !dicomImage) {
  console.error('usage: node caption-page.test.mjs <url> <good image> <corrupt image> <out folder> <CT DICOM file>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const token = new URL(url).searchParams.get('token');
const base = new URL('/', url).toString();
let passed = 0, failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`  [+] ${name}`);
  } catch (e) {
    failed++;
    console.log(`  [-] ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
  }
}
function assert(condition, message) { if (!condition) throw new Error(message); }

// The same image through the API with a Bearer token: the page must show exactly this caption.
async function apiCaption(file) {
  const form = new FormData();
  const prompt = process.env.CAPTION_PROMPT;
  form.append('image', new Blob([await readFile(file)]), path.basename(file));
  if (prompt) form.append('prompt', prompt);
  form.append('maxNewTokens', process.env.CAPTION_MAX_TOKENS || '');
  const r = await fetch(base + 'api/caption', { method: 'POST', body: form, headers: { Authorization: 'Bearer ' + token } });
  assert(r.ok, 'API caption failed: HTTP ' + r.status);
  return (await r.json()).results[0].caption;
}

await mkdir(outDir, { recursive: true });
// launch() gives Chromium a fresh temporary profile (its --user-data-dir) and removes it on close.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  const external = [];
  page.on('request', (req) => { if (!req.url().startsWith(base) && !req.url().startsWith('blob:') && !req.url().startsWith('data:')) external.push(req.url()); });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

  await check('page opens with the token and shows the model status', async () => {
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Model:'));
    const status = await page.textContent('#status');
    assert(/Device: \S+/.test(status), 'status line without device: ' + status);
    assert(!page.url().includes('token='), 'token still in the address bar: ' + page.url());
  });

  await check('page without the token cookie is refused', async () => {
    const other = await browser.newContext();
    const p = await other.newPage();
    const r = await p.goto(base);
    assert(r.status() === 401, 'expected 401, got ' + r.status());
    await other.close();
  });

  let domCaption = '';
  await check('uploaded images get a caption and a per-file error', async () => {
    if (process.env.CAPTION_MAX_TOKENS) await page.fill('#maxTokens', process.env.CAPTION_MAX_TOKENS);
    await page.setInputFiles('#files', [goodImage, badImage]);
    await page.waitForSelector('#list li:nth-child(1) .thumb img');
    await page.click('#caption');
    await page.waitForSelector('#list li:nth-child(1) .caption');
    await page.waitForSelector('#list li:nth-child(2) .error');
    domCaption = (await page.textContent('#list li:nth-child(1) .caption')).trim();
    const error = (await page.textContent('#list li:nth-child(2) .error')).trim();
    const time = (await page.textContent('#list li:nth-child(1) .time')).trim();
    console.log(`      caption: ${JSON.stringify(domCaption)}`);
    console.log(`      error:   ${JSON.stringify(error)}`);
    assert(domCaption.length > 0, 'empty caption');
    assert(error.includes(path.basename(badImage)), 'error does not name the bad file: ' + error);
    assert(/^\d+\.\d\d s$/.test(time), 'no time shown: ' + time);
  });

  await check('a DICOM upload is previewed by the server and re-rendered for a CT window preset', async () => {
    await access(dicomImage).catch(() => { throw new Error('no DICOM sample at ' + dicomImage + ' (run the xUnit tests first: they cache it)'); });
    const item = '#list li:nth-child(3)';
    await page.setInputFiles('#files', [dicomImage]);
    await page.waitForSelector(item + ' .thumb img');
    const src = async () => page.getAttribute(item + ' .thumb img', 'src');
    const pixel = async () => page.$eval(item + ' .thumb img', async (img) => {
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i];
      return { w: c.width, h: c.height, mean: sum / (d.length / 4) };
    });
    const before = await pixel();
    assert(before.w === 512 && before.h === 512, 'preview size ' + before.w + 'x' + before.h);
    const firstSrc = await src();
    await page.selectOption('#window', 'bone');
    await page.waitForFunction(([sel, old]) => { const i = document.querySelector(sel); return i && i.getAttribute('src') !== old; }, [item + ' .thumb img', firstSrc]);
    const after = await pixel();
    assert(Math.abs(after.mean - before.mean) > 1, `window change did not change the preview (mean ${before.mean.toFixed(1)} -> ${after.mean.toFixed(1)})`);
    await page.click('#caption');
    await page.waitForSelector(item + ' .caption');
    const caption = (await page.textContent(item + ' .caption')).trim();
    assert(caption.length > 0, 'empty DICOM caption');
    await page.selectOption('#window', 'default');
  });

  await check('the page shows the same caption the API returns', async () => {
    const expected = (await apiCaption(goodImage)).trim();
    assert(domCaption === expected, `page ${JSON.stringify(domCaption)} != API ${JSON.stringify(expected)}`);
  });

  await check('results download as JSON and CSV', async () => {
    const [json] = await Promise.all([page.waitForEvent('download'), page.click('#json')]);
    const rows = JSON.parse(await readFile(await json.path(), 'utf8'));
    assert(rows.length === 3 && rows[0].caption.trim() === domCaption && rows[1].error && rows[2].caption, 'JSON rows: ' + JSON.stringify(rows));
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    const text = await readFile(await csv.path(), 'utf8');
    assert(text.includes('file,caption,error,seconds') && text.includes(path.basename(goodImage)), 'CSV: ' + text.slice(0, 200));
  });

  await check('nothing was fetched from outside the server and no script errors', async () => {
    assert(external.length === 0, 'external requests: ' + external.join(', '));
    assert(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join(' | '));
  });

  await page.screenshot({ path: path.join(outDir, 'caption-page.png'), fullPage: true });
  console.log('  screenshot: ' + path.join(outDir, 'caption-page.png'));
} finally {
  await browser.close();
}
console.log(`BROWSER_COUNTS ${passed} ${failed}`);
process.exit(failed > 0 ? 1 : 0);
