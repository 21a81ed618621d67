// app.js: the shell. It reads who the page is, routes #/… to a view, keeps
// the navigation's identity and unread badge current, and starts the live
// socket for a signed-in user.
//
// Routes: #/ upload and library · #/m/{id} a media · #/feed · #/u/{id|@name}
// · #/chat · #/chat/{conversation} · #/chat/with/{user} · #/notifications
// · #/account

import { api, auth, clearAuth, config, h, loadAuth, setSession, setToken, toast, uuid } from './api.js';
import { live, startLive, stopLive } from './live.js';
import { libraryGrid, mediaPage } from './media.js';
import { chatList, chatWith, conversationPage, feedPage, notificationsPage, userPage } from './social.js';
import { dropZone, tusReady, uploadsPanel } from './upload.js';

const main = document.getElementById('main');
const badge = document.getElementById('unread');
const who = document.getElementById('who');
let cleanup = [];

function setUnread(n) {
  badge.textContent = n > 0 ? String(n) : '';
  badge.hidden = !(n > 0);
  badge.setAttribute('aria-label', n + ' unread notifications');
}

async function refreshUnread() {
  if (!auth || auth.kind !== 'session') return setUnread(0);
  try {
    setUnread((await api('GET', '/v1/notifications/unread')).unread);
  } catch { /* the badge keeps its last value */ }
}

function showWho() {
  if (!auth) who.replaceChildren(h('a', { href: '#/account' }, 'Sign in'));
  else if (auth.kind === 'token') who.replaceChildren('Upload token · ', h('a', { href: '#/account' }, 'account'));
  else who.replaceChildren('@' + auth.username + ' · ', h('a', { href: '#/account' }, 'account'));
}

function identityChanged() {
  showWho();
  startLive();
  refreshUnread();
}

window.addEventListener('mediaedge:signedout', () => {
  identityChanged();
  // Another tab may have signed in meanwhile: then this one just follows.
  if (!auth || auth.kind !== 'session') toast('Your session ended: sign in again.', true);
});

// ---- views -------------------------------------------------------------

function homePage() {
  main.append(h('h1', {}, 'Upload'));
  if (config.missing.length || !tusReady()) {
    main.append(h('p', { class: 'error', role: 'alert' },
      'This build has no ' + (config.missing.join(', ') || 'tus-js-client') + ': run make webapp, then rebuild.'));
  }
  if (!auth) {
    main.append(h('p', { class: 'note' }, 'To upload, ', h('a', { href: '#/account' }, 'sign up or log in'),
      ', or open the link mediaedge serve prints (…/#token=…).'));
  }
  main.append(dropZone(), uploadsPanel(), h('h2', {}, 'Library'),
    h('p', { class: 'hint' }, 'Your uploads from this browser (kept in this browser: the server has no list of them).'));
  const slot = h('div', { id: 'library' }, libraryGrid());
  main.append(slot);
  const redraw = () => slot.replaceChildren(libraryGrid());
  document.addEventListener('library-changed', redraw);
  cleanup.push(() => document.removeEventListener('library-changed', redraw));
}

function accountPage() {
  main.append(h('h1', {}, 'Account'));
  if (auth) {
    const out = h('button', { type: 'button' }, 'Sign out');
    out.addEventListener('click', async () => {
      if (auth.kind === 'session') await api('DELETE', '/v1/sessions').catch(() => {});
      clearAuth();
      stopLive();
      identityChanged();
      route();
    });
    main.append(h('p', {}, auth.kind === 'session' ? 'Signed in as @' + auth.username + '. ' : 'Using an upload token. ', out));
  }
  const form = (id, title, fields, submit) => {
    const f = h('form', { class: 'account', id, 'aria-labelledby': id + '-h' }, h('h2', { id: id + '-h' }, title),
      fields.map(([name, label, type, ac]) => h('div', { class: 'field' },
        h('label', { for: id + '-' + name }, label),
        h('input', { id: id + '-' + name, name, type, autocomplete: ac, required: name !== 'display_name' }))),
      h('button', { type: 'submit' }, title));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = Object.fromEntries(new FormData(f));
      f.querySelector('button').disabled = true;
      try {
        await submit(v);
      } catch (err) {
        toast(err.message + (err.param ? ' (' + err.param + ')' : ''), true);
      } finally {
        f.querySelector('button').disabled = false;
      }
    });
    return f;
  };
  const login = async (username, password) => {
    const s = await api('POST', '/v1/sessions', { username, password }, { auth: false });
    setSession({ token: s.token, user_id: s.user_id, username: username.trim().toLowerCase(), expires_at: s.expires_at });
    identityChanged();
    location.hash = '#/feed';
  };
  main.append(h('div', { class: 'columns' },
    form('login', 'Log in', [['username', 'Username', 'text', 'username'], ['password', 'Password', 'password', 'current-password']],
      (v) => login(v.username, v.password)),
    form('signup', 'Sign up', [['username', 'Username', 'text', 'username'], ['display_name', 'Display name', 'text', 'name'],
      ['password', 'Password (8+ characters)', 'password', 'new-password']],
    async (v) => {
      const body = { username: v.username, password: v.password };
      if (v.display_name) body.display_name = v.display_name;
      await api('POST', '/v1/users', body, { auth: false, idempotencyKey: uuid() });
      await login(v.username, v.password);
    }),
    form('token', 'Use an upload token', [['token', 'Upload token', 'password', 'off']], async (v) => {
      setToken(v.token.trim());
      identityChanged();
      location.hash = '#/';
    })));
}

// ---- routing -------------------------------------------------------------

async function route() {
  for (const fn of cleanup) fn();
  cleanup = [];
  main.replaceChildren();
  const path = (location.hash || '#/').replace(/^#/, '') || '/';
  // A malformed escape (#/u/%E0) is a page that does not exist, not a blank one.
  const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return null; } });
  if (parts.includes(null)) parts.splice(0, parts.length, 'not-found'); // no view has that name
  document.querySelectorAll('nav a').forEach((a) => {
    const here = a.getAttribute('href') === '#/' + (parts[0] || '');
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  const view = parts[0] || '';
  document.body.dataset.view = view || 'home';
  try {
    if (view === '') homePage();
    else if (view === 'm' && parts[1]) await mediaPage(main, parts[1], cleanup);
    else if (view === 'feed') await feedPage(main, cleanup);
    else if (view === 'u' && parts[1]) await userPage(main, parts[1], cleanup);
    else if (view === 'chat' && parts[1] === 'with' && parts[2]) await chatWith(main, parts[2]);
    else if (view === 'chat' && parts[1]) await conversationPage(main, parts[1], cleanup);
    else if (view === 'chat') await chatList(main, cleanup);
    else if (view === 'notifications') await notificationsPage(main, cleanup, setUnread);
    else if (view === 'account') accountPage();
    else main.append(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the library')));
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, e.message));
  }
  document.body.dataset.ready = 'true';
}

window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#token=')) {
    loadAuth(); // replaces the hash with #/ (no hashchange event)
    identityChanged();
  }
  route();
});

live.addEventListener('notification', refreshUnread);
live.addEventListener('resync', refreshUnread);
live.addEventListener('status', (e) => document.body.classList.toggle('live', e.detail.connected));

loadAuth();
identityChanged();
route();
