// play.js PAGE_URL — opens the page in Debian's Chromium (playwright-core
// drives it; Playwright's own Chromium build has no H.264) and waits until the
// <video> fed by hls.js has played past 3 s with no fatal hls.js error.
// Prints one JSON line: {"ok":bool,"currentTime":n,"errors":[...]}.
const { chromium } = require('playwright-core');

(async () => {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  let result = { ok: false, currentTime: 0, errors: [] };
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => result.errors.push('pageerror: ' + e.message));
    await page.goto(url);
    await page.waitForFunction(() => window.__state && (window.__state.fatal || window.__state.time > 3),
      null, { timeout: 45000, polling: 200 });
    const st = await page.evaluate(() => window.__state);
    result.currentTime = st.time;
    result.errors.push(...st.errors);
    result.ok = !st.fatal && st.time > 3;
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
})();
