// live.js: the one WebSocket of a signed-in page. It asks for a one-time
// ticket, says hello with the last update seq it saw (so a reconnect
// replays what it missed), pings, reconnects with backoff, and hands every
// update to the views as a DOM event on `live`.

import { api, auth } from './api.js';

export const live = new EventTarget();
const SINCE_KEY = 'mediaedge.since';

let ws = null;
let stopped = true;
let backoff = 1000;
let pinger = 0;
let reconnectTimer = 0;
export let connected = false;

function setConnected(v) {
  connected = v;
  live.dispatchEvent(new CustomEvent('status', { detail: { connected: v } }));
}

export function startLive() {
  stopLive();
  if (!auth || auth.kind !== 'session') return;
  stopped = false;
  connect();
}

export function stopLive() {
  stopped = true;
  clearTimeout(reconnectTimer);
  clearInterval(pinger);
  if (ws) {
    ws.onclose = null;
    ws.close(1000);
    ws = null;
  }
  setConnected(false);
}

async function connect() {
  if (stopped) return;
  let ticket;
  try {
    ticket = (await api('POST', '/v1/ws/ticket')).ticket;
  } catch (e) {
    if (e.status === 401) return; // the session ended: no socket until a new sign-in
    return retry();
  }
  if (stopped) return;
  const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const sock = new WebSocket(proto + location.host + '/v1/ws?ticket=' + encodeURIComponent(ticket));
  ws = sock;
  sock.onopen = () => {
    const hello = { type: 'hello' };
    const since = sessionStorage.getItem(SINCE_KEY + '.' + auth.user_id);
    if (since) hello.since = Number(since);
    sock.send(JSON.stringify(hello));
    clearInterval(pinger);
    pinger = setInterval(() => {
      if (sock.readyState === WebSocket.OPEN) sock.send('{"type":"ping"}');
    }, 25000);
  };
  sock.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    switch (f.type) {
      case 'ready':
        backoff = 1000;
        setConnected(true);
        break;
      case 'resync':
        // The server no longer holds everything since our seq: views reload
        // their state over the API, then updates carry on.
        sessionStorage.removeItem(SINCE_KEY + '.' + auth.user_id);
        live.dispatchEvent(new CustomEvent('resync'));
        break;
      case 'update':
        // A signal (typing) has no seq and must not move since.
        if (f.seq) sessionStorage.setItem(SINCE_KEY + '.' + auth.user_id, String(f.seq));
        live.dispatchEvent(new CustomEvent('update', { detail: f }));
        live.dispatchEvent(new CustomEvent(f.kind, { detail: f }));
        break;
    }
  };
  sock.onclose = () => {
    clearInterval(pinger);
    if (ws === sock) ws = null;
    setConnected(false);
    retry();
  };
}

function retry() {
  if (stopped) return;
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 30000);
}
