// drive.js BASE TOKEN JPEG GIF MP4 SHOTS_DIR CLIP2 — uses mediaedge's web app in
// Debian's Chromium (playwright-core drives it; Playwright's own Chromium
// has no H.264) as people would, and prints one JSON line with what it saw.
//
//  1. media: with the upload token from /#token=, upload three files through
//     the file input on a throttled connection that is cut once mid-upload,
//     wait for 100% on each, check the thumbnails, the GIF playing as MP4,
//     the playground, and the video playing past 3 s with hls.js;
//  2. social: two users in two browser contexts sign up, chat live, and a
//     like by one shows up as a notification with the unread badge in the
//     other's page.
//
// BASE is the test's cutting proxy in front of the server. Every wait has a timeout; the Go test checks the JSON and the playground
// URL's bytes.
const { chromium } = require('playwright-core');
const path = require('path');

const [base, token, jpeg, gif, mp4, shots, clip2] = process.argv.slice(2);
const result = { ok: false, steps: [], errors: [], shots: [] };
const step = (s) => { result.steps.push(s); console.error('drive: ' + s); };

async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  result.shots.push(file);
}

const pages = [];
// signedOut: pages whose session was ended on purpose; their next calls
// are answered 401, which is what signs them out.
const signedOut = new Set();
function watchErrors(page, who) {
  pages.push([who, page]);
  page.on('pageerror', (e) => result.errors.push(who + ' pageerror: ' + e.message));
  // After the cut, tus answers the interrupted upload's next PATCH with 409
  // (or 423 while the cut request still holds its lock) and the client
  // re-reads the offset: expected, as is the browser's log of them.
  const tusRetry = (status, url) => ((status === 409 || status === 423) && url.includes('/files/'))
    || (status === 401 && signedOut.has(who));
  page.on('console', (m) => {
    const st = Number((m.text().match(/status of (\d+)/) || [])[1] || 0);
    if (m.type() === 'error' && !tusRetry(st, m.location().url || '')) result.errors.push(who + ' console: ' + m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !tusRetry(r.status(), r.url())) result.errors.push(who + ' HTTP ' + r.status() + ' ' + r.request().method() + ' ' + r.url());
  });
}

// dump records what each open page shows, for a failure's report.
async function dump() {
  result.dump = {};
  for (const [who, page] of pages) {
    if (page.isClosed()) continue;
    try {
      await shot(page, 'failure-' + who);
      result.dump[who] = await page.evaluate(() => ({ url: location.href, main: document.getElementById('main').innerHTML.slice(0, 4000) }));
    } catch (e) { result.dump[who] = String(e); }
  }
}

async function newUser(browser, name) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  watchErrors(page, name);
  await page.goto(base + '/#/account');
  await page.waitForSelector('#signup-username', { timeout: 15000 });
  await page.fill('#signup-username', name);
  await page.fill('#signup-display_name', name[0].toUpperCase() + name.slice(1));
  await page.fill('#signup-password', 'a long enough password');
  await page.click('#signup button[type=submit]');
  await page.waitForFunction(() => location.hash === '#/feed' && document.querySelector('.compose'), null, { timeout: 30000 });
  // Live updates are only seen by a connected socket: wait for its "ready".
  await page.waitForFunction(() => document.body.classList.contains('live'), null, { timeout: 20000 });
  step(name + ' signed up, socket live');
  return { ctx, page };
}

// observeUploads records every state and progress each upload goes through.
async function observeUploads(page) {
  await page.evaluate(() => {
    window.__states = {};
    window.__progress = {};
    new MutationObserver((ms) => {
      for (const m of ms) {
        const li = m.target;
        if (!li.dataset || !li.dataset.name) continue;
        if (m.attributeName === 'data-state') (window.__states[li.dataset.name] ||= []).push(li.dataset.state);
        else (window.__progress[li.dataset.name] ||= []).push(Number(li.dataset.progress));
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-progress'] });
  });
}

// reloadResume starts an upload, reloads the page mid-upload, chooses the
// same file again and checks that it goes on from where it was.
async function reloadResume(page, cdp) {
  await page.goto(base + '/#/');
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 15000 });
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 10, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
  await page.setInputFiles('#file-input', [clip2]);
  const name = path.basename(clip2);
  const sel = `li.upload[data-name="${name}"]`;
  await page.waitForFunction((s) => Number((document.querySelector(s) || { dataset: {} }).dataset.progress || 0) >= 30,
    sel, { timeout: 60000, polling: 50 });
  const before = Number(await page.getAttribute(sel, 'data-progress'));
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 15000 });
  await observeUploads(page);
  await page.setInputFiles('#file-input', [clip2]);
  await page.waitForFunction((s) => {
    const li = document.querySelector(s);
    return li && (li.dataset.state === 'done' || li.dataset.state === 'error');
  }, sel, { timeout: 120000, polling: 200 });
  const st = await page.evaluate((n) => ({ states: window.__states[n], progress: window.__progress[n] }), name);
  result.reload = { before, states: st.states, firstAfter: (st.progress || [])[0], state: await page.getAttribute(sel, 'data-state') };
  if (result.reload.state !== 'done') throw new Error('the upload after a reload did not finish: ' + JSON.stringify(result.reload));
  step('reloaded at ' + before + '%, chose the file again, it resumed at ' + result.reload.firstAfter + '% and finished');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
}

async function media(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await ctx.newPage();
  watchErrors(page, 'uploader');
  await page.goto(base + '/#token=' + encodeURIComponent(token));
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 15000 });
  result.tokenLeftURL = !page.url().includes(token);
  step('authorized by #token=, address bar now ' + page.url());

  await observeUploads(page);

  // Throttle uploads (2 MiB/s) so that progress is seen moving; the test's
  // proxy between the browser and the server cuts the connection once
  // mid-upload and refuses connections for a second.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 10, downloadThroughput: -1, uploadThroughput: 2 * 1024 * 1024 });

  await page.setInputFiles('#file-input', [jpeg, gif, mp4]);
  const big = path.basename(mp4);
  const sel = `li.upload[data-name="${big}"]`;
  await page.waitForFunction((name) => (window.__states[name] || []).some((s) => s === 'retrying' || s === 'error'),
    big, { timeout: 60000, polling: 20 });
  result.cutAt = Number(await page.getAttribute(sel, 'data-progress'));
  step('connection cut at ' + result.cutAt + '% of ' + big + ': ' + await page.textContent(sel + ' .status'));
  await shot(page, '1-uploading');

  await page.waitForFunction(() => {
    const lis = [...document.querySelectorAll('li.upload')];
    return lis.length === 3 && lis.every((li) => li.dataset.state === 'done' || li.dataset.state === 'error');
  }, null, { timeout: 180000, polling: 200 });
  result.uploads = await page.$$eval('li.upload', (lis) => lis.map((li) => ({
    name: li.dataset.name, state: li.dataset.state, progress: Number(li.dataset.progress), media: li.dataset.media,
    status: li.querySelector('.status').textContent,
  })));
  result.states = await page.evaluate(() => window.__states);
  if (!result.uploads.every((u) => u.state === 'done' && u.progress === 100)) throw new Error('uploads did not all finish: ' + JSON.stringify(result.uploads));
  step('all three uploads at 100%');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  // Thumbnails: each <img> decoded, the GIF playing as MP4.
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('.card img')];
    return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: 60000, polling: 200 });
  result.thumbs = await page.$$eval('.card img', (imgs) => imgs.map((i) => ({ src: i.currentSrc, w: i.naturalWidth, h: i.naturalHeight })));
  const t0 = await page.waitForFunction(() => {
    const v = document.querySelector('.card video.anim');
    return v && v.currentTime > 0.3 && v.currentTime;
  }, null, { timeout: 60000, polling: 100 }).then((h) => h.jsonValue());
  await page.waitForTimeout(700);
  const t1 = await page.$eval('.card video.anim', (v) => v.currentTime);
  result.gif = { src: await page.$eval('.card video.anim', (v) => v.currentSrc), t0, t1 };
  if (!(t1 !== t0)) throw new Error('the GIF as MP4 does not play: ' + JSON.stringify(result.gif));
  step('thumbnails loaded; GIF plays as MP4 (' + t0.toFixed(2) + 's -> ' + t1.toFixed(2) + 's)');
  await shot(page, '2-library');

  const idOf = (name) => result.uploads.find((u) => u.name === name).media;

  // The JPEG's page: facts and the playground.
  await page.click(`.card[data-media="${idOf(path.basename(jpeg))}"] a`);
  await page.waitForSelector('.facts .fact-sha', { timeout: 15000 });
  await page.fill('#pg-w', '300');
  await page.fill('#pg-h', '200');
  await page.selectOption('#pg-fit', 'crop');
  await page.selectOption('#pg-fm', 'jpg');
  await page.click('.playground-form button[type=submit]');
  await page.waitForFunction(() => {
    const r = document.getElementById('pg-result');
    return r && r.dataset.width === '300' && r.dataset.height === '200';
  }, null, { timeout: 30000, polling: 100 });
  result.playground = await page.evaluate(() => ({
    url: document.getElementById('url-rendition-url').value,
    width: Number(document.getElementById('pg-result').dataset.width),
    height: Number(document.getElementById('pg-result').dataset.height),
    bytes: Number(document.getElementById('pg-result').dataset.bytes),
    stats: document.getElementById('pg-stats').textContent,
    facts: document.querySelector('.facts').innerText,
  }));
  step('playground: ' + result.playground.url + ' shows ' + result.playground.width + 'x' + result.playground.height);
  await shot(page, '3-image-page');

  await page.goto(base + '/#/m/' + encodeURIComponent(idOf(path.basename(gif))));
  await page.waitForSelector('#pg-result[data-width]', { timeout: 60000 });
  await shot(page, '4-gif-page');

  // The video's page: hls.js plays it past 3 s.
  await page.goto(base + '/#/m/' + encodeURIComponent(idOf(big)));
  await page.waitForSelector('#player', { timeout: 15000 });
  await page.evaluate(() => document.getElementById('player').play().catch(() => {}));
  const vt = await page.waitForFunction(() => {
    const v = document.getElementById('player');
    if (v.paused && v.readyState >= 2) v.play().catch(() => {});
    return v.currentTime > 3 && v.currentTime;
  }, null, { timeout: 60000, polling: 200 }).then((h) => h.jsonValue());
  result.video = { currentTime: vt, hls: await page.evaluate(() => !!window.Hls && window.Hls.isSupported()) };
  step('video plays with hls.js past ' + vt.toFixed(1) + ' s');
  await shot(page, '5-video-page');
  await reloadResume(page, cdp);
  await ctx.close();
}

async function social(browser) {
  const a = await newUser(browser, 'alice');
  const b = await newUser(browser, 'bob');

  // Alice posts; Bob likes it from her page.
  await a.page.fill('#post-text', 'Hello from Alice');
  await a.page.click('form.compose[aria-label="New post"] button[type=submit]');
  await a.page.waitForSelector('article.post >> text=Hello from Alice', { timeout: 15000 });
  await shot(a.page, '6-alice-feed');
  await b.page.goto(base + '/#/u/@alice');
  await b.page.waitForSelector('article.post .like', { timeout: 15000 });
  await b.page.click('article.post .like');
  await b.page.waitForSelector('article.post .like[aria-pressed="true"]', { timeout: 15000 });
  step('bob liked alice\'s post');
  await shot(b.page, '7-bob-likes');
  // Alice's badge rises without a reload.
  await a.page.waitForFunction(() => {
    const el = document.getElementById('unread');
    return !el.hidden && Number(el.textContent) >= 1;
  }, null, { timeout: 30000, polling: 100 });
  result.badge = Number(await a.page.textContent('#unread'));
  // The like count on her post follows live too (the "like" update).
  await a.page.waitForFunction(() => (document.querySelector('article.post .likes') || {}).textContent === '1', null, { timeout: 15000 });
  step('alice sees the unread badge: ' + result.badge);
  await shot(a.page, '8-alice-badge');
  await a.page.click('nav a[href="#/notifications"]');
  await a.page.waitForSelector('.notifications li[data-kind="like"]', { timeout: 15000 });
  result.notification = await a.page.textContent('.notifications li[data-kind="like"]');
  await a.page.waitForFunction(() => document.getElementById('unread').hidden, null, { timeout: 15000 });
  step('alice\'s notification: ' + result.notification.trim());
  await shot(a.page, '9-alice-notifications');

  // Chat: both open the pair's conversation, then talk.
  for (const [p, other] of [[a.page, 'bob'], [b.page, 'alice']]) {
    await p.goto(base + '/#/chat');
    await p.fill('#chat-with', other);
    await p.click('form[aria-label="New conversation"] button[type=submit]');
    await p.waitForSelector('#msg-text', { timeout: 15000 });
    await p.waitForFunction(() => document.body.classList.contains('live'), null, { timeout: 20000 });
  }
  result.sameConversation = a.page.url().split('#')[1] === b.page.url().split('#')[1];
  step('both in ' + a.page.url().split('#')[1]);
  await b.page.evaluate(() => {
    window.__typing = false;
    const t = document.querySelector('.typing');
    new MutationObserver(() => { if (t.textContent.includes('typing')) window.__typing = true; })
      .observe(t, { childList: true, characterData: true, subtree: true });
  });
  await a.page.type('#msg-text', 'Hi Bob, it is Alice', { delay: 30 });
  await b.page.waitForFunction(() => window.__typing, null, { timeout: 10000 }).then(() => { result.typingSeen = true; }, () => { result.typingSeen = false; });
  await a.page.press('#msg-text', 'Enter');
  await b.page.waitForSelector('.messages .msg >> text=Hi Bob, it is Alice', { timeout: 20000 });
  step('bob got alice\'s message live (typing indicator seen: ' + result.typingSeen + ')');
  await b.page.fill('#msg-text', 'Hello Alice!');
  await b.page.press('#msg-text', 'Enter');
  await a.page.waitForSelector('.messages .msg >> text=Hello Alice!', { timeout: 20000 });
  step('alice got bob\'s reply live');
  result.chat = {
    alice: await a.page.$$eval('.messages .msg', (ms) => ms.map((m) => m.textContent)),
    bob: await b.page.$$eval('.messages .msg', (ms) => ms.map((m) => m.textContent)),
  };
  await shot(a.page, '10-alice-chat');
  await shot(b.page, '11-bob-chat');

  // Bob logs out everywhere from another client: his open page stops
  // acting signed in (its socket closes, the next call is a 401).
  signedOut.add('bob');
  await b.page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('mediaedge.session'));
    const r = await fetch('/v1/sessions?all=1', { method: 'DELETE', headers: { Authorization: 'Bearer ' + s.token } });
    if (r.status !== 204) throw new Error('log out everywhere: HTTP ' + r.status);
  });
  await b.page.evaluate(() => { location.hash = '#/notifications'; });
  await b.page.waitForFunction(() => document.getElementById('who').textContent.includes('Sign in')
    && localStorage.getItem('mediaedge.session') === null, null, { timeout: 20000 });
  step('bob logged out everywhere elsewhere: his page shows Sign in');
  await b.page.evaluate(() => { location.hash = '#/u/%E0'; });
  await b.page.waitForSelector('#main h1 >> text=Not found', { timeout: 10000 });
  step('a malformed address shows Not found');
  await a.ctx.close();
  await b.ctx.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    if (process.env.DRIVE_ONLY !== 'social') await media(browser);
    if (process.env.DRIVE_ONLY !== 'media') await social(browser);
    result.ok = true;
  } catch (e) {
    result.errors.push(String(e && e.stack || e));
    await dump();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
})();
