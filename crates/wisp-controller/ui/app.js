// wisp dashboard: a single-page app over the wisp REST API (docs/api.md).
// Every value from the server is rendered as text (textContent / text nodes).
'use strict';
(() => {
  const KEY_STORE = 'wisp.apiKey';
  const NS = '_';
  const API = '/api/v1/namespaces/' + NS;
  const REFRESH_MS = 2000;
  const STATS_POOL = 8;

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let generation = 0; // bumped on every navigation; stale async work checks it

  // ---------- DOM helpers ----------
  // el('div', {class: 'x', testid: 'y', for: 'z'}, 'text', childNode, ...)
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') n.className = v;
        else if (k === 'testid') n.setAttribute('data-testid', v);
        else if (k === 'text') n.textContent = String(v);
        else if (k === 'on') for (const [ev, fn] of Object.entries(v)) n.addEventListener(ev, fn);
        else if (k === 'value') n.value = v;
        else if (k === 'checked' || k === 'disabled' || k === 'hidden') n[k] = Boolean(v);
        else n.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      n.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    }
    return n;
  }
  const clear = (n) => { while (n.firstChild) n.removeChild(n.firstChild); return n; };
  const actionHref = (name) => '#/action/' + encodeURIComponent(name);
  const fmtNum = (v, digits) => (typeof v === 'number' && isFinite(v))
    ? (digits === undefined ? String(v) : v.toFixed(digits)) : '—';
  const fmtDate = (ms) => (typeof ms === 'number' && ms > 0) ? new Date(ms).toLocaleString() : '—';
  const fmtBytes = (b) => {
    if (typeof b !== 'number') return '—';
    if (b < 1024) return b + ' B';
    if (b < 1048576) return (b / 1024).toFixed(1) + ' KiB';
    return (b / 1048576).toFixed(1) + ' MiB';
  };
  const pretty = (v) => {
    if (v === undefined) return '';
    if (typeof v === 'string') return v;
    try { return JSON.stringify(v, null, 2); } catch (_) { return String(v); }
  };
  function field(labelText, control, help) {
    const id = control.id;
    return el('div', { class: 'field' }, el('label', { for: id }, labelText), control,
      help ? el('p', { class: 'muted small-text', id: id + '-help' }, help) : null);
  }
  function dl(pairs) {
    const d = el('dl', { class: 'kv' });
    for (const [k, v, testid] of pairs) {
      d.appendChild(el('dt', null, k));
      d.appendChild(el('dd', testid ? { testid } : null, v === undefined || v === null || v === '' ? '—' : String(v)));
    }
    return d;
  }
  function tableWrap(table, label) {
    return el('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' }, table);
  }

  // ---------- alerts and status ----------
  function showError(msg) {
    $('alert-text').textContent = String(msg);
    $('alert').hidden = false;
  }
  function clearError() { $('alert-text').textContent = ''; $('alert').hidden = true; }
  let statusTimer = null;
  function say(msg) {
    $('status').textContent = String(msg);
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { $('status').textContent = ''; }, 6000);
  }

  // ---------- key and API ----------
  function getKey() { try { return sessionStorage.getItem(KEY_STORE); } catch (_) { return null; } }
  function setKey(k) { try { sessionStorage.setItem(KEY_STORE, k); } catch (_) { /* storage off */ } }
  function dropKey() { try { sessionStorage.removeItem(KEY_STORE); } catch (_) { /* storage off */ } }
  function b64Text(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  function b64Bytes(buf) {
    const bytes = new Uint8Array(buf);
    const parts = [];
    for (let i = 0; i < bytes.length; i += 0x8000) {
      parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return btoa(parts.join(''));
  }
  const authHeader = () => 'Basic ' + b64Text(getKey() || '');

  class ApiError extends Error {
    constructor(status, message, body) { super(message); this.status = status; this.body = body; }
  }

  // Raw call: answers {status, ok, text, json}. A 401 signs out.
  async function call(method, path, body, opts) {
    const o = opts || {};
    const headers = { Accept: 'application/json' };
    if (o.auth !== false) headers.Authorization = authHeader();
    if (o.headers) Object.assign(headers, o.headers);
    let payload;
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'The server could not be reached: ' + e.message);
    }
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch (_) { json = undefined; }
    if (res.status === 401 && o.auth !== false && !o.allow401) {
      signOut('The server refused the key (401 ' + errText(json, text, 'unauthorized') + '). Sign in again.');
      throw new ApiError(401, 'unauthorized');
    }
    return { status: res.status, ok: res.ok, text, json, headers: res.headers };
  }
  function errText(json, text, fallback) {
    if (json && typeof json === 'object' && json.error !== undefined) return pretty(json.error);
    if (text) return text.slice(0, 500);
    return fallback;
  }
  // JSON call that throws ApiError with the server's `error` on failure.
  async function api(method, path, body) {
    const r = await call(method, path, body);
    if (!r.ok) throw new ApiError(r.status, errText(r.json, r.text, 'HTTP ' + r.status), r.json);
    return r.json;
  }
  function report(e) {
    if (e instanceof ApiError && e.status === 401) return; // already back at sign-in
    showError(e instanceof ApiError && e.status ? 'HTTP ' + e.status + ': ' + e.message : e.message || String(e));
  }

  // ---------- sign-in ----------
  function signOut(message) {
    dropKey();
    stopTimer();
    generation++;
    clear($('view'));
    $('nav').hidden = true;
    $('who').hidden = true;
    $('who-ns').textContent = '';
    $('nav-namespaces-item').hidden = true;
    $('signin').hidden = false;
    clearError();
    if (message) showError(message);
    $('signin-key').value = '';
    $('signin-key').focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const key = $('signin-key').value.trim();
    if (!/^[^:\s]+:\S+$/.test(key)) { showError('The key has the form ID:SECRET.'); $('signin-key').focus(); return; }
    const btn = $('signin-button');
    btn.disabled = true;
    setKey(key);
    try {
      const r = await call('GET', '/api/v1/namespaces', undefined, { allow401: true });
      if (r.status === 401) { signOut('The server refused this key (401). Check ID:SECRET.'); return; }
      if (!r.ok) throw new ApiError(r.status, errText(r.json, r.text, 'HTTP ' + r.status));
      clearError();
      $('signin-key').value = '';
      showApp(Array.isArray(r.json) ? r.json.join(', ') : '');
      route();
    } catch (e) {
      dropKey();
      report(e);
    } finally {
      btn.disabled = false;
    }
  }

  function showApp(ns) {
    $('signin').hidden = true;
    $('nav').hidden = false;
    $('who').hidden = false;
    if (ns) $('who-ns').textContent = 'namespace ' + ns;
    checkAdmin();
  }
  // The Namespaces link is shown only to the server's key (the admin list answers 200).
  async function checkAdmin() {
    try {
      const r = await call('GET', '/api/v1/admin/namespaces');
      $('nav-namespaces-item').hidden = !r.ok;
    } catch (_) { $('nav-namespaces-item').hidden = true; }
  }

  // ---------- routing ----------
  function stopTimer() { if (timer) { clearInterval(timer); timer = null; } }
  function every(fn) {
    stopTimer();
    timer = setInterval(() => { if (document.visibilityState === 'visible') fn(); }, REFRESH_MS);
    onVisible = fn;
  }
  let onVisible = null;
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && timer && onVisible) onVisible();
  });

  let onResize = null;
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (onResize) onResize(); }, 100);
  });

  function route() {
    if (!getKey()) { signOut(); return; }
    stopTimer();
    onVisible = null;
    onResize = null;
    generation++;
    clearError();
    const h = location.hash || '#/';
    const view = clear($('view'));
    let current = 'actions';
    if (h.startsWith('#/action/')) {
      let name;
      try { name = decodeURIComponent(h.slice('#/action/'.length)); } catch (_) { name = ''; }
      if (name) actionPage(view, name); else overview(view);
    } else if (h === '#/deploy') {
      current = 'deploy';
      deployPage(view);
    } else if (h === '#/namespaces') {
      current = 'namespaces';
      namespacesPage(view);
    } else {
      overview(view);
    }
    for (const [id, which] of [['nav-actions', 'actions'], ['nav-deploy', 'deploy'], ['nav-namespaces', 'namespaces']]) {
      if (which === current) $(id).setAttribute('aria-current', 'page');
      else $(id).removeAttribute('aria-current');
    }
  }

  // ---------- overview and actions list ----------
  const PATTERNS = ['idle', 'SCMA', 'MCSA', 'MCMA'];
  const COLUMNS = [
    { key: 'name', label: 'Name', get: (a) => a.name, type: 's' },
    { key: 'kind', label: 'Shape / kind', get: (a) => shapeOf(a), type: 's' },
    { key: 'version', label: 'Version', get: (a) => a.version, type: 'v' },
    { key: 'pattern', label: 'Pattern', get: (a, s) => s && s.pattern, type: 's' },
    { key: 'calls', label: 'Calls', get: (a, s) => s && s.calls && s.calls.calls, type: 'n' },
    { key: 'errors', label: 'Errors', get: (a, s) => s && s.calls && s.calls.errors, type: 'n' },
    { key: 'window', label: 'Window calls', get: (a, s) => s && s.figures && s.figures.calls, type: 'n' },
    { key: 'clients', label: 'Clients', get: (a, s) => s && s.figures && s.figures.clients, type: 'n' },
    { key: 'inflight', label: 'In flight', get: (a, s) => s && s.in_flight, type: 'n' },
    { key: 'p50', label: 'p50 ms', get: (a, s) => s && s.latency_ms && s.latency_ms.p50, type: 'n', digits: 2 },
    { key: 'p99', label: 'p99 ms', get: (a, s) => s && s.latency_ms && s.latency_ms.p99, type: 'n', digits: 2 },
    { key: 'hotshare', label: 'Hot share', get: (a, s) => s && s.figures && s.figures.hot_share, type: 'n', digits: 2 },
    { key: 'memory', label: 'Memory', get: (a, s) => s && s.memory ? (s.memory.hot ? 'hot' : 'cold') : undefined, type: 's' },
    { key: 'reserved', label: 'Reserved slots', get: (a, s) => s && s.reserved_slots, type: 'n' },
  ];
  function shapeOf(a) {
    const kind = a.exec && a.exec.kind;
    const shape = a.wisp && a.wisp.shape;
    if (kind === 'sequence') return 'sequence';
    return [shape, kind].filter(Boolean).join(' / ');
  }
  function cmpVersion(x, y) {
    const px = String(x).split('.').map(Number), py = String(y).split('.').map(Number);
    for (let i = 0; i < Math.max(px.length, py.length); i++) {
      const d = (px[i] || 0) - (py[i] || 0);
      if (d) return d;
    }
    return 0;
  }
  const listState = { sort: 'name', dir: 1, filter: '', actions: [], stats: new Map(), truncated: false };

  async function fetchActions() {
    const all = [];
    for (let skip = 0; skip < 1000; skip += 200) {
      const page = await api('GET', API + '/actions?limit=200&skip=' + skip);
      if (!Array.isArray(page)) break;
      all.push(...page);
      if (page.length < 200) return { all, truncated: false };
    }
    return { all, truncated: true };
  }
  async function fetchStats(actions) {
    const out = new Map();
    let i = 0;
    async function worker() {
      while (i < actions.length) {
        const a = actions[i++];
        try {
          out.set(a.name, await api('GET', API + '/actions/' + encodeURIComponent(a.name) + '/stats'));
        } catch (e) {
          if (e.status === 401) throw e;
          out.set(a.name, null);
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(STATS_POOL, actions.length) }, worker));
    return out;
  }

  function overview(view) {
    const gen = generation;
    const figures = el('div', { class: 'figures', id: 'overview-figures' });
    const filter = el('input', { id: 'actions-filter', type: 'search', testid: 'actions-filter', autocomplete: 'off', value: listState.filter });
    const thead = el('thead');
    const tbody = el('tbody', { id: 'actions-body' });
    const note = el('p', { class: 'muted small-text', id: 'actions-note' });
    const updated = el('p', { class: 'muted small-text', id: 'actions-updated', 'aria-live': 'off' });
    const table = el('table', { id: 'actions-table', class: 'data' },
      el('caption', { class: 'sr-only' }, 'Actions in your namespace, with their access-pattern stats'), thead, tbody);

    const node = el('div', { class: 'figures', id: 'node-figures' });
    const nodeSection = el('section', { 'aria-labelledby': 'node-title', hidden: true },
      el('h2', { id: 'node-title' }, 'This node'),
      el('p', { class: 'muted small-text' }, 'From /api/v1/admin/overview (the server key sees it).'),
      node);
    view.append(
      el('h1', null, 'Overview'),
      nodeSection,
      el('section', { 'aria-labelledby': 'mix-title' },
        el('h2', { id: 'mix-title' }, 'Access-pattern mix'),
        el('p', { class: 'muted small-text' }, 'Computed from the per-action stats of the listed actions.'),
        figures),
      el('section', { 'aria-labelledby': 'actions-title' },
        el('div', { class: 'section-head' },
          el('h2', { id: 'actions-title' }, 'Actions'),
          el('a', { href: '#/deploy', class: 'button-link' }, 'Deploy an action')),
        el('div', { class: 'toolbar' }, field('Filter actions', filter)),
        tableWrap(table, 'Actions table'), note, updated));

    filter.addEventListener('input', () => { listState.filter = filter.value; renderRows(); });

    function renderHead() {
      const tr = el('tr');
      for (const c of COLUMNS) {
        const active = listState.sort === c.key;
        const th = el('th', { scope: 'col', 'aria-sort': active ? (listState.dir > 0 ? 'ascending' : 'descending') : 'none' });
        const btn = el('button', { type: 'button', class: 'sort', testid: 'sort-' + c.key },
          c.label, el('span', { class: 'sort-ind', 'aria-hidden': 'true' }, active ? (listState.dir > 0 ? ' ▲' : ' ▼') : ''));
        btn.addEventListener('click', () => {
          if (listState.sort === c.key) listState.dir = -listState.dir;
          else { listState.sort = c.key; listState.dir = c.type === 'n' ? -1 : 1; }
          renderHead();
          renderRows();
          const again = thead.querySelector('[data-testid="sort-' + c.key + '"]');
          if (again) again.focus();
        });
        th.appendChild(btn);
        tr.appendChild(th);
      }
      clear(thead).appendChild(tr);
    }

    function renderRows() {
      const focusedName = document.activeElement && tbody.contains(document.activeElement)
        ? document.activeElement.getAttribute('data-name') : null;
      const col = COLUMNS.find((c) => c.key === listState.sort) || COLUMNS[0];
      const q = listState.filter.trim().toLowerCase();
      const rows = listState.actions.filter((a) => {
        if (!q) return true;
        const s = listState.stats.get(a.name);
        return [a.name, shapeOf(a), a.version, s && s.pattern].some((t) => t && String(t).toLowerCase().includes(q));
      });
      rows.sort((a, b) => {
        const va = col.get(a, listState.stats.get(a.name)), vb = col.get(b, listState.stats.get(b.name));
        const na = va === undefined || va === null, nb = vb === undefined || vb === null;
        if (na || nb) return na === nb ? a.name.localeCompare(b.name) : (na ? 1 : -1);
        let d;
        if (col.type === 'n') d = va - vb;
        else if (col.type === 'v') d = cmpVersion(va, vb);
        else d = String(va).localeCompare(String(vb));
        return d * listState.dir || a.name.localeCompare(b.name);
      });
      clear(tbody);
      let refocus = null;
      for (const a of rows) {
        const s = listState.stats.get(a.name);
        const tr = el('tr', { testid: 'action-row', 'data-name': a.name });
        for (const c of COLUMNS) {
          if (c.key === 'name') {
            const link = el('a', { href: actionHref(a.name), 'data-name': a.name }, a.name);
            if (focusedName !== null && focusedName === a.name) refocus = link;
            tr.appendChild(el('th', { scope: 'row' }, link));
            continue;
          }
          const v = c.get(a, s);
          let text;
          if (c.type === 'n') text = fmtNum(v, c.digits);
          else text = v === undefined || v === null || v === '' ? '—' : String(v);
          const td = el('td', { class: c.type === 'n' ? 'num' : null }, text);
          if (c.key === 'pattern' && v) td.className = 'pat pat-' + String(v).toLowerCase().replace(/[^a-z]/g, '');
          if (c.key === 'memory' && v) td.className = v === 'hot' ? 'hot' : 'cold';
          tr.appendChild(td);
        }
        tbody.appendChild(tr);
      }
      if (!rows.length) {
        tbody.appendChild(el('tr', null, el('td', { colspan: String(COLUMNS.length), class: 'empty' },
          listState.actions.length ? 'No action matches the filter.' : 'No actions yet. Deploy one.')));
      }
      if (refocus) refocus.focus();
      note.textContent = listState.truncated ? 'Showing the first 1000 actions.' : '';
      renderFigures();
    }

    function renderFigures() {
      const counts = { idle: 0, SCMA: 0, MCSA: 0, MCMA: 0 };
      let calls = 0, errors = 0, inflight = 0, hot = 0, reserved = 0, known = 0;
      for (const a of listState.actions) {
        const s = listState.stats.get(a.name);
        if (!s) continue;
        known++;
        if (s.pattern in counts) counts[s.pattern]++;
        if (s.calls) { calls += s.calls.calls || 0; errors += s.calls.errors || 0; }
        inflight += s.in_flight || 0;
        if (s.memory && s.memory.hot) hot++;
        reserved += s.reserved_slots || 0;
      }
      const items = [['Actions', String(listState.actions.length), 'fig-actions']];
      for (const p of PATTERNS) items.push([p, String(counts[p]), 'fig-' + p.toLowerCase()]);
      items.push(['Calls', String(calls), 'fig-calls'], ['Errors', String(errors), 'fig-errors'],
        ['In flight', String(inflight), 'fig-inflight'], ['Hot in memory', hot + ' / ' + known, 'fig-hot'],
        ['Reserved slots', String(reserved), 'fig-reserved']);
      clear(figures);
      for (const [label, value, testid] of items) {
        figures.appendChild(el('div', { class: 'figure', testid },
          el('span', { class: 'fig-value' }, value), el('span', { class: 'fig-label' }, label)));
      }
    }

    function renderNode(o) {
      const mib = (b) => (b / 1048576).toFixed(1) + ' MiB';
      const refused = Object.values(o.throttled || {}).reduce((x, y) => x + y, 0);
      const items = [
        ['Instances in flight', o.instances_in_flight + ' / ' + o.instance_capacity, 'node-inflight'],
        ['Queued calls', String(o.queue_depth), 'node-queue'],
        ['Throttled calls', String(refused), 'node-throttled'],
        ['Memory (RSS)', o.resident_bytes == null ? '—' : mib(o.resident_bytes), 'node-memory'],
        ['Compiled code', mib(o.compiled_code_bytes || 0), 'node-code'],
        ['Actions deployed', String(o.actions_deployed), 'node-actions'],
      ];
      clear(node);
      for (const [label, value, testid] of items) {
        node.appendChild(el('div', { class: 'figure', testid },
          el('span', { class: 'fig-value' }, value), el('span', { class: 'fig-label' }, label)));
      }
    }

    let busy = false;
    async function refresh() {
      if (busy) return;
      busy = true;
      try {
        const o = await call('GET', '/api/v1/admin/overview');
        if (gen !== generation) return;
        nodeSection.hidden = !(o.ok && o.json);
        if (o.ok && o.json) renderNode(o.json);
        const { all, truncated } = await fetchActions();
        const stats = await fetchStats(all);
        if (gen !== generation) return;
        listState.actions = all;
        listState.truncated = truncated;
        listState.stats = stats;
        renderRows();
        updated.textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshed every 2 s while this page is visible.';
        if (!$('alert').hidden && $('alert-text').textContent.startsWith('Refresh failed')) clearError();
      } catch (e) {
        if (gen !== generation) return;
        if (e.status === 401) return;
        showError('Refresh failed: ' + (e.status ? 'HTTP ' + e.status + ': ' : '') + e.message);
      } finally {
        busy = false;
      }
    }

    renderHead();
    renderRows();
    refresh();
    every(refresh);
  }

  // ---------- canvas charts (no library) ----------
  // Sizes the canvas's backing store to its CSS box times devicePixelRatio; colours come from
  // the canvas's `color` (data) and its parent's (text and axes).
  function prepCanvas(canvas) {
    if (!canvas.isConnected) return null;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 160;
    const W = Math.round(w * dpr), H = Math.round(h * dpr);
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const cs = getComputedStyle(canvas);
    return { ctx, w, h, color: cs.color, fg: getComputedStyle(canvas.parentNode).color, font: '12px ' + cs.fontFamily };
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const e = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v * 0.9999) return m * e;
    return 10 * e;
  }
  const fmtAxis = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? String(Math.round(v * 10) / 10) : String(Math.round(v * 100) / 100));
  function chartFrame(c, yMax, yTitle, xLeft, xRight, xTitle) {
    const { ctx, w, h } = c;
    ctx.font = c.font;
    const L = Math.max(28, Math.ceil(ctx.measureText(fmtAxis(yMax)).width) + 8), R = 8, T = 18, B = 32;
    const pw = Math.max(10, w - L - R), ph = Math.max(10, h - T - B);
    ctx.fillStyle = c.fg; ctx.strokeStyle = c.fg; ctx.lineWidth = 1;
    ctx.globalAlpha = 0.2;
    for (const f of [0.5, 1]) { const y = Math.round(T + ph * (1 - f)) + 0.5; ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke(); }
    ctx.globalAlpha = 1;
    ctx.beginPath(); ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, T + ph + 0.5); ctx.lineTo(L + pw, T + ph + 0.5); ctx.stroke();
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (const f of [0, 0.5, 1]) ctx.fillText(fmtAxis(yMax * f), L - 4, T + ph * (1 - f));
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left'; ctx.fillText(xLeft, L, T + ph + 3);
    ctx.textAlign = 'right'; ctx.fillText(xRight, L + pw, T + ph + 3);
    ctx.textAlign = 'center'; ctx.fillText(xTitle, L + pw / 2, T + ph + 17);
    ctx.textAlign = 'left'; ctx.textBaseline = 'top'; ctx.fillText(yTitle, 2, 1);
    return { L, T, pw, ph };
  }
  function chartEmpty(c, msg) {
    c.ctx.font = c.font; c.ctx.fillStyle = c.fg; c.ctx.textAlign = 'center'; c.ctx.textBaseline = 'middle';
    c.ctx.fillText(msg, c.w / 2, c.h / 2);
  }
  // points: [{t (ms), v}], oldest first; slots: the chart's width in points.
  function drawLine(canvas, points, slots) {
    const c = prepCanvas(canvas);
    if (!c) return;
    if (points.length < 1) { chartEmpty(c, 'Waiting for a second sample…'); return; }
    const yMax = niceMax(Math.max(...points.map((p) => p.v)));
    const span = Math.round((points[points.length - 1].t - points[0].t) / 1000);
    const f = chartFrame(c, yMax, 'calls/s', '−' + span + ' s', 'now', 'time');
    const { ctx } = c;
    const x = (i) => f.L + f.pw * (slots <= 1 ? 1 : (i + slots - points.length) / (slots - 1));
    const y = (v) => f.T + f.ph * (1 - v / yMax);
    ctx.strokeStyle = c.color; ctx.fillStyle = c.color; ctx.lineWidth = 2; ctx.lineJoin = 'round';
    ctx.beginPath();
    points.forEach((p, i) => { if (i) ctx.lineTo(x(i), y(p.v)); else ctx.moveTo(x(i), y(p.v)); });
    ctx.stroke();
    const last = points.length - 1;
    ctx.beginPath(); ctx.arc(x(last), y(points[last].v), 3, 0, 2 * Math.PI); ctx.fill();
  }
  // bins: [{lo, hi, n}] in ms.
  function drawBars(canvas, bins) {
    const c = prepCanvas(canvas);
    if (!c) return;
    if (!bins.length) { chartEmpty(c, 'No activations yet.'); return; }
    const yMax = niceMax(Math.max(...bins.map((b) => b.n)));
    const f = chartFrame(c, yMax, 'calls', fmtAxis(bins[0].lo) + ' ms', fmtAxis(bins[bins.length - 1].hi) + ' ms', 'duration');
    const { ctx } = c;
    const bw = f.pw / bins.length;
    ctx.fillStyle = c.color;
    bins.forEach((b, i) => {
      if (!b.n) return;
      const hgt = f.ph * b.n / yMax;
      ctx.fillRect(f.L + i * bw + 1, f.T + f.ph - hgt, Math.max(1, bw - 2), hgt);
    });
  }
  function histogram(values, want) {
    if (!values.length) return [];
    const lo = Math.min(...values), hi = Math.max(...values);
    const nb = hi > lo ? want : 1;
    const width = hi > lo ? (hi - lo) / nb : 1;
    const bins = Array.from({ length: nb }, (_, i) => ({ lo: lo + i * width, hi: lo + (i + 1) * width, n: 0 }));
    for (const v of values) bins[Math.min(nb - 1, Math.floor((v - lo) / width))].n++;
    return bins;
  }
  function median(values) {
    const s = values.slice().sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  // ---------- action page ----------
  function annotation(action, key) {
    const a = (action.annotations || []).find((x) => x && x.key === key);
    return a ? a.value : undefined;
  }
  function actAnnotation(rec, key) {
    const a = (rec.annotations || []).find((x) => x && x.key === key);
    return a ? a.value : undefined;
  }
  // The web route of an action: /fn/NAME in `guest`, else /api/v1/web/NS/default/NAME.
  function webUrl(action, rawPath) {
    let path = rawPath.trim(), query = '';
    const qi = path.indexOf('?');
    if (qi >= 0) { query = path.slice(qi + 1); path = path.slice(0, qi); }
    const segs = path.split('/').filter((s, i) => s !== '' || i > 0).map((s) => {
      try { return encodeURIComponent(decodeURIComponent(s)); } catch (_) { return encodeURIComponent(s); }
    });
    const base = action.namespace === 'guest'
      ? '/fn/' + encodeURIComponent(action.name)
      : '/api/v1/web/' + encodeURIComponent(action.namespace) + '/default/' + encodeURIComponent(action.name);
    const qs = query ? '?' + new URLSearchParams(query).toString() : '';
    return base + '/' + segs.join('/') + qs;
  }

  function actionPage(view, name) {
    const gen = generation;
    const enc = encodeURIComponent(name);
    const title = el('h1', null, 'Action ', el('span', { class: 'mono' }, name));
    const config = el('div', { id: 'action-config' }, el('p', { class: 'muted' }, 'Loading…'));
    const statsBox = el('div', { id: 'action-stats' }, el('p', { class: 'muted' }, 'Loading…'));
    const versionsBody = el('tbody');
    const versionsTable = el('table', { class: 'data', id: 'versions-table' },
      el('caption', { class: 'sr-only' }, 'Kept versions, newest first'),
      el('thead', null, el('tr', null, ...['Version', 'Deployed', 'Shape', 'Module', 'Size', 'Timeout', 'Memory', ''].map((h) =>
        el('th', { scope: 'col' }, h || el('span', { class: 'sr-only' }, 'Roll back'))))),
      versionsBody);

    // invoke console
    const params = el('textarea', { id: 'invoke-params', testid: 'invoke-params', rows: '6', spellcheck: 'false', class: 'mono', value: '{}', 'aria-describedby': 'invoke-params-help' });
    const invokeBtn = el('button', { type: 'submit', id: 'invoke-button', testid: 'invoke-button', class: 'primary' }, 'Invoke');
    const invokeStatus = el('p', { id: 'invoke-status', testid: 'invoke-status', class: 'muted' });
    const invokeResult = el('pre', { id: 'invoke-result', testid: 'invoke-result', class: 'out', tabindex: '0', 'aria-label': 'Invoke result' });
    const invokeForm = el('form', { id: 'invoke-form', novalidate: true },
      field('Parameters (JSON object)', params, 'Merged over the action\'s default parameters. Runs blocking and shows the result.'),
      el('div', { class: 'actions-row' }, invokeBtn), invokeStatus, invokeResult);

    // web console (filled in when the action is web-exported)
    const webBox = el('section', { id: 'web-console', 'aria-labelledby': 'web-title', hidden: true });

    // activations
    const actsBody = el('tbody');
    const actsTable = el('table', { class: 'data', id: 'activations-table' },
      el('caption', { class: 'sr-only' }, 'Recent activations, newest first'),
      el('thead', null, el('tr', null, ...['Started', 'Status', 'Duration', 'Warmth', 'Wait', 'Init', 'Version', 'Id', ''].map((h) =>
        el('th', { scope: 'col' }, h || el('span', { class: 'sr-only' }, 'Open'))))),
      actsBody);
    const actDetail = el('div', { id: 'activation-detail', class: 'card', hidden: true });
    const refreshActs = el('button', { type: 'button', id: 'activations-refresh', testid: 'activations-refresh' }, 'Refresh');

    // charts: calls per second (from the total call count of each stats fetch) and latency
    const CALL_POINTS = 60;
    const callsCanvas = el('canvas', { id: 'chart-calls', testid: 'chart-calls', class: 'chart chart-calls', role: 'img', 'aria-label': 'Calls per second: waiting for samples', 'aria-describedby': 'chart-calls-summary' });
    const callsSummary = el('p', { id: 'chart-calls-summary', testid: 'chart-calls-summary', class: 'muted small-text chart-summary' }, 'Waiting for a second sample…');
    const latCanvas = el('canvas', { id: 'chart-latency', testid: 'chart-latency', class: 'chart chart-latency', role: 'img', 'aria-label': 'Latency histogram: no activations yet', 'aria-describedby': 'chart-latency-summary' });
    const latSummary = el('p', { id: 'chart-latency-summary', testid: 'chart-latency-summary', class: 'muted small-text chart-summary' }, 'n=0');
    const callPoints = [];
    let lastSample = null;
    let durations = [];
    function sampleCalls(total) {
      if (typeof total !== 'number') return;
      const now = Date.now();
      if (lastSample && total >= lastSample.total && now > lastSample.t) {
        const rate = (total - lastSample.total) / ((now - lastSample.t) / 1000);
        callPoints.push({ t: now, v: rate });
        if (callPoints.length > CALL_POINTS) callPoints.splice(0, callPoints.length - CALL_POINTS);
      } else if (lastSample && total < lastSample.total) {
        callPoints.length = 0; // the counter restarted (server restart): start over
      }
      lastSample = { t: now, total };
      renderCalls();
    }
    function renderCalls() {
      drawLine(callsCanvas, callPoints, CALL_POINTS);
      if (!callPoints.length) return;
      const last = callPoints[callPoints.length - 1].v;
      const peak = Math.max(...callPoints.map((p) => p.v));
      const text = 'last: ' + fmtNum(last, 1) + ' calls/s, peak ' + fmtNum(peak, 1) + ' calls/s over ' + callPoints.length + ' samples';
      callsSummary.textContent = text;
      callsCanvas.setAttribute('aria-label', 'Calls per second line chart; ' + text);
    }
    function renderLatency() {
      const bins = histogram(durations, 10);
      drawBars(latCanvas, bins);
      const text = durations.length
        ? 'n=' + durations.length + ', median ' + fmtAxis(median(durations)) + ' ms, max ' + fmtAxis(Math.max(...durations)) + ' ms'
        : 'n=0 (no activations yet)';
      latSummary.textContent = text;
      latCanvas.setAttribute('aria-label', 'Latency histogram in ' + bins.length + ' buckets; ' + text);
    }
    onResize = () => { if (gen === generation) { renderCalls(); renderLatency(); } };

    view.append(
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← Actions')),
      title,
      el('div', { class: 'grid' },
        el('section', { 'aria-labelledby': 'config-title', class: 'card' }, el('h2', { id: 'config-title' }, 'Configuration and limits'), config),
        el('section', { 'aria-labelledby': 'stats-title', class: 'card' }, el('h2', { id: 'stats-title' }, 'Access pattern and stats'), statsBox)),
      el('div', { class: 'grid' },
        el('section', { 'aria-labelledby': 'invoke-title', class: 'card' }, el('h2', { id: 'invoke-title' }, 'Invoke'), invokeForm),
        webBox),
      el('div', { class: 'grid' },
        el('section', { 'aria-labelledby': 'chart-calls-title', class: 'card chart-card' },
          el('h2', { id: 'chart-calls-title' }, 'Calls per second'),
          el('div', { class: 'chart-box' }, callsCanvas),
          callsSummary),
        el('section', { 'aria-labelledby': 'chart-latency-title', class: 'card chart-card' },
          el('h2', { id: 'chart-latency-title' }, 'Latency of recent activations'),
          el('div', { class: 'chart-box' }, latCanvas),
          latSummary)),
      el('section', { 'aria-labelledby': 'versions-title' }, el('h2', { id: 'versions-title' }, 'Versions'), tableWrap(versionsTable, 'Versions table')),
      el('section', { 'aria-labelledby': 'acts-title' },
        el('div', { class: 'section-head' }, el('h2', { id: 'acts-title' }, 'Recent activations'), refreshActs),
        tableWrap(actsTable, 'Activations table'), actDetail));

    async function loadAction() {
      try {
        const a = await api('GET', API + '/actions/' + enc + '?code=false');
        if (gen !== generation) return;
        renderConfig(a);
        renderWeb(a);
      } catch (e) {
        if (gen !== generation) return;
        clear(config).appendChild(el('p', { class: 'muted' }, 'Not available.'));
        report(e);
      }
    }

    function renderConfig(a) {
      const limits = a.limits || {};
      const w = a.wisp || {};
      const exec = a.exec || {};
      const pairs = [
        ['Namespace', a.namespace],
        ['Version', a.version, 'current-version'],
        ['Kind', exec.kind],
        ['Shape', w.shape],
        ['Web export', annotation(a, 'web-export') === true ? 'yes' : 'no'],
        ['Module SHA-256', w.module_sha256],
        ['Module size', fmtBytes(w.module_size)],
        ['Updated', fmtDate(a.updated)],
      ];
      if (Array.isArray(exec.components)) pairs.push(['Sequence', exec.components.join(' → ')]);
      if (w.init) pairs.push(['Pre-initialized', w.init.export + ' (' + fmtNum(w.init.init_us) + ' µs)']);
      const lim = [
        ['Timeout', fmtNum(limits.timeout) + ' ms'],
        ['Memory', fmtNum(limits.memory) + ' MiB'],
        ['Storage (/data)', limits.storage ? limits.storage + ' MiB' : 'none'],
        ['Instances', limits.instances ? String(limits.instances) : 'server cap only'],
        ['Logs', fmtNum(limits.logs) + ' MB'],
        ['Concurrency', fmtNum(limits.concurrency)],
      ];
      clear(config).append(dl(pairs), el('h3', null, 'Limits'), dl(lim),
        kvTable('Parameters', a.parameters), kvTable('Annotations', a.annotations));
    }
    function kvTable(label, list) {
      const items = Array.isArray(list) ? list : [];
      const box = el('div', null, el('h3', null, label));
      if (!items.length) { box.appendChild(el('p', { class: 'muted' }, 'None.')); return box; }
      const tb = el('tbody');
      for (const kv of items) tb.appendChild(el('tr', null, el('th', { scope: 'row', class: 'mono' }, String(kv.key)), el('td', { class: 'mono wrap-any' }, pretty(kv.value))));
      box.appendChild(tableWrap(el('table', { class: 'data compact' },
        el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Key'), el('th', { scope: 'col' }, 'Value'))), tb), label));
      return box;
    }

    async function loadStats() {
      try {
        const s = await api('GET', API + '/actions/' + enc + '/stats');
        if (gen !== generation) return;
        const f = s.figures || {}, c = s.calls || {}, l = s.latency_ms, m = s.memory || {};
        sampleCalls(c.calls);
        clear(statsBox).append(dl([
          ['Pattern', s.pattern, 'action-pattern'],
          ['Window', fmtNum(s.window_seconds, 0) + ' s (at most ' + fmtNum(s.sampled_calls) + ' calls)'],
          ['Window calls / clients', fmtNum(f.calls) + ' / ' + fmtNum(f.clients)],
          ['Calls per client', fmtNum(f.calls_per_client, 2)],
          ['Busiest client share', fmtNum(f.top_client_share, 2)],
          ['Peak concurrency', fmtNum(f.peak_concurrency)],
          ['Hot share', fmtNum(f.hot_share, 2)],
          ['Total calls / errors', fmtNum(c.calls) + ' / ' + fmtNum(c.errors)],
          ['Hot / cold-disk / cold-compiled', fmtNum(c.hot) + ' / ' + fmtNum(c.cold_disk) + ' / ' + fmtNum(c.cold_compiled)],
          ['In flight', fmtNum(s.in_flight)],
          ['Latency p50 / p90 / p99 / max', l ? [l.p50, l.p90, l.p99, l.max].map((x) => fmtNum(x, 2)).join(' / ') + ' ms' : '— (no calls in the window)'],
          ['Memory', m.hot ? 'hot (' + fmtBytes(m.code_bytes) + ' of code)' : 'cold'],
          ['Reserved slots', fmtNum(s.reserved_slots)],
        ]));
      } catch (e) {
        if (gen !== generation || e.status === 401) return;
        clear(statsBox).appendChild(el('p', { class: 'muted' }, 'Stats not available: ' + e.message));
      }
    }

    async function loadVersions() {
      try {
        const list = await api('GET', API + '/actions/' + enc + '/versions');
        if (gen !== generation) return;
        clear(versionsBody);
        for (const v of Array.isArray(list) ? list : []) {
          const btn = el('button', { type: 'button', testid: 'rollback-' + v.version, disabled: v.current,
            'aria-label': v.current ? 'Version ' + v.version + ' is current' : 'Roll back to ' + v.version }, v.current ? 'Current' : 'Roll back');
          btn.addEventListener('click', () => rollback(v.version, btn));
          const lim = v.limits || {};
          versionsBody.appendChild(el('tr', { testid: 'version-row', 'data-version': v.version, class: v.current ? 'current' : null },
            el('th', { scope: 'row', class: 'mono' }, String(v.version), v.current ? el('span', { class: 'badge' }, 'current') : null),
            el('td', null, fmtDate(v.deployed)),
            el('td', null, String(v.shape || '—')),
            el('td', { class: 'mono', title: String(v.module_sha256 || '') }, String(v.module_sha256 || '').slice(0, 12) || '—'),
            el('td', { class: 'num' }, fmtBytes(v.module_size)),
            el('td', { class: 'num' }, fmtNum(lim.timeout) + ' ms'),
            el('td', { class: 'num' }, fmtNum(lim.memory) + ' MiB'),
            el('td', null, btn)));
        }
        if (!versionsBody.firstChild) versionsBody.appendChild(el('tr', null, el('td', { colspan: '8', class: 'empty' }, 'No versions.')));
      } catch (e) {
        if (gen !== generation) return;
        report(e);
      }
    }

    async function rollback(version, btn) {
      btn.disabled = true;
      try {
        const a = await api('POST', API + '/actions/' + enc + '/rollback', { version });
        if (gen !== generation) return;
        clearError();
        say('Rolled back to ' + (a && a.version ? a.version : version) + '.');
        renderConfig(a);
        renderWeb(a);
        loadVersions();
      } catch (e) {
        btn.disabled = false;
        report(e);
      }
    }

    invokeForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      let body;
      const raw = params.value.trim();
      try { body = raw ? JSON.parse(raw) : {}; } catch (e) {
        showError('The parameters are not valid JSON: ' + e.message); params.focus(); return;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        showError('The parameters must be a JSON object.'); params.focus(); return;
      }
      invokeBtn.disabled = true;
      invokeStatus.textContent = 'Running…';
      invokeResult.textContent = '';
      const t0 = performance.now();
      try {
        const r = await call('POST', API + '/actions/' + enc + '?blocking=true&result=true', body);
        if (gen !== generation) return;
        const ms = Math.round(performance.now() - t0);
        const id = r.headers.get('x-openwhisk-activation-id');
        invokeStatus.textContent = 'HTTP ' + r.status + ' in ' + ms + ' ms' + (id ? ', activation ' + id : '');
        invokeResult.textContent = r.json !== undefined ? pretty(r.json) : r.text;
        if (!r.ok) showError('HTTP ' + r.status + ': ' + errText(r.json, r.text, 'the call failed'));
        else clearError();
        loadActivations();
        loadStats();
      } catch (e) {
        invokeStatus.textContent = '';
        report(e);
      } finally {
        invokeBtn.disabled = false;
      }
    });

    function renderWeb(a) {
      clear(webBox);
      const exported = annotation(a, 'web-export') === true;
      webBox.hidden = !exported;
      if (!exported) return;
      webBox.className = 'card';
      const auth = annotation(a, 'require-whisk-auth');
      const path = el('input', { id: 'web-path', testid: 'web-path', type: 'text', autocomplete: 'off', spellcheck: 'false', class: 'mono', value: '/' });
      const secret = el('input', { id: 'web-secret', testid: 'web-secret', type: 'password', autocomplete: 'off' });
      const btn = el('button', { type: 'submit', id: 'web-button', testid: 'web-button', class: 'primary' }, 'GET');
      const status = el('p', { id: 'web-status', testid: 'web-status', class: 'muted' });
      const out = el('pre', { id: 'web-result', testid: 'web-result', class: 'out', tabindex: '0', 'aria-label': 'Web call body' });
      const needsSecret = typeof auth === 'string' || typeof auth === 'number';
      const form = el('form', { id: 'web-form', novalidate: true },
        field('Path (and query)', path, 'Sent as GET ' + webUrl(a, '/').replace(/\/$/, '') + '/PATH'),
        needsSecret ? field('X-Require-Whisk-Auth secret', secret) : null,
        el('div', { class: 'actions-row' }, btn), status, out);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        btn.disabled = true;
        status.textContent = 'Calling…';
        out.textContent = '';
        try {
          const headers = { Accept: '*/*' };
          if (needsSecret && secret.value) headers['X-Require-Whisk-Auth'] = secret.value;
          // Only send the key where wisp checks it (require-whisk-auth: true); otherwise it would reach the function.
          const r = await call('GET', webUrl(a, path.value || '/'), undefined,
            { auth: auth === true, headers, allow401: true });
          if (gen !== generation) return;
          status.textContent = 'HTTP ' + r.status + (r.headers.get('content-type') ? ' · ' + r.headers.get('content-type') : '');
          out.textContent = r.text;
          loadActivations();
        } catch (e) {
          status.textContent = '';
          report(e);
        } finally {
          btn.disabled = false;
        }
      });
      webBox.append(el('h2', { id: 'web-title' }, 'Web call'), form);
    }

    async function loadActivations() {
      try {
        const list = await api('GET', API + '/activations?name=' + enc + '&docs=true&limit=100');
        if (gen !== generation) return;
        clear(actsBody);
        durations = (Array.isArray(list) ? list : []).map((r) => r && r.duration).filter((d) => typeof d === 'number' && isFinite(d) && d >= 0);
        renderLatency();
        for (const rec of Array.isArray(list) ? list : []) {
          const resp = rec.response || {};
          const warmth = actAnnotation(rec, 'warmth');
          const open = el('button', { type: 'button', class: 'small', testid: 'activation-open', 'aria-label': 'Open activation ' + rec.activationId }, 'Open');
          open.addEventListener('click', () => openActivation(rec, open));
          const ok = resp.success === true;
          actsBody.appendChild(el('tr', { testid: 'activation-row', 'data-id': String(rec.activationId || '') },
            el('td', null, fmtDate(rec.start)),
            el('td', { class: ok ? 'ok' : 'bad' }, String(resp.status || '—')),
            el('td', { class: 'num' }, fmtNum(rec.duration) + ' ms'),
            el('td', { class: warmth === 'hot' ? 'hot' : 'cold' }, warmth === undefined ? '—' : String(warmth)),
            el('td', { class: 'num' }, fmtNum(actAnnotation(rec, 'waitTime')) + ' ms'),
            el('td', { class: 'num' }, fmtNum(actAnnotation(rec, 'initTime')) + ' ms'),
            el('td', { class: 'mono' }, String(rec.version || '—')),
            el('td', { class: 'mono' }, String(rec.activationId || '').slice(0, 12)),
            el('td', null, open)));
        }
        if (!actsBody.firstChild) actsBody.appendChild(el('tr', null, el('td', { colspan: '9', class: 'empty' }, 'No activations yet.')));
      } catch (e) {
        if (gen !== generation) return;
        report(e);
      }
    }

    async function openActivation(summary, btn) {
      let rec = summary;
      btn.disabled = true;
      try {
        rec = await api('GET', API + '/activations/' + encodeURIComponent(summary.activationId));
      } catch (e) {
        if (e.status === 401) return;
        report(e); // fall back to the list's copy
      } finally {
        btn.disabled = false;
      }
      if (gen !== generation) return;
      const resp = rec.response || {};
      const logs = Array.isArray(rec.logs) ? rec.logs : [];
      const anns = (rec.annotations || []).map((x) => x.key + ': ' + pretty(x.value).replace(/\s+/g, ' ')).join('\n');
      const close = el('button', { type: 'button', class: 'small' }, 'Close');
      close.addEventListener('click', () => { actDetail.hidden = true; btn.focus(); });
      const heading = el('h3', { id: 'activation-title', tabindex: '-1' }, 'Activation ', el('span', { class: 'mono wrap-any' }, String(rec.activationId || '')));
      clear(actDetail).append(
        el('div', { class: 'section-head' }, heading, close),
        dl([['Status', resp.status + ' (' + fmtNum(resp.statusCode) + ')'], ['Started', fmtDate(rec.start)],
          ['Duration', fmtNum(rec.duration) + ' ms'], ['Version', rec.version], ['Subject', rec.subject]]),
        el('h4', null, 'Logs'),
        el('pre', { class: 'out', testid: 'activation-logs', id: 'activation-logs', tabindex: '0', 'aria-label': 'Activation logs' }, logs.length ? logs.join('\n') : '(no log lines)'),
        el('h4', null, 'Result'),
        el('pre', { class: 'out', testid: 'activation-result', id: 'activation-result', tabindex: '0', 'aria-label': 'Activation result' }, pretty(resp.result === undefined ? null : resp.result)),
        el('h4', null, 'Annotations'),
        el('pre', { class: 'out small-text' }, anns || '(none)'));
      actDetail.hidden = false;
      heading.focus();
    }

    refreshActs.addEventListener('click', loadActivations);
    renderCalls();
    renderLatency();
    loadAction();
    loadStats();
    loadVersions();
    loadActivations();
    every(loadStats);
  }

  // ---------- namespaces (server key only) ----------
  // A button that acts only on a second click within 5 s; the first turns it into `armedText`.
  function twoStep(btn, armedText, fn) {
    const normal = btn.textContent;
    let armed = null;
    const disarm = () => { clearTimeout(armed); armed = null; btn.textContent = normal; btn.classList.remove('armed'); };
    btn.addEventListener('click', () => {
      if (!armed) {
        btn.textContent = armedText;
        btn.classList.add('armed');
        armed = setTimeout(disarm, 5000);
        say(armedText + ' Click again within 5 s to confirm.');
        return;
      }
      disarm();
      fn();
    });
  }

  function namespacesPage(view) {
    const gen = generation;
    const nameIn = el('input', { id: 'ns-create-name', testid: 'ns-create-name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'ns-create-name-help' });
    const createBtn = el('button', { type: 'submit', id: 'ns-create-button', testid: 'ns-create-button', class: 'primary' }, 'Create namespace');
    const form = el('form', { id: 'ns-create-form', class: 'card narrow', novalidate: true },
      field('New namespace name', nameIn, 'Creates the namespace and its first key.'),
      el('div', { class: 'actions-row' }, createBtn));
    const keyBox = el('section', { id: 'ns-key-box', class: 'card key-box', 'aria-labelledby': 'ns-key-title', hidden: true });
    const tbody = el('tbody', { id: 'ns-body' }, el('tr', null, el('td', { colspan: '3', class: 'empty' }, 'Loading…')));
    const table = el('table', { class: 'data', id: 'ns-table' },
      el('caption', { class: 'sr-only' }, 'Namespaces and their key ids'),
      el('thead', null, el('tr', null, ...['Namespace', 'Key ids', ''].map((h) =>
        el('th', { scope: 'col' }, h || el('span', { class: 'sr-only' }, 'Manage'))))),
      tbody);
    view.append(
      el('h1', null, 'Namespaces'),
      el('p', { class: 'muted small-text' }, 'Only the server\'s key may manage namespaces and keys.'),
      el('section', { 'aria-labelledby': 'ns-create-title' }, el('h2', { id: 'ns-create-title' }, 'Create a namespace'), form),
      keyBox,
      el('section', { 'aria-labelledby': 'ns-list-title' }, el('h2', { id: 'ns-list-title' }, 'All namespaces'), tableWrap(table, 'Namespaces table')));

    function showKey(what, ns, key) {
      const heading = el('h2', { id: 'ns-key-title', tabindex: '-1' }, what);
      const dismiss = el('button', { type: 'button', class: 'small' }, 'I have copied it');
      dismiss.addEventListener('click', () => { clear(keyBox); keyBox.hidden = true; nameIn.focus(); });
      clear(keyBox).append(
        el('div', { class: 'section-head' }, heading, dismiss),
        el('p', null, 'Key of namespace ', el('strong', null, String(ns)), '. It is shown only now and cannot be read again: copy it and keep it safe.'),
        el('pre', { class: 'out wrap-any', testid: 'ns-new-key', id: 'ns-new-key', tabindex: '0', 'aria-label': 'New key, shown only now' }, String(key || '')));
      keyBox.hidden = false;
      heading.focus();
    }

    async function load() {
      try {
        const list = await api('GET', '/api/v1/admin/namespaces');
        if (gen !== generation) return;
        render(Array.isArray(list) ? list : []);
      } catch (e) {
        if (gen !== generation) return;
        if (e.status === 403) { $('nav-namespaces-item').hidden = true; showError('Only the server\'s key may manage namespaces (403).'); clear(tbody); return; }
        report(e);
      }
    }

    function render(list) {
      clear(tbody);
      for (const ns of list) {
        const name = String(ns.name || '');
        const keys = Array.isArray(ns.keys) ? ns.keys : [];
        const keyList = el('ul', { class: 'keys' });
        for (const id of keys) {
          const revoke = el('button', { type: 'button', class: 'small', testid: 'ns-revoke', 'aria-label': 'Revoke key ' + id }, 'Revoke');
          revoke.addEventListener('click', () => change(revoke, 'DELETE', '/api/v1/admin/keys/' + encodeURIComponent(id), () => say('Revoked key ' + id + '.')));
          keyList.appendChild(el('li', null, el('span', { class: 'mono wrap-any' }, String(id)), ' ', revoke));
        }
        if (!keys.length) keyList.appendChild(el('li', { class: 'muted' }, 'no keys'));
        const add = el('button', { type: 'button', class: 'small', testid: 'ns-add-key', 'aria-label': 'Add a key to ' + name }, 'Add key');
        add.addEventListener('click', () => change(add, 'POST', '/api/v1/admin/namespaces/' + encodeURIComponent(name) + '/keys',
          (r) => { showKey('New key', (r && r.namespace) || name, r && r.key); say('Added a key to ' + name + '.'); }));
        const manage = el('div', { class: 'row-buttons' }, add);
        if (name !== 'guest') {
          const del = el('button', { type: 'button', class: 'small danger', testid: 'ns-delete', 'aria-label': 'Delete namespace ' + name }, 'Delete');
          twoStep(del, 'Really delete ' + name + '?', () => change(del, 'DELETE', '/api/v1/admin/namespaces/' + encodeURIComponent(name), (r) => {
            const n = r && Array.isArray(r.actions) ? r.actions.length : 0;
            say('Deleted namespace ' + name + ' (' + n + ' action' + (n === 1 ? '' : 's') + ').');
          }));
          manage.appendChild(del);
        }
        tbody.appendChild(el('tr', { testid: 'ns-row', 'data-name': name },
          el('th', { scope: 'row', class: 'mono' }, name), el('td', null, keyList), el('td', null, manage)));
      }
      if (!tbody.firstChild) tbody.appendChild(el('tr', null, el('td', { colspan: '3', class: 'empty' }, 'No namespaces.')));
    }

    async function change(btn, method, path, done) {
      btn.disabled = true;
      try {
        const r = await api(method, path);
        if (gen !== generation) return;
        clearError();
        done(r);
      } catch (e) {
        if (gen !== generation) return;
        report(e);
      } finally {
        btn.disabled = false;
      }
      await load();
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = nameIn.value.trim();
      if (!n) { showError('Give the namespace a name.'); nameIn.focus(); return; }
      createBtn.disabled = true;
      try {
        const r = await api('PUT', '/api/v1/admin/namespaces/' + encodeURIComponent(n));
        if (gen !== generation) return;
        clearError();
        nameIn.value = '';
        showKey('Namespace created', (r && r.namespace) || n, r && r.key);
        say('Created namespace ' + n + '.');
      } catch (e) {
        if (gen !== generation) return;
        report(e);
      } finally {
        createBtn.disabled = false;
      }
      if (gen === generation) await load();
    });

    load();
    nameIn.focus();
  }

  // ---------- deploy ----------
  function deployPage(view) {
    const gen = generation;
    const name = el('input', { id: 'deploy-name', testid: 'deploy-name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'deploy-name-help' });
    const file = el('input', { id: 'deploy-file', testid: 'deploy-file', type: 'file', accept: '.wasm,application/wasm', required: true });
    const memory = el('input', { id: 'deploy-memory', testid: 'deploy-memory', type: 'number', min: '1', step: '1', inputmode: 'numeric', 'aria-describedby': 'deploy-memory-help' });
    const timeout = el('input', { id: 'deploy-timeout', testid: 'deploy-timeout', type: 'number', min: '1', step: '1', inputmode: 'numeric', 'aria-describedby': 'deploy-timeout-help' });
    const web = el('input', { id: 'deploy-web', testid: 'deploy-web', type: 'checkbox', checked: true });
    const btn = el('button', { type: 'submit', id: 'deploy-button', testid: 'deploy-button', class: 'primary' }, 'Deploy');
    const status = el('p', { id: 'deploy-status', class: 'muted' });
    const result = el('pre', { id: 'deploy-result', testid: 'deploy-result', class: 'out', tabindex: '0', 'aria-label': 'Deploy answer' });
    const link = el('p', { id: 'deploy-link' });
    const form = el('form', { id: 'deploy-form', class: 'card narrow', novalidate: true },
      field('Action name', name, 'Creates the action, or replaces it (a new version) if it exists.'),
      field('WebAssembly file (.wasm)', file),
      el('div', { class: 'two' },
        field('Memory (MiB, optional)', memory, 'Default: the server\'s (256).'),
        field('Timeout (ms, optional)', timeout, 'Default: the server\'s (60 000).')),
      el('div', { class: 'check' }, web, el('label', { for: 'deploy-web' }, 'Web action (annotation web-export)')),
      el('p', { class: 'muted small-text' }, 'Replacing an action sets its annotations to this form\'s: others it had are dropped.'),
      el('div', { class: 'actions-row' }, btn), status);
    view.append(el('h1', null, 'Deploy'), form,
      el('section', { 'aria-labelledby': 'deploy-answer-title' }, el('h2', { id: 'deploy-answer-title' }, 'Answer'), link, result));

    const limit = (input) => {
      const v = input.value.trim();
      if (!v) return undefined;
      return /^\d+$/.test(v) ? Number(v) : v; // the server names a bad field and its range
    };

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = name.value.trim();
      const f = file.files && file.files[0];
      if (!n) { showError('Give the action a name.'); name.focus(); return; }
      if (!f) { showError('Choose a .wasm file.'); file.focus(); return; }
      btn.disabled = true;
      clear(link);
      result.textContent = '';
      status.textContent = 'Reading ' + f.name + '…';
      try {
        const code = b64Bytes(await f.arrayBuffer());
        const limits = {};
        const m = limit(memory), t = limit(timeout);
        if (m !== undefined) limits.memory = m;
        if (t !== undefined) limits.timeout = t;
        const doc = { exec: { kind: 'wasm', code, binary: true },
          annotations: [{ key: 'web-export', value: web.checked }] };
        if (Object.keys(limits).length) doc.limits = limits;
        status.textContent = 'Uploading ' + fmtBytes(f.size) + ', validating and compiling…';
        const r = await call('PUT', API + '/actions/' + encodeURIComponent(n) + '?overwrite=true', doc);
        if (gen !== generation) return;
        if (r.ok) {
          const a = r.json || {};
          status.textContent = 'Deployed ' + (a.name || n) + ' version ' + (a.version || '?') + '.';
          result.textContent = pretty(r.json !== undefined ? r.json : r.text);
          link.appendChild(el('a', { href: actionHref(a.name || n) }, 'Open ' + (a.name || n)));
          clearError();
          say('Deployed ' + (a.name || n) + ' ' + (a.version || '') + '.');
        } else {
          const msg = errText(r.json, r.text, 'HTTP ' + r.status);
          status.textContent = 'Deploy failed (HTTP ' + r.status + ').';
          result.textContent = msg;
          showError('HTTP ' + r.status + ': ' + msg);
        }
      } catch (e) {
        status.textContent = '';
        report(e);
      } finally {
        btn.disabled = false;
      }
    });
    name.focus();
  }

  // ---------- start ----------
  function start() {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', () => { signOut(); say('Signed out.'); });
    $('alert-close').addEventListener('click', clearError);
    window.addEventListener('hashchange', () => { if (getKey()) route(); });
    if (getKey()) { showApp(''); route(); call('GET', '/api/v1/namespaces').then((r) => { if (r.ok && Array.isArray(r.json)) $('who-ns').textContent = 'namespace ' + r.json.join(', '); }).catch(() => {}); }
    else signOut();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
