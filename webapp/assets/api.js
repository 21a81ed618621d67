// api.js: who the page is (an upload token or a user session), JSON calls
// to the server, and a small DOM builder. No innerHTML anywhere: text from
// the server or a file name always goes in as text.

const TOKEN_KEY = 'mediaedge.token'; // sessionStorage: a pasted or #token= upload token
const SESSION_KEY = 'mediaedge.session'; // localStorage: {token, user_id, username}

export const config = {
  requireSignature: document.documentElement.dataset.requireSignature === 'true',
  presetsOnly: document.documentElement.dataset.presetsOnly === 'true',
  missing: (document.documentElement.dataset.missing || '').split(' ').filter(Boolean),
};

// auth is {kind: 'token'|'session', token, user_id?, username?} or null.
export let auth = null;

export function loadAuth() {
  // /#token=T: a fragment is never sent to the server; keep it for this tab
  // and take it out of the address bar (and so out of history and bookmarks).
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    let t = null;
    try { t = decodeURIComponent(m[1]); } catch { /* a stray % is no token */ }
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, '', location.pathname + location.search + '#/');
  }
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    if (s && s.token) {
      auth = { kind: 'session', ...s };
      return auth;
    }
  } catch { /* a corrupt entry is no session */ }
  const t = sessionStorage.getItem(TOKEN_KEY);
  auth = t ? { kind: 'token', token: t } : null;
  return auth;
}

export function setSession(s) {
  localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  loadAuth();
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
  loadAuth();
}

export function clearAuth() {
  localStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  auth = null;
}

// sessionEnded forgets a session the server no longer knows (it expired,
// or a log-out-everywhere or password change elsewhere revoked it), so the
// page stops acting signed in; the app listens for the event. A wrong
// password is another code (invalid_credentials) and signs nobody out.
//
// Only the session that got the 401 is forgotten: another tab may have
// signed in again meanwhile (storage is shared), and a stale tab's late
// call with the old token must not sign that new session out; this tab
// then takes the new one up instead.
function sessionEnded(sent) {
  let stored = null;
  try { stored = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null'); } catch { /* corrupt: no session */ }
  if (!stored || stored.token === sent.token) localStorage.removeItem(SESSION_KEY);
  loadAuth();
  window.dispatchEvent(new Event('mediaedge:signedout'));
}

// libraryKey names the localStorage list of this identity's uploads.
export function libraryKey() {
  if (!auth) return 'mediaedge.library.anonymous';
  return auth.kind === 'session' ? 'mediaedge.library.user.' + auth.user_id : 'mediaedge.library.token';
}

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
    this.param = param || '';
  }
}

// errorOf reads the server's JSON error body ({"error":{code,message,param}}).
export async function errorOf(resp) {
  let e = {};
  try { e = (await resp.json()).error || {}; } catch { /* not JSON */ }
  return new ApiError(resp.status, e.code, e.message || resp.statusText, e.param);
}

// api calls a JSON route; it throws ApiError on a non-2xx answer. Every
// call is bounded by a timeout.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const sent = auth && opts.auth !== false ? auth : null;
  if (sent) headers.Authorization = 'Bearer ' + sent.token;
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeout || 15000);
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', e.name === 'AbortError' ? 'the server did not answer in time' : 'network error: ' + e.message);
  } finally {
    clearTimeout(timer);
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (err.status === 401 && err.code === 'unauthenticated' && sent && sent.kind === 'session') sessionEnded(sent);
    throw err;
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

// h builds an element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child...).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function humanBytes(n) {
  if (n == null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}

// toast says something to every user, screen readers included (aria-live).
export function toast(msg, isError) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.toggle('error', !!isError);
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

// Users by id, for names beside posts and messages.
const users = new Map();
export async function userName(id) {
  if (!users.has(id)) {
    users.set(id, api('GET', '/v1/users/' + encodeURIComponent(id), undefined, { auth: false })
      .then((u) => u.username)
      .catch(() => { users.delete(id); return 'user ' + id; }));
  }
  return users.get(id);
}

// uuid is a random id for Idempotency-Key and client_msg_id.
// crypto.randomUUID exists only in secure contexts (HTTPS, localhost);
// getRandomValues works on a plain-HTTP LAN address too.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export function mediaBase(id) { return '/m/' + encodeURIComponent(id); }
