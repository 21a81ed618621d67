// media.js: the library grid, the media page (facts, renditions
// playground, HLS player) and the thumbnails other views reuse.

import { api, config, errorOf, h, humanBytes, mediaBase, toast } from './api.js';
import { library, removeFromLibrary } from './upload.js';

const animatable = (t) => t === 'image/gif' || t === 'image/webp';
const isVideo = (t) => (t || '').startsWith('video/');

// retrying reloads a thumbnail that failed for a passing reason (a dropped
// connection, a 5xx, a busy transform queue) with backoff, a few times;
// onRefused runs at once when the server refuses the URL (a 4xx).
function retrying(el, url, onRefused) {
  let n = 0;
  el.addEventListener('error', async () => {
    let st = 0;
    try { st = (await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(30000) })).status; } catch { /* network */ }
    if (st >= 400 && st < 500 && st !== 408 && st !== 429) {
      if (onRefused) onRefused();
      return;
    }
    if (n >= 5) return;
    setTimeout(() => {
      if (el.tagName === 'VIDEO') return el.load();
      const set = el.getAttribute('srcset');
      el.removeAttribute('srcset');
      el.setAttribute('src', url);
      if (set) el.setAttribute('srcset', set);
    }, 500 * 2 ** n++);
  });
  return el;
}

// srcImg is an <img> of a square crop, in 1x/2x/3x so the browser picks the
// size for the screen's pixel density (dpr multiplies w and h on the server).
function srcImg(id, size, alt, extra = '') {
  const u = (dpr) => mediaBase(id) + '?w=' + size + '&h=' + size + '&fit=crop' + extra + (dpr > 1 ? '&dpr=' + dpr : '');
  return retrying(h('img', {
    src: u(1), srcset: u(1) + ' 1x, ' + u(2) + ' 2x, ' + u(3) + ' 3x',
    width: size, height: size, alt, loading: 'lazy', decoding: 'async',
  }), u(1));
}

// thumb shows one media: a still for images, the MP4 rendition of an
// animation (muted, looping), a poster frame for a video.
export function thumb(item, size = 240) {
  const alt = item.name || item.id;
  if (animatable(item.type)) {
    const w = item.width ? Math.min(item.width, size * 2) : size * 2;
    const url = mediaBase(item.id) + '?fm=mp4&w=' + (w - (w % 2));
    const v = h('video', {
      class: 'anim', src: url, muted: true, autoplay: true, loop: true, playsinline: true,
      'aria-label': alt + ' (animation)', width: size, height: size,
    });
    v.muted = true; // the attribute alone does not mute for autoplay in every browser
    // A still WebP (or a GIF of one frame) has no MP4 (422): show the image.
    return retrying(v, url, () => v.replaceWith(srcImg(item.id, size, alt)));
  }
  if (isVideo(item.type)) {
    return h('span', { class: 'video-thumb' }, srcImg(item.id, size, alt + ' (video)', '&fm=jpg'),
      h('span', { class: 'badge-play', 'aria-hidden': 'true' }, '▶'));
  }
  return srcImg(item.id, size, alt);
}

// libraryGrid is the grid of this browser's uploads.
export function libraryGrid() {
  const items = library();
  const grid = h('ul', { class: 'grid', 'aria-label': 'Library' });
  if (!items.length) return h('p', { class: 'empty' }, 'Nothing uploaded from this browser yet.');
  for (const it of items) {
    grid.append(h('li', { class: 'card', dataset: { media: it.id, type: it.type || '' } },
      h('a', { href: '#/m/' + encodeURIComponent(it.id), 'aria-label': 'Open ' + (it.name || it.id) }, thumb(it)),
      h('div', { class: 'caption' },
        h('span', { class: 'name', title: it.name }, it.name || it.id),
        h('small', {}, (it.type || '') + ' · ' + humanBytes(it.size))),
      h('button', {
        type: 'button', class: 'link', 'aria-label': 'Forget ' + (it.name || it.id),
        onclick: () => removeFromLibrary(it.id),
      }, 'Forget')));
  }
  return grid;
}

// ---- media page ----------------------------------------------------------

const FITS = ['', 'clip', 'crop', 'fill', 'max', 'min', 'scale'];
const CROPS = ['', 'center', 'top', 'bottom', 'left', 'right', 'top,left', 'top,right', 'bottom,left', 'bottom,right', 'entropy', 'attention'];
const FORMATS = ['', 'jpg', 'png', 'webp', 'avif', 'gif', 'mp4'];

export async function mediaPage(main, id, cleanup) {
  const base = mediaBase(id);
  main.append(h('p', {}, h('a', { href: '#/' }, '← Library')));
  let info;
  try {
    info = await api('GET', base + '/info');
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, 'Cannot read this media: ' + e.message));
    return;
  }
  const local = library().find((i) => i.id === id);
  main.append(h('h1', {}, (local && local.name) || id));

  const facts = h('dl', { class: 'facts' });
  const fact = (k, v, cls) => v !== undefined && v !== '' && facts.append(h('dt', {}, k), h('dd', { class: cls }, v));
  fact('Media id', info.id, 'mono');
  fact('Type', info.content_type, 'fact-type');
  fact('Size', humanBytes(info.size) + ' (' + info.size + ' bytes)', 'fact-size');
  if (info.width) fact('Dimensions', info.width + ' × ' + info.height + ' px', 'fact-dims');
  else fact('Dimensions', '…', 'fact-dims'); // measured from the original below
  if (info.duration_ms) fact('Duration', (info.duration_ms / 1000).toFixed(1) + ' s');
  fact('SHA-256', info.sha256, 'mono fact-sha');
  fact('Uploaded', new Date(info.created_at).toLocaleString());
  main.append(h('section', { 'aria-labelledby': 'facts-h' }, h('h2', { id: 'facts-h' }, 'Original'), facts,
    copyRow('Original URL', new URL(base, location.href).href)));

  if (isVideo(info.content_type)) main.append(player(id, cleanup));
  main.append(playground(id, info));
}

// copyRow is a read-only URL with a Copy button.
function copyRow(label, url, idSuffix = '') {
  const input = h('input', { type: 'text', readonly: true, value: url, id: 'url-' + label.replace(/\W+/g, '-').toLowerCase() + idSuffix, class: 'url' });
  return h('div', { class: 'copy-row' },
    h('label', { for: input.id }, label),
    input,
    h('button', {
      type: 'button', onclick: async () => {
        try {
          await navigator.clipboard.writeText(input.value);
          toast('Copied');
        } catch {
          input.select();
          toast('Press Ctrl+C to copy (the clipboard is not available here)');
        }
      },
    }, 'Copy'));
}

// player plays the video's HLS with hls.js (or natively, in Safari), with a
// poster from the transform URLs.
function player(id, cleanup) {
  const src = mediaBase(id) + '/hls/index.m3u8';
  const v = h('video', {
    id: 'player', controls: true, playsinline: true, preload: 'metadata', muted: true,
    poster: mediaBase(id) + '?fm=jpg&w=960', width: 640, 'aria-label': 'Video player',
  });
  v.muted = true;
  const status = h('p', { class: 'player-status', role: 'status' });
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ maxBufferLength: 30 });
    hls.on(window.Hls.Events.ERROR, (_e, d) => {
      if (d.fatal) status.textContent = 'Playback failed: ' + d.details;
    });
    hls.loadSource(src);
    hls.attachMedia(v);
    cleanup.push(() => hls.destroy());
  } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
    v.src = src;
  } else {
    status.textContent = 'This browser cannot play HLS and hls.js is not in this build (run make webapp).';
  }
  return h('section', { 'aria-labelledby': 'player-h' }, h('h2', { id: 'player-h' }, 'Play (HLS)'), v, status,
    copyRow('HLS playlist', new URL(src, location.href).href));
}

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

function select(id, options, value) {
  return h('select', { id, name: id.replace('pg-', '') },
    options.map((o) => h('option', { value: o, selected: o === value }, o || '(default)')));
}

// playground builds a transform URL from its inputs, fetches it, and shows
// the result beside the original with its bytes and the time it took.
function playground(id, info) {
  const video = isVideo(info.content_type);
  const w = h('input', { id: 'pg-w', name: 'w', type: 'number', min: 1, max: 8192, value: 400, inputmode: 'numeric' });
  const hgt = h('input', { id: 'pg-h', name: 'h', type: 'number', min: 1, max: 8192, value: '', inputmode: 'numeric' });
  const fit = select('pg-fit', FITS, '');
  const crop = select('pg-crop', CROPS, '');
  const fm = select('pg-fm', FORMATS, video ? 'jpg' : '');
  const q = h('input', { id: 'pg-q', name: 'q', type: 'number', min: 1, max: 100, value: '', inputmode: 'numeric' });
  const t = h('input', { id: 'pg-t', name: 't', type: 'number', min: 0, step: 0.1, value: '', inputmode: 'decimal' });
  const urlOut = h('div');
  const result = h('figure', { class: 'result', id: 'pg-result' }, h('figcaption', {}, 'Result'));
  const stats = h('p', { class: 'stats', id: 'pg-stats', role: 'status' });
  const form = h('form', { class: 'playground-form', 'aria-label': 'Rendition parameters' },
    field('Width (w)', w), field('Height (h)', hgt), field('Fit', fit), field('Crop', crop),
    field('Format (fm)', fm), field('Quality (q)', q), video ? field('Frame at (t, seconds)', t) : null,
    h('button', { type: 'submit' }, 'Render'));
  const origMedia = video
    ? h('img', { src: mediaBase(id) + '?fm=jpg', alt: 'First frame of the original' })
    : h('img', { src: mediaBase(id), alt: 'Original' });
  const origCaption = h('figcaption', {}, 'Original · ' + humanBytes(info.size) +
    (info.width ? ' · ' + info.width + ' × ' + info.height + ' px' : ''));
  const original = h('figure', { class: 'original' }, origCaption, origMedia);
  if (!info.width) {
    // The server's metadata has no dimensions for this file: measure them.
    origMedia.addEventListener('load', () => {
      const dims = origMedia.naturalWidth + ' × ' + origMedia.naturalHeight + ' px';
      origCaption.textContent += ' · ' + dims;
      const dd = document.querySelector('.facts .fact-dims');
      if (dd) dd.textContent = dims + ' (measured by the browser)';
    }, { once: true });
  }
  const notes = [];
  if (config.requireSignature) {
    notes.push(h('p', { class: 'note', role: 'note' }, 'This server requires signed URLs: it refuses a transform URL without a valid s= signature, ' +
      'and a browser never holds the signing key. The URLs below are unsigned; sign them on your backend ' +
      '(s = hex HMAC-SHA256 of the path, "?", and the query sorted by name).'));
  }
  if (config.presetsOnly) {
    notes.push(h('p', { class: 'note', role: 'note' }, 'This server serves named presets only (p=NAME); free parameters are refused.'));
  }

  let current = null;
  const render = async () => {
    const p = new URLSearchParams();
    const add = (k, v) => { if (v !== '' && v != null) p.set(k, v); };
    add('w', w.value); add('h', hgt.value); add('fit', fit.value); add('crop', crop.value);
    add('fm', fm.value); add('q', q.value); if (video) add('t', t.value);
    const qs = p.toString();
    const url = mediaBase(id) + (qs ? '?' + qs : '');
    const abs = new URL(url, location.href).href;
    urlOut.replaceChildren(copyRow('Rendition URL', abs));
    urlOut.dataset.url = abs;
    stats.textContent = 'rendering…';
    if (current) URL.revokeObjectURL(current);
    current = null;
    const t0 = performance.now();
    let resp;
    try {
      resp = await fetch(url, { signal: AbortSignal.timeout(60000) });
    } catch (e) {
      stats.textContent = 'failed: ' + e.message;
      return;
    }
    if (!resp.ok) {
      const err = await errorOf(resp);
      stats.textContent = 'HTTP ' + resp.status + ': ' + err.message + (err.param ? ' (' + err.param + ')' : '');
      result.replaceChildren(h('figcaption', {}, 'Result'));
      return;
    }
    const blob = await resp.blob();
    const ms = performance.now() - t0;
    current = URL.createObjectURL(blob);
    const ctype = resp.headers.get('Content-Type') || blob.type;
    const el = ctype.startsWith('video/')
      ? h('video', { src: current, muted: true, autoplay: true, loop: true, playsinline: true, controls: true })
      : h('img', { src: current, alt: 'Rendition' });
    if (el.tagName === 'VIDEO') el.muted = true;
    const caption = h('figcaption', {}, 'Result');
    result.replaceChildren(caption, el);
    const show = (dw, dh) => {
      result.dataset.width = dw;
      result.dataset.height = dh;
      result.dataset.bytes = blob.size;
      caption.textContent = 'Result · ' + humanBytes(blob.size) + ' · ' + dw + ' × ' + dh + ' px';
      stats.textContent = ctype + ' · ' + blob.size + ' bytes · ' + dw + ' × ' + dh + ' px · ' + Math.round(ms) + ' ms' +
        (resp.headers.get('Age') ? ' (cached)' : '');
    };
    if (el.tagName === 'VIDEO') el.addEventListener('loadedmetadata', () => show(el.videoWidth, el.videoHeight), { once: true });
    else el.addEventListener('load', () => show(el.naturalWidth, el.naturalHeight), { once: true });
    el.addEventListener('error', () => { stats.textContent = ctype + ' · ' + blob.size + ' bytes · this browser cannot show it'; }, { once: true });
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); render(); });
  form.addEventListener('change', render);
  queueMicrotask(render);
  return h('section', { 'aria-labelledby': 'pg-h2', class: 'playground' },
    h('h2', { id: 'pg-h2' }, 'Renditions playground'), notes, form, urlOut, stats,
    h('div', { class: 'compare' }, original, result));
}
