// social.js: the views over /v1: home feed with stories, a user's page,
// chat with live messages and typing, notifications. Live updates come from
// live.js; each view removes its listeners when the page moves on (cleanup).

import { api, auth, h, toast, userName, uuid } from './api.js';
import { live } from './live.js';
import { library } from './upload.js';

export function needSession(main) {
  if (auth && auth.kind === 'session') return false;
  main.append(h('p', { class: 'note' }, 'This part needs a user account: ',
    h('a', { href: '#/account' }, 'sign up or log in'), '.'));
  return true;
}

function on(cleanup, kind, fn) {
  live.addEventListener(kind, fn);
  cleanup.push(() => live.removeEventListener(kind, fn));
}

function when(t) {
  const d = new Date(t);
  return h('time', { datetime: d.toISOString() }, d.toLocaleString());
}

function authorLink(id) {
  const a = h('a', { class: 'author', href: '#/u/' + encodeURIComponent(id) }, 'user ' + id);
  userName(id).then((n) => { a.textContent = '@' + n; a.href = '#/u/@' + encodeURIComponent(n); });
  return a;
}

// mediaView shows a post's or story's media from the URLs the API gives.
function mediaView(m) {
  if (m.hls) return h('img', { src: m.poster || m.thumb, alt: 'video', loading: 'lazy' });
  if (m.mp4) {
    const v = h('video', { src: m.mp4, muted: true, autoplay: true, loop: true, playsinline: true, 'aria-label': 'animation' });
    v.muted = true;
    return v;
  }
  if (m.srcset) return h('img', { src: m.url + '?w=640', srcset: m.srcset, sizes: '(max-width: 700px) 100vw, 640px', alt: '', loading: 'lazy' });
  return h('a', { href: m.url }, m.id);
}

// refreshPost re-reads a shown post whose likes changed (a live "like").
async function refreshPost(container, data) {
  const id = data && data.post_id;
  const old = id && container.querySelector(`article.post[data-post="${CSS.escape(id)}"]`);
  if (!old) return;
  try {
    old.replaceWith(postCard(await api('GET', '/v1/posts/' + id)));
  } catch { /* keep the old card */ }
}

// postCard is one post with its like button.
function postCard(p) {
  const count = h('span', { class: 'likes' }, String(p.likes));
  let liked = p.liked_by_me;
  const like = h('button', {
    type: 'button', class: 'like', 'aria-pressed': String(liked), 'aria-label': 'Like',
  }, '♥ ', count);
  like.addEventListener('click', async () => {
    like.disabled = true;
    try {
      const r = await api(liked ? 'DELETE' : 'PUT', '/v1/posts/' + p.id + '/like');
      liked = r && typeof r.liked === 'boolean' ? r.liked : !liked;
      if (r && typeof r.likes === 'number') count.textContent = String(r.likes);
      like.setAttribute('aria-pressed', String(liked));
    } catch (e) {
      toast(e.message, true);
    } finally {
      like.disabled = false;
    }
  });
  return h('article', { class: 'post', dataset: { post: p.id } },
    h('header', {}, authorLink(p.author), ' · ', when(p.created_at)),
    p.text ? h('p', { class: 'text' }, p.text) : null,
    (p.media || []).map((m) => h('div', { class: 'post-media' }, mediaView(m))),
    h('footer', {}, like, h('span', { class: 'comments' }, ' ' + p.comments + (p.comments === 1 ? ' comment' : ' comments'))));
}

function libraryPicker(id, label) {
  const sel = h('select', { id, name: 'media' }, h('option', { value: '' }, '(none)'),
    library().map((i) => h('option', { value: i.id }, i.name + ' (' + i.id + ')')));
  return h('div', { class: 'field' }, h('label', { for: id }, label), sel);
}

// ---- feed and stories -----------------------------------------------------

export async function feedPage(main, cleanup) {
  main.append(h('h1', {}, 'Home'));
  if (needSession(main)) return;
  const tray = h('ul', { class: 'tray', 'aria-label': 'Stories' });
  const posts = h('div', { class: 'posts', 'aria-live': 'polite' });
  const text = h('textarea', { id: 'post-text', name: 'text', rows: 3, maxlength: 2000 });
  const compose = h('form', { class: 'compose', 'aria-label': 'New post' },
    h('div', { class: 'field' }, h('label', { for: 'post-text' }, 'New post'), text),
    libraryPicker('post-media', 'Attach from your library'),
    h('button', { type: 'submit' }, 'Post'));
  compose.addEventListener('submit', async (e) => {
    e.preventDefault();
    const media = compose.querySelector('select').value;
    try {
      const p = await api('POST', '/v1/posts', { text: text.value, media_ids: media ? [media] : [] },
        { idempotencyKey: uuid() });
      text.value = '';
      posts.querySelector('.empty')?.remove();
      posts.prepend(postCard(p)); // the feed fan-out is asynchronous
    } catch (err) {
      toast(err.message, true);
    }
  });
  const story = h('form', { class: 'compose', 'aria-label': 'New story' },
    libraryPicker('story-media', 'Story from your library'),
    h('div', { class: 'field' }, h('label', { for: 'story-caption' }, 'Caption'), h('input', { id: 'story-caption', maxlength: 200 })),
    h('button', { type: 'submit' }, 'Add story'));
  story.addEventListener('submit', async (e) => {
    e.preventDefault();
    const media = story.querySelector('select').value;
    if (!media) return toast('Choose a media for the story', true);
    try {
      await api('POST', '/v1/stories', { media_id: media, caption: story.querySelector('input').value });
      loadTray();
    } catch (err) { toast(err.message, true); }
  });
  const follow = followForm();
  const refresh = h('button', { type: 'button', onclick: () => loadFeed() }, 'Refresh');
  const viewer = h('div', { class: 'story-viewer', hidden: true, role: 'dialog', 'aria-label': 'Story' });
  main.append(h('section', { 'aria-label': 'Stories' }, h('h2', {}, 'Stories'), tray, viewer, h('details', {}, h('summary', {}, 'Add a story'), story)),
    compose, follow, h('section', { 'aria-labelledby': 'feed-h' }, h('h2', { id: 'feed-h' }, 'Feed'), refresh, posts));

  async function loadTray() {
    try {
      const r = await api('GET', '/v1/stories/feed');
      tray.replaceChildren(...(r.items || []).map((entry) => {
        const b = h('button', { type: 'button', class: 'story' + (entry.unseen ? ' unseen' : '') }, authorLink(entry.author));
        b.addEventListener('click', () => showStories(entry));
        return h('li', {}, b);
      }));
      if (!tray.children.length) tray.append(h('li', { class: 'empty' }, 'No stories from the people you follow.'));
    } catch (err) { tray.replaceChildren(h('li', { class: 'error' }, err.message)); }
  }
  function showStories(entry) {
    const s = entry.stories[0];
    if (!s) return;
    const close = h('button', { type: 'button', onclick: () => { viewer.hidden = true; } }, 'Close');
    viewer.replaceChildren(h('p', {}, authorLink(entry.author), ' · ', s.caption || ''), s.media ? mediaView(s.media) : null, close);
    viewer.hidden = false;
    close.focus();
    api('POST', '/v1/stories/' + s.id + '/view').catch(() => {});
  }
  async function loadFeed() {
    try {
      const r = await api('GET', '/v1/feed?limit=30');
      posts.replaceChildren(...r.items.map(postCard));
      if (!r.items.length) posts.append(h('p', { class: 'empty' }, 'No posts yet: write one, or follow someone.'));
    } catch (err) { posts.replaceChildren(h('p', { class: 'error' }, err.message)); }
  }
  on(cleanup, 'resync', () => { loadFeed(); loadTray(); });
  on(cleanup, 'like', (ev) => refreshPost(posts, ev.detail.data));
  loadTray();
  loadFeed();
}

function followForm() {
  const input = h('input', { id: 'follow-name', name: 'username', placeholder: 'username', autocomplete: 'off' });
  const f = h('form', { class: 'inline', 'aria-label': 'Find a user' },
    h('label', { for: 'follow-name' }, 'Find a user'), input, h('button', { type: 'submit' }, 'Open'));
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = input.value.trim().replace(/^@/, '');
    if (n) location.hash = '#/u/@' + encodeURIComponent(n);
  });
  return f;
}

// ---- a user's page ---------------------------------------------------------

export async function userPage(main, ref, cleanup) {
  if (needSession(main)) return;
  let u;
  try {
    u = await api('GET', '/v1/users/' + encodeURIComponent(ref));
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, e.message));
    return;
  }
  const me = u.id === auth.user_id;
  const followBtn = h('button', { type: 'button', class: 'follow' }, 'Follow');
  let following = false;
  followBtn.addEventListener('click', async () => {
    try {
      await api(following ? 'DELETE' : 'PUT', '/v1/users/' + u.id + '/follow');
      following = !following;
      followBtn.textContent = following ? 'Unfollow' : 'Follow';
    } catch (e) { toast(e.message, true); }
  });
  const chat = h('a', { class: 'button', href: '#/chat/with/' + u.id }, 'Message');
  main.append(h('h1', {}, u.display_name, ' ', h('small', {}, '@' + u.username)),
    h('p', {}, u.bio || ''),
    h('p', {}, u.followers_count + ' followers · ' + u.following_count + ' following'),
    me ? null : h('p', {}, followBtn, ' ', chat));
  const posts = h('div', { class: 'posts' });
  main.append(h('h2', {}, 'Posts'), posts);
  const load = async () => {
    try {
      const r = await api('GET', '/v1/users/' + u.id + '/posts?limit=30');
      posts.replaceChildren(...r.items.map(postCard));
      if (!r.items.length) posts.append(h('p', { class: 'empty' }, 'No posts yet.'));
    } catch (e) { posts.replaceChildren(h('p', { class: 'error' }, e.message)); }
  };
  on(cleanup, 'resync', load);
  on(cleanup, 'like', (ev) => refreshPost(posts, ev.detail.data));
  load();
}

// ---- chat ------------------------------------------------------------------

export async function chatList(main, cleanup) {
  main.append(h('h1', {}, 'Chat'));
  if (needSession(main)) return;
  const input = h('input', { id: 'chat-with', name: 'user', placeholder: 'username or id', autocomplete: 'off' });
  const start = h('form', { class: 'inline', 'aria-label': 'New conversation' },
    h('label', { for: 'chat-with' }, 'Chat with'), input, h('button', { type: 'submit' }, 'Start'));
  start.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (!v) return;
    try {
      const u = await api('GET', '/v1/users/' + encodeURIComponent(/^\d+$/.test(v) ? v : '@' + v.replace(/^@/, '')));
      location.hash = '#/chat/with/' + u.id;
    } catch (err) { toast(err.message, true); }
  });
  const list = h('ul', { class: 'conversations', 'aria-label': 'Conversations' });
  main.append(start, list);
  const load = async () => {
    try {
      const r = await api('GET', '/v1/conversations?limit=50');
      list.replaceChildren(...r.items.map((c) => {
        const name = h('span', {}, c.title || (c.peer ? '…' : 'conversation ' + c.id));
        if (!c.title && c.peer) userName(c.peer).then((n) => { name.textContent = '@' + n; });
        return h('li', { dataset: { conversation: c.id } }, h('a', { href: '#/chat/' + c.id }, name),
          c.unread ? h('span', { class: 'badge', 'aria-label': c.unread + ' unread' }, String(c.unread)) : null,
          c.last_message ? h('small', {}, ' ' + c.last_message.preview) : null);
      }));
      if (!r.items.length) list.append(h('li', { class: 'empty' }, 'No conversations yet.'));
    } catch (err) { list.replaceChildren(h('li', { class: 'error' }, err.message)); }
  };
  on(cleanup, 'message', load);
  on(cleanup, 'resync', load);
  load();
}

// chatWith opens (or creates: the server returns the pair's existing one)
// a direct conversation with a user.
export async function chatWith(main, userID) {
  if (needSession(main)) return;
  try {
    const c = await api('POST', '/v1/conversations', { member_ids: [userID] });
    location.replace('#/chat/' + c.id);
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

export async function conversationPage(main, convID, cleanup) {
  if (needSession(main)) return;
  main.append(h('p', {}, h('a', { href: '#/chat' }, '← Conversations')));
  let conv;
  try {
    conv = await api('GET', '/v1/conversations/' + convID);
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, e.message));
    return;
  }
  const title = h('h1', {}, conv.title || 'Conversation');
  if (!conv.title && conv.peer) userName(conv.peer).then((n) => { title.textContent = 'Chat with @' + n; });
  const log = h('ol', { class: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite' });
  const typing = h('p', { class: 'typing', 'aria-live': 'polite' });
  const text = h('input', { id: 'msg-text', name: 'text', autocomplete: 'off', maxlength: 4000 });
  const form = h('form', { class: 'send', 'aria-label': 'Send a message' },
    h('label', { for: 'msg-text' }, 'Message'), text, h('button', { type: 'submit' }, 'Send'));
  main.append(title, log, typing, form);
  const seen = new Set();
  let lastSeq = 0;
  const add = (m) => {
    if (seen.has(m.seq)) return;
    seen.add(m.seq);
    lastSeq = Math.max(lastSeq, m.seq);
    const mine = m.sender === auth.user_id;
    const li = h('li', { class: 'msg' + (mine ? ' mine' : ''), dataset: { seq: m.seq } },
      mine ? h('span', { class: 'from' }, 'me') : h('span', { class: 'from' }, authorLink(m.sender)), ': ',
      h('span', { class: 'text' }, m.deleted ? '(deleted)' : m.text),
      (m.media || []).map((x) => h('img', { src: x.thumb, alt: '', width: 160, height: 160 })));
    // Keep seq order even when a live message and history cross.
    const after = [...log.children].find((c) => Number(c.dataset.seq) > m.seq);
    log.insertBefore(li, after || null);
    li.scrollIntoView({ block: 'nearest' });
  };
  const markRead = () => {
    if (lastSeq && document.visibilityState === 'visible') {
      api('POST', '/v1/conversations/' + convID + '/read', { seq: lastSeq }).catch(() => {});
    }
  };
  const loadHistory = async () => {
    try {
      const r = await api('GET', '/v1/conversations/' + convID + '/messages?limit=50');
      const items = (r.items || []).slice().sort((a, b) => a.seq - b.seq);
      items.forEach(add);
      markRead();
    } catch (e) { toast(e.message, true); }
  };
  let typingTimer = 0;
  on(cleanup, 'message', (ev) => {
    const m = ev.detail.data;
    if (!m || m.conversation_id !== convID) return;
    add(m);
    if (m.sender !== auth.user_id) { typing.textContent = ''; markRead(); }
  });
  on(cleanup, 'typing', (ev) => {
    const d = ev.detail.data || {};
    if (d.conversation_id !== convID || d.user_id === auth.user_id) return;
    userName(d.user_id).then((n) => { typing.textContent = '@' + n + ' is typing…'; });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typing.textContent = ''; }, 4000);
  });
  on(cleanup, 'resync', loadHistory);
  cleanup.push(() => clearTimeout(typingTimer));

  let lastTyping = 0;
  text.addEventListener('input', () => {
    const now = Date.now();
    if (now - lastTyping > 3000 && text.value) {
      lastTyping = now;
      api('POST', '/v1/conversations/' + convID + '/typing').catch(() => {});
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    // client_msg_id makes a retried send land once.
    const msg = { client_msg_id: uuid(), text: body };
    text.value = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const r = await api('POST', '/v1/conversations/' + convID + '/messages', msg);
        add({ ...msg, seq: r.seq, id: r.id, sender: auth.user_id, media: [] });
        lastTyping = 0;
        return;
      } catch (err) {
        if (err.status && err.status < 500 && err.status !== 429) { toast(err.message, true); break; }
        await new Promise((res) => setTimeout(res, 1000 * (attempt + 1)));
      }
    }
    text.value = body;
  });
  await loadHistory();
  text.focus();
}

// ---- notifications -----------------------------------------------------------

const KIND_TEXT = {
  like: 'liked your post', comment: 'commented on your post', follow: 'followed you',
  mention: 'mentioned you', 'story.like': 'liked your story', 'story.created': 'posted a story',
  'chat.message': 'sent you a message',
};

export async function notificationsPage(main, cleanup, onRead) {
  main.append(h('h1', {}, 'Notifications'));
  if (needSession(main)) return;
  const list = h('ul', { class: 'notifications', 'aria-live': 'polite' });
  main.append(list);
  const load = async () => {
    try {
      const r = await api('GET', '/v1/notifications?limit=50');
      list.replaceChildren(...r.items.map((n) => h('li', { class: n.read ? 'read' : 'unread', dataset: { kind: n.kind } },
        (n.actors || []).slice(0, 3).map((a, i) => [i ? ', ' : '', authorLink(a)]),
        n.actor_count > 3 ? ' and ' + (n.actor_count - 3) + ' more' : '',
        ' ' + (KIND_TEXT[n.kind] || n.kind) + ' · ', when(n.last_at))));
      if (!r.items.length) list.append(h('li', { class: 'empty' }, 'Nothing yet.'));
      if (r.items.length && r.items.some((n) => !n.read)) {
        const mark = await api('POST', '/v1/notifications/read', { upto: r.items[0].activity_id });
        onRead(mark.unread);
      }
    } catch (e) { list.replaceChildren(h('li', { class: 'error' }, e.message)); }
  };
  on(cleanup, 'notification', load);
  on(cleanup, 'resync', load);
  load();
}

