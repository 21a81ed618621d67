// upload.js: resumable uploads with tus-js-client and the library they
// fill. The server has no route that lists a user's media, so the library
// is this browser's list (localStorage) of what was uploaded from it.

import { api, auth, h, humanBytes, libraryKey, mediaBase, toast } from './api.js';

// ---- library -------------------------------------------------------------

export function library() {
  try {
    return JSON.parse(localStorage.getItem(libraryKey()) || '[]');
  } catch {
    return [];
  }
}

export function addToLibrary(item) {
  const items = library().filter((i) => i.id !== item.id);
  items.unshift(item);
  localStorage.setItem(libraryKey(), JSON.stringify(items.slice(0, 500)));
  document.dispatchEvent(new CustomEvent('library-changed'));
}

export function removeFromLibrary(id) {
  localStorage.setItem(libraryKey(), JSON.stringify(library().filter((i) => i.id !== id)));
  document.dispatchEvent(new CustomEvent('library-changed'));
}

// ---- uploads -------------------------------------------------------------

// Retry forever-ish on what a dropped connection looks like (no status, a
// 5xx, 408/409/423/429), also while the browser says it is offline (the
// default would give up at once then); never on other 4xx.
const retryDelays = [0, 1000, 2000, 3000, 5000, 8000, 10000, 15000, 20000, 30000];

function shouldRetry(err) {
  const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
  return status === 0 || status >= 500 || [408, 409, 423, 429].includes(status);
}

// One list of the uploads of this page load; it survives navigation
// between views (the element is re-attached).
const list = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
const uploads = new Set();
let seq = 0;

export function uploadsPanel() {
  return list;
}

export function tusReady() {
  return typeof window.tus !== 'undefined' && window.tus.isSupported;
}

// startUploads uploads each file of a FileList or array.
export function startUploads(files) {
  if (!auth) {
    toast('Sign in or open the page with #token=… before uploading.', true);
    return;
  }
  if (!tusReady()) {
    toast('tus-js-client is not in this build (run make webapp).', true);
    return;
  }
  for (const f of files) uploadOne(f);
}

function uploadOne(file) {
  const n = ++seq;
  const progress = h('progress', { id: 'up-progress-' + n, max: 100, value: 0 });
  const pct = h('span', { class: 'pct', 'aria-hidden': 'true' }, '0%');
  const status = h('span', { class: 'status', role: 'status' }, 'starting');
  const pauseBtn = h('button', { type: 'button', class: 'pause' }, 'Pause');
  const retryBtn = h('button', { type: 'button', class: 'retry', hidden: true }, 'Retry');
  const link = h('a', { class: 'open', hidden: true }, 'Open');
  const li = h('li', { class: 'upload', dataset: { name: file.name, state: 'uploading' } },
    h('label', { for: progress.id }, file.name, ' ', h('small', {}, humanBytes(file.size))),
    progress, pct, status, pauseBtn, retryBtn, link);
  list.prepend(li);

  let mediaID = '';
  let paused = false;
  const setState = (s, text) => {
    li.dataset.state = s;
    status.textContent = text;
  };
  const upload = new window.tus.Upload(file, {
    endpoint: '/files/',
    headers: { Authorization: 'Bearer ' + auth.token },
    metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
    retryDelays,
    onShouldRetry: (err) => {
      setState('retrying', navigator.onLine ? 'connection lost, resuming…' : 'offline, will resume…');
      return shouldRetry(err);
    },
    // A reload (or the same file chosen again) resumes where it stopped.
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onProgress: (sent, total) => {
      const p = total ? Math.floor((sent / total) * 100) : 0;
      progress.value = p;
      pct.textContent = p + '%';
      li.dataset.progress = String(p);
      if (!paused) setState('uploading', humanBytes(sent) + ' of ' + humanBytes(total));
    },
    onAfterResponse: (_req, res) => {
      // The response that completes the upload names the media.
      const id = res.getHeader('X-Media-Id');
      if (id) mediaID = id;
    },
    onError: (err) => {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      let msg = 'failed';
      try {
        const body = JSON.parse(err.originalResponse.getBody());
        msg = body.error.message;
      } catch { msg = status ? 'failed (HTTP ' + status + ')' : 'connection failed'; }
      setState('error', msg);
      retryBtn.hidden = false;
      pauseBtn.hidden = true;
      uploads.delete(entry);
      if (!status) errored.add(entry); // resumed when the browser is back online
    },
    onSuccess: async () => {
      uploads.delete(entry);
      progress.value = 100;
      pct.textContent = '100%';
      li.dataset.progress = '100';
      pauseBtn.hidden = true;
      retryBtn.hidden = true;
      // A finished upload's id is its media id: the last segment of its URL.
      if (!mediaID) mediaID = decodeURIComponent(new URL(upload.url, location.href).pathname.split('/').pop());
      li.dataset.media = mediaID;
      link.href = '#/m/' + encodeURIComponent(mediaID);
      link.hidden = false;
      let info = {};
      try {
        info = await api('GET', mediaBase(mediaID) + '/info');
      } catch { /* the library shows the file's own type then */ }
      addToLibrary({
        id: mediaID, name: file.name, type: info.content_type || file.type,
        size: info.size || file.size, width: info.width || 0, height: info.height || 0,
        added: new Date().toISOString(),
      });
      setState('done', 'done');
    },
  });
  const entry = { upload, li, retry: () => resume() };
  uploads.add(entry);

  const resume = () => {
    paused = false;
    errored.delete(entry);
    uploads.add(entry);
    retryBtn.hidden = true;
    pauseBtn.hidden = false;
    pauseBtn.textContent = 'Pause';
    setState('uploading', 'resuming…');
    upload.start();
  };
  pauseBtn.addEventListener('click', () => {
    if (!paused) {
      paused = true;
      upload.abort(); // keeps the upload on the server; start() resumes it
      pauseBtn.textContent = 'Resume';
      setState('paused', 'paused');
    } else {
      resume();
    }
  });
  retryBtn.addEventListener('click', resume);

  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      setState('resuming', 'resuming an earlier upload…');
    }
    upload.start();
  });
}

const errored = new Set();
window.addEventListener('online', () => {
  for (const e of [...errored]) e.retry();
});

// Leaving with uploads running loses nothing (they resume on the next visit
// when the same files are chosen), but the browser should still ask.
window.addEventListener('beforeunload', (ev) => {
  if (uploads.size) ev.preventDefault();
});

// dropZone is the file input inside a label that also takes dropped files.
export function dropZone() {
  const input = h('input', {
    type: 'file', id: 'file-input', multiple: true,
    onchange: () => { startUploads(input.files); input.value = ''; },
  });
  const zone = h('div', { class: 'dropzone' },
    h('label', { for: 'file-input' }, 'Choose files to upload, or drop them here'),
    input,
    h('p', { class: 'hint' }, 'Images, GIFs and videos. Uploads resume after a dropped connection or a reload (choose the same file again).'));
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) startUploads(e.dataTransfer.files);
  });
  return zone;
}
