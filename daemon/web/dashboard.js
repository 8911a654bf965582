/*
 * dashboard.js: the jobd dashboard (docs/monitoring.md).
 *
 * Three views chosen by the URL's fragment: the overview (#/?status=&queue=
 * &type=&offset=&limit=: totals, queues, workers, daemons, a page of
 * jobs), the failed registry (#/failed?...) and a job's page
 * (#/job/<id>).  Data comes from the JSON API; live figures from one
 * EventSource on /events, whose "stats" events carry what /api/stats
 * answers: when the counts change, the visible list or job is fetched
 * again (no polling).
 *
 * Everything the server sends is untrusted (job ids, payloads, errors,
 * queue and type names): it enters the page as text nodes or attribute
 * values, never as markup.
 */
'use strict';

(function () {
  const STATUSES = ['queued', 'deferred', 'scheduled', 'started', 'finished', 'failed', 'canceled'];
  const TERMINAL = new Set(['finished', 'failed', 'canceled']);
  const PAGE_SIZES = [20, 50, 100, 200, 500];
  const DEFAULT_LIMIT = 50;
  const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
  const TYPE_SCAN = 20000;        // jobs a type filter looks through (docs/monitoring.md)
  const SHOW_MAX = 200000;        // characters of a payload or result shown
  const RETRY_MIN = 1000, RETRY_MAX = 30000;   // ms between stream retries

  const state = {
    stats: null,
    sig: null,          // the counts of the last stats seen
    route: null,
    view: null,         // the view whose skeleton is on the page
    es: null,
    retry: RETRY_MIN,
    retryTimer: 0,
    list: { seq: 0, busy: false, dirty: false },
    job: { seq: 0, busy: false, dirty: false, data: null },
    batch: { seq: 0, busy: false, dirty: false },
    flows: { seq: 0, busy: false, dirty: false },
  };

  /* --- small helpers --------------------------------------------------- */

  const $ = (sel, root) => (root || document).querySelector(sel);

  /* el: an element; props set attributes (class, text, dataset, on*),
   * children are nodes or strings (strings become text nodes). */
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function fmtNum(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '-';
  }

  function fmtDur(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '-';
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
  }

  function relText(iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return '';
    const s = (Date.now() - t) / 1000;
    if (Math.abs(s) < 1) return 'just now';
    return s > 0 ? fmtDur(s) + ' ago' : 'in ' + fmtDur(-s);
  }

  /* when: a <time> that says "3m 2s ago" (kept current by the clock) with
   * the exact time as its title. */
  function when(iso) {
    if (typeof iso !== 'string' || isNaN(Date.parse(iso))) return el('span', { class: 'muted', text: '-' });
    return el('time', { class: 'rel', datetime: iso, title: iso, dataset: { t: iso } }, relText(iso));
  }

  function between(a, b) {
    const ta = Date.parse(a), tb = Date.parse(b);
    return isNaN(ta) || isNaN(tb) ? '-' : fmtDur((tb - ta) / 1000);
  }

  function badge(status) {
    return el('span', { class: 'st', dataset: { status: status } }, String(status));
  }

  function jobLink(id) {
    return el('a', { class: 'jid', href: '#/job/' + seg(id) }, String(id));
  }

  function pretty(v) {
    let s;
    try { s = JSON.stringify(v, null, 2); } catch (e) { s = String(v); }
    if (s === undefined) s = 'null';
    if (s.length > SHOW_MAX) {
      s = s.slice(0, SHOW_MAX) + '\n\u2026 (' + fmtNum(s.length - SHOW_MAX) + ' more characters: GET /api/jobs/<id> has it all)';
    }
    return s;
  }

  /* --- the API --------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /* call: a request to the API; its JSON, or an ApiError with the
   * server's message (either error shape: {"error": {"code", "message"}}
   * or {"error": CODE, "message": ...}). */
  async function call(method, url) {
    let r;
    try {
      r = await fetch(url, {
        method: method,
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'cannot reach jobd: ' + e.message);
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.ok && body !== null) return body;
    let code = 'http_' + r.status, msg = '';
    if (body && typeof body.error === 'object' && body.error !== null) {
      code = body.error.code || code;
      msg = body.error.message || '';
    } else if (body && typeof body.error === 'string') {
      code = body.error;
      msg = body.message || '';
    }
    if (!msg) msg = r.status + ' ' + (r.statusText || 'error');
    throw new ApiError(r.status, code, msg);
  }

  const getJSON = (url) => call('GET', url);
  const postJSON = (url) => call('POST', url);

  /* --- the toast and the confirmation dialog --------------------------- */

  let toastTimer = 0;

  function toast(text, kind) {
    const t = $('#toast');
    $('#toast-text').textContent = text;
    t.dataset.kind = kind || 'ok';
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'error' ? 15000 : 5000);
  }

  function confirmAction(text, okLabel) {
    const d = $('#confirm');
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel || 'OK';
    return new Promise((resolve) => {
      const done = (yes) => {
        $('#confirm-ok').onclick = null;
        $('#confirm-cancel').onclick = null;
        d.onclose = null;
        if (d.open) d.close();
        resolve(yes);
      };
      $('#confirm-ok').onclick = () => done(true);
      $('#confirm-cancel').onclick = () => done(false);
      d.onclose = () => done(false);
      d.showModal();
    });
  }

  /* act: one action (POST url); confirm first when text is given.  The
   * server's refusal (403 read-only or cross-site, 409, ...) is shown. */
  async function act(url, done, confirmText, okLabel) {
    if (confirmText && !(await confirmAction(confirmText, okLabel))) return null;
    try {
      const r = await postJSON(url);
      toast(done, 'ok');
      refreshVisible();
      return r;
    } catch (e) {
      toast(e.message + (e.status ? ' (' + e.status + (e.code ? ' ' + e.code : '') + ')' : ''), 'error');
      return null;
    }
  }

  /* seg: a job id or queue name as a path segment.  The server matches
   * paths as sent (no percent-decoding), and ids and names are made of
   * [A-Za-z0-9_.:-], safe in a path as they are; anything else is encoded
   * (and will be a 404). */
  const seg = (s) => (ID_RE.test(s) ? s : encodeURIComponent(s));
  const qpath = (q) => '/api/queues/' + seg(q) + '/';
  const jpath = (id) => '/api/jobs/' + seg(id) + '/';

  /* --- routing ----------------------------------------------------------- */

  function parseRoute() {
    const h = location.hash.replace(/^#/, '') || '/';
    const i = h.indexOf('?');
    const path = i < 0 ? h : h.slice(0, i);
    const q = new URLSearchParams(i < 0 ? '' : h.slice(i + 1));
    if (path.startsWith('/job/')) {
      let id = path.slice(5);
      try { id = decodeURIComponent(id); } catch (e) { /* as sent */ }
      return { view: 'job', id: id };
    }
    if (path.startsWith('/batch/')) {
      let id = path.slice(7);
      try { id = decodeURIComponent(id); } catch (e) { /* as sent */ }
      return { view: 'batch', id: id };
    }
    if (path === '/workflows') return { view: 'workflows' };
    const p = {
      status: STATUSES.includes(q.get('status')) ? q.get('status') : '',
      queue: q.get('queue') || '',
      type: q.get('type') || '',
      offset: Math.max(0, parseInt(q.get('offset'), 10) || 0),
      limit: PAGE_SIZES.includes(parseInt(q.get('limit'), 10)) ? parseInt(q.get('limit'), 10) : DEFAULT_LIMIT,
    };
    if (path === '/failed') return { view: 'failed', p: Object.assign(p, { status: 'failed' }) };
    return { view: 'overview', p: p };
  }

  function routeHash(view, p) {
    const q = new URLSearchParams();
    if (p.status && view !== 'failed') q.set('status', p.status);
    if (p.queue) q.set('queue', p.queue);
    if (p.type) q.set('type', p.type);
    if (p.offset) q.set('offset', String(p.offset));
    if (p.limit !== DEFAULT_LIMIT) q.set('limit', String(p.limit));
    const s = q.toString();
    return '#/' + (view === 'failed' ? 'failed' : '') + (s ? '?' + s : '');
  }

  /* go: the same list view with some parameters changed. */
  function go(changes) {
    const r = state.route;
    const p = Object.assign({}, r.p, changes);
    location.hash = routeHash(r.view, p);
  }

  /* --- stats: totals, queues, workers ------------------------------------- */

  function countsSig(s) {
    const q = {};
    for (const [name, v] of Object.entries(s.queues || {})) {
      q[name] = STATUSES.map((k) => v[k]).concat([v.paused]);
    }
    return JSON.stringify([q, s.totals || {}]);
  }

  function applyStats(s) {
    if (!s || typeof s !== 'object') return;
    state.stats = s;
    const failed = s.totals && typeof s.totals.failed === 'number' ? s.totals.failed : 0;
    const fb = $('#failed-badge');
    fb.textContent = fmtNum(failed);
    fb.hidden = failed === 0;
    const queued = s.totals ? s.totals.queued : 0;
    document.title = 'jobd \u00b7 ' + fmtNum(queued) + ' queued' + (failed ? ', ' + fmtNum(failed) + ' failed' : '');
    renderStats();
    const sig = countsSig(s);
    const changed = state.sig !== null && sig !== state.sig;
    state.sig = sig;
    if (changed) refreshVisible();
  }

  function renderStats() {
    const s = state.stats;
    if (!s) return;
    if (state.view === 'overview') {
      renderTotals(s);
      renderQueues(s);
      renderWorkers(s);
      renderDaemons(s);
    }
    if (state.view === 'overview' || state.view === 'failed') {
      fillFilterOptions(s);
      if (state.view === 'failed') renderFailedQueues(s);
    }
  }

  function renderTotals(s) {
    const box = $('#totals');
    if (!box) return;
    clear(box);
    const t = s.totals || {};
    for (const st of STATUSES) {
      box.append(el('a', {
        class: 'total', href: routeHash('overview', { status: st, limit: state.route.p.limit }),
        dataset: { status: st }, title: 'List the ' + st + ' jobs',
      }, el('span', { class: 'n' }, fmtNum(t[st] || 0)), el('span', { class: 'l' }, st)));
    }
    const warn = $('#warnings');
    clear(warn);
    const uns = s.unserved && typeof s.unserved === 'object' ? Object.entries(s.unserved) : [];
    for (const [type, n] of uns) {
      warn.append(el('div', { class: 'warn' }, fmtNum(n) + ' queued job(s) of type ', el('code', {}, type),
        ' wait: no live daemon serves that type.'));
    }
    if (s.redis_data_lost_at) {
      warn.append(el('div', { class: 'warn' }, 'Redis was found emptied at ' +
        new Date(s.redis_data_lost_at * 1000).toISOString() + ': the jobs it held then were lost (see the log).'));
    }
  }

  function countCell(q, st, n) {
    const td = el('td', { class: 'num' + (n ? '' : ' zero'), dataset: { col: st } });
    td.append(n ? el('a', { class: st === 'failed' || st === 'queued' ? 'nz' : '',
      href: routeHash('overview', { status: st, queue: q, limit: state.route.p.limit }) }, fmtNum(n)) : '0');
    return td;
  }

  function renderQueues(s) {
    const box = $('#queues');
    if (!box) return;
    const names = Object.keys(s.queues || {});
    clear(box);
    if (names.length === 0) {
      box.append(el('p', { class: 'empty' }, 'No queues.'));
      return;
    }
    const head = el('tr', {}, el('th', {}, 'Queue'), el('th', {}, 'State'),
      STATUSES.map((st) => el('th', { class: 'num' + (st === 'scheduled' || st === 'deferred' || st === 'canceled' ? ' opt' : '') }, st)),
      el('th', { class: 'num' }, 'Oldest queued'), el('th', {}, ''));
    const body = el('tbody');
    for (const name of names) {
      const v = s.queues[name] || {};
      const paused = v.paused === true;
      const tr = el('tr', { dataset: { queue: name } },
        el('td', {}, el('a', { href: routeHash('overview', { queue: name, limit: state.route.p.limit }) }, name)),
        el('td', {}, el('span', { class: 'st ' + (paused ? 'paused' : 'running'), dataset: { col: 'state' } },
          paused ? 'paused' : 'running')),
        STATUSES.map((st) => {
          const td = countCell(name, st, v[st] || 0);
          if (st === 'scheduled' || st === 'deferred' || st === 'canceled') td.classList.add('opt');
          return td;
        }),
        el('td', { class: 'num', dataset: { col: 'oldest' } },
          v.queued ? fmtDur(v.oldest_queued_age) : el('span', { class: 'muted' }, '-')),
        el('td', {}, el('div', { class: 'actions' },
          el('button', {
            type: 'button', class: 'small', dataset: { action: paused ? 'resume' : 'pause' },
            onclick: () => act(qpath(name) + (paused ? 'resume' : 'pause'),
              'Queue ' + name + (paused ? ' resumed' : ' paused')),
          }, paused ? 'Resume' : 'Pause'),
          el('button', {
            type: 'button', class: 'small danger', dataset: { action: 'requeue-failed' }, disabled: !v.failed,
            onclick: () => requeueFailed(name, v.failed),
          }, 'Requeue failed'))));
      body.append(tr);
    }
    box.append(el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, head), body)));
  }

  function requeueFailed(queue, n) {
    return act(qpath(queue) + 'requeue-failed', 'Failed jobs of ' + queue + ' requeued',
      'Requeue all ' + fmtNum(n || 0) + ' failed job(s) of queue \u201c' + queue + '\u201d?', 'Requeue all');
  }

  function renderWorkers(s) {
    const box = $('#workers');
    if (!box) return;
    clear(box);
    const ws = Array.isArray(s.workers) ? s.workers : [];
    const busy = ws.filter((w) => w.state === 'busy').length;
    $('#workers-summary').textContent = ws.length ? fmtNum(busy) + ' busy of ' + fmtNum(ws.length) : '';
    if (ws.length === 0) {
      box.append(el('p', { class: 'empty' }, 'No workers.'));
      return;
    }
    const body = el('tbody');
    for (const w of ws) {
      body.append(el('tr', { dataset: { pid: w.pid } },
        el('td', {}, w.host !== undefined ? String(w.host) : '-'),
        el('td', { class: 'num' }, w.pid !== undefined ? String(w.pid) : '-'),
        el('td', {}, el('span', { class: 'st ' + (w.state === 'busy' ? 'busy' : 'idle') }, String(w.state || '-'))),
        el('td', {}, w.job_id ? jobLink(w.job_id) : el('span', { class: 'muted' }, '-')),
        el('td', { class: 'num' }, fmtNum(w.jobs_done))));
    }
    box.append(el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'Host'), el('th', { class: 'num' }, 'PID'), el('th', {}, 'State'),
        el('th', {}, 'Current job'), el('th', { class: 'num' }, 'Jobs done'))), body)));
  }

  /* renderDaemons: the live daemons sharing the Redis, the types each
   * serves and the Redis server it uses (mode, node, failovers: known for
   * this daemon, stats' this_daemon, and for those whose heartbeat says). */
  function renderDaemons(s) {
    const box = $('#daemons');
    if (!box) return;
    clear(box);
    const me = s.this_daemon && typeof s.this_daemon === 'object' ? s.this_daemon : null;
    const ds = (Array.isArray(s.daemons) ? s.daemons : []).filter((d) => d && typeof d === 'object');
    if (me && !ds.some((d) => d.daemon === me.daemon)) ds.unshift({ daemon: me.daemon });
    if (ds.length === 0) {
      box.append(el('p', { class: 'empty' }, 'No live daemons.'));
      return;
    }
    const body = el('tbody');
    for (const d of ds) {
      const mine = me !== null && d.daemon === me.daemon;
      const r = mine ? me : d;
      const types = Array.isArray(d.types) ? d.types.map(String) : null;
      const serves = types === null ? '-' : (d.any_type === true ? ['any type'] : []).concat(types).join(', ') || '-';
      const node = typeof r.redis_node === 'string' ? r.redis_node : null;
      body.append(el('tr', { dataset: { daemon: String(d.daemon) } },
        el('td', {}, String(d.daemon), mine ? el('span', { class: 'muted' }, ' (this one)') : null),
        el('td', { dataset: { col: 'serves' } }, serves),
        el('td', { dataset: { col: 'redis-mode' } }, typeof r.redis_mode === 'string' ? r.redis_mode : '-'),
        el('td', { dataset: { col: 'redis-node' } }, node ? el('code', {}, node) :
          el('span', { class: 'muted' }, node === '' ? 'none' : '-')),
        el('td', { class: 'num', dataset: { col: 'failovers' } },
          typeof r.redis_failovers === 'number' ? fmtNum(r.redis_failovers) : '-')));
    }
    box.append(el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'Daemon'), el('th', {}, 'Serves'), el('th', {}, 'Redis'),
        el('th', {}, 'Node'), el('th', { class: 'num' }, 'Failovers'))), body)));
  }

  function renderFailedQueues(s) {
    const box = $('#failed-queues');
    if (!box) return;
    clear(box);
    for (const [name, v] of Object.entries(s.queues || {})) {
      if (!v.failed) continue;
      box.append(el('button', {
        type: 'button', class: 'small danger', dataset: { action: 'requeue-failed', queue: name },
        onclick: () => requeueFailed(name, v.failed),
      }, 'Requeue ' + fmtNum(v.failed) + ' failed of ' + name));
    }
  }

  /* fillFilterOptions: the queue and type filters offer what stats knows
   * (and keep a value from the URL that it does not). */
  function fillFilterOptions(s) {
    const types = new Set();
    for (const d of Array.isArray(s.daemons) ? s.daemons : []) {
      for (const t of Array.isArray(d.types) ? d.types : []) types.add(String(t));
    }
    for (const t of Object.keys(s.unserved || {})) types.add(t);
    setOptions($('#f-queue'), Object.keys(s.queues || {}), 'all queues');
    setOptions($('#f-type'), Array.from(types).sort(), 'all types');
  }

  function setOptions(sel, values, allLabel) {
    if (!sel) return;
    const cur = sel.dataset.want !== undefined ? sel.dataset.want : sel.value;
    const list = values.slice();
    if (cur && !list.includes(cur)) list.push(cur);
    const have = Array.from(sel.options).map((o) => o.value);
    const want = [''].concat(list);
    if (have.length !== want.length || have.some((v, i) => v !== want[i])) {
      clear(sel);
      sel.append(el('option', { value: '' }, allLabel));
      for (const v of list) sel.append(el('option', { value: v }, v));
    }
    sel.value = cur;
  }

  /* --- a page of jobs (overview and failed registry) --------------------- */

  function listSection(failed) {
    const p = state.route.p;
    const statusSel = failed ? null : el('select', { id: 'f-status', 'aria-label': 'Status' },
      el('option', { value: '' }, 'all statuses'), STATUSES.map((st) => el('option', { value: st }, st)));
    const queueSel = el('select', { id: 'f-queue', 'aria-label': 'Queue', dataset: { want: p.queue } },
      el('option', { value: '' }, 'all queues'));
    const typeSel = el('select', { id: 'f-type', 'aria-label': 'Type', dataset: { want: p.type } },
      el('option', { value: '' }, 'all types'));
    const sizeSel = el('select', { id: 'f-limit', 'aria-label': 'Page size' },
      PAGE_SIZES.map((n) => el('option', { value: String(n) }, n + ' a page')));
    const onFilter = () => go({
      status: failed ? 'failed' : statusSel.value, queue: queueSel.value, type: typeSel.value,
      offset: 0, limit: parseInt(sizeSel.value, 10),
    });
    for (const s of [statusSel, queueSel, typeSel, sizeSel]) if (s) s.addEventListener('change', onFilter);
    return el('section', { class: 'panel', id: 'jobs-panel' },
      el('header', {}, el('h2', {}, failed ? 'Failed jobs' : 'Jobs'),
        failed ? el('div', { class: 'actions', id: 'failed-queues' }) : null,
        el('span', { class: 'spacer' }),
        el('div', { class: 'filters' }, statusSel, queueSel, typeSel, sizeSel)),
      el('div', { id: 'job-list' }, el('p', { class: 'empty' }, 'Loading\u2026')),
      el('nav', { class: 'pager', id: 'pager', 'aria-label': 'Pages' }));
  }

  function syncFilters() {
    const p = state.route.p;
    const set = (id, v) => {
      const s = $(id);
      if (!s) return;
      s.dataset.want = v;
      if (!Array.from(s.options).some((o) => o.value === v)) s.append(el('option', { value: v }, v));
      s.value = v;
    };
    set('#f-status', p.status);
    set('#f-queue', p.queue);
    set('#f-type', p.type);
    set('#f-limit', String(p.limit));
  }

  function listURL(p) {
    const q = new URLSearchParams();
    if (p.status) q.set('status', p.status);
    if (p.queue) q.set('queue', p.queue);
    if (p.type) q.set('type', p.type);
    q.set('offset', String(p.offset));
    q.set('limit', String(p.limit));
    return '/api/jobs?' + q.toString();
  }

  /* loadOnce: fetch what the route shows into slot S (state.list or
   * state.job), one fetch at a time, and one more after it when asked again
   * meanwhile (the counts changed) and again() still wants it; render only
   * what the current route still shows. */
  async function loadOnce(S, url, render, renderError, again) {
    if (S.busy) { S.dirty = true; return; }
    S.busy = true;
    S.dirty = false;
    const route = state.route;
    const seq = ++S.seq;
    try {
      const data = await getJSON(url(route));
      if (seq === S.seq && state.route === route) render(data, route);
    } catch (e) {
      if (state.route === route) renderError(e, route);
    } finally {
      S.busy = false;
      if (S.dirty && again()) loadOnce(S, url, render, renderError, again);
    }
  }

  function loadList() {
    return loadOnce(state.list, (r) => listURL(r.p), renderList,
      (e) => renderListError(e),
      () => state.view === 'overview' || state.view === 'failed');
  }

  function renderListError(e) {
    const box = $('#job-list');
    if (!box) return;
    clear(box).append(el('p', { class: 'empty', role: 'alert' }, 'Cannot list the jobs: ' + e.message));
    clear($('#pager'));
  }

  function renderList(data, route) {
    const box = $('#job-list');
    if (!box) return;
    const p = route.p;
    const failed = route.view === 'failed';
    const jobs = Array.isArray(data.jobs) ? data.jobs : [];
    const total = typeof data.total === 'number' ? data.total : jobs.length;
    clear(box);
    if (jobs.length === 0) {
      box.append(el('p', { class: 'empty' }, total && p.offset >= total
        ? 'No jobs on this page: there are ' + fmtNum(total) + '.' : failed ? 'No failed jobs.' : 'No jobs.'));
    } else {
      const head = el('tr', {}, el('th', {}, 'Job'), el('th', {}, 'Type'), el('th', { class: 'opt' }, 'Queue'),
        el('th', {}, 'Status'), el('th', {}, failed ? 'Failed' : 'Updated'),
        el('th', { class: 'num opt' }, 'Attempts'), el('th', { class: failed ? '' : 'opt' }, failed ? 'Error' : ''),
        failed ? el('th', {}, '') : null);
      const body = el('tbody');
      for (const j of jobs) {
        const t = j.ended_at || j.started_at || j.enqueued_at || j.created_at;
        const last = failed || j.status === 'failed' ? j.error : null;
        const tr = el('tr', { class: 'click', dataset: { job: j.job_id, status: j.status } },
          el('td', {}, jobLink(j.job_id)),
          el('td', {}, String(j.type)),
          el('td', { class: 'opt' }, String(j.queue)),
          el('td', {}, badge(j.status)),
          el('td', {}, when(j.status === 'scheduled' && j.run_at ? j.run_at : t)),
          el('td', { class: 'num opt', title: 'retries allowed: ' + j.max_retries }, fmtNum(j.attempts)),
          el('td', { class: 'wrap' + (failed ? '' : ' opt') },
            last ? el('span', { class: 'err-text', title: String(last) }, String(last)) : null),
          failed ? el('td', {}, el('button', {
            type: 'button', class: 'small', dataset: { action: 'requeue' },
            onclick: () => act(jpath(j.job_id) + 'requeue', 'Job ' + j.job_id + ' requeued'),
          }, 'Requeue')) : null);
        tr.addEventListener('click', (ev) => {
          if (ev.target.closest('a, button') || window.getSelection().toString()) return;
          location.hash = '#/job/' + seg(j.job_id);
        });
        body.append(tr);
      }
      box.append(el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, head), body)));
    }
    renderPager(p, total, jobs.length);
  }

  function renderPager(p, total, shown) {
    const nav = clear($('#pager'));
    const pages = Math.max(1, Math.ceil(total / p.limit));
    const page = Math.floor(p.offset / p.limit) + 1;
    const last = Math.max(0, (pages - 1) * p.limit);
    const from = shown ? p.offset + 1 : 0, to = p.offset + shown;
    const btn = (label, cls, offset, disabled) => el('button', {
      type: 'button', class: 'small ' + cls, disabled: disabled, onclick: () => go({ offset: offset }),
    }, label);
    nav.append(
      el('span', { class: 'info' }, el('b', { id: 'range' }, fmtNum(from) + '\u2013' + fmtNum(to)), ' of ',
        el('b', { id: 'total' }, fmtNum(total)), ' \u00b7 page ', el('span', { id: 'page' }, fmtNum(page)),
        ' of ', el('span', { id: 'pages' }, fmtNum(pages)),
        // No type index: the server scans a bounded number of jobs.
        p.type ? el('span', { class: 'hint' }, ' \u00b7 a type filter looks through at most ' +
          fmtNum(TYPE_SCAN) + ' jobs') : null),
      btn('\u00ab First', 'first', 0, p.offset === 0),
      btn('\u2039 Prev', 'prev', Math.max(0, p.offset - p.limit), p.offset === 0),
      btn('Next \u203a', 'next', p.offset + p.limit, p.offset + p.limit >= total),
      btn('Last \u00bb', 'last', last, p.offset >= last));
  }

  /* --- the job page -------------------------------------------------------- */

  function loadJob() {
    return loadOnce(state.job, (r) => '/api/jobs/' + seg(r.id),
      (data) => renderJob(data.job || {}), (e, r) => renderJobError(r.id, e),
      () => state.view === 'job');
  }

  function renderJobError(id, e) {
    const box = clear($('#job'));
    box.append(el('section', { class: 'panel' }, el('p', { class: 'empty', role: 'alert', id: 'job-error' },
      e.status === 404 ? 'No job with the id \u201c' + id + '\u201d: it never existed, or it expired or was deleted.'
        : 'Cannot show the job: ' + e.message)));
  }

  function renderJob(j) {
    state.job.data = j;
    const box = clear($('#job'));
    const st = String(j.status);
    const id = String(j.job_id);
    const canRequeue = st === 'failed' || st === 'canceled';
    const canCancel = st === 'queued' || st === 'deferred' || st === 'scheduled' || st === 'started';
    const canDelete = TERMINAL.has(st);
    const actions = el('div', { class: 'actions' },
      el('button', {
        type: 'button', class: 'primary', dataset: { action: 'requeue' }, disabled: !canRequeue,
        title: canRequeue ? 'Run it again' : 'Only a failed or canceled job can be requeued',
        onclick: () => act(jpath(id) + 'requeue', 'Job ' + id + ' requeued'),
      }, 'Requeue'),
      el('button', {
        type: 'button', class: 'danger', dataset: { action: 'cancel' }, disabled: !canCancel,
        onclick: () => act(jpath(id) + 'cancel', 'Job ' + id + ' canceled',
          st === 'started' ? 'Cancel job ' + id + '? Its handler is running and will be stopped.'
            : 'Cancel job ' + id + '? It will not run.', 'Cancel the job'),
      }, 'Cancel'),
      el('button', {
        type: 'button', class: 'danger', dataset: { action: 'delete' }, disabled: !canDelete,
        onclick: async () => {
          const r = await act(jpath(id) + 'delete', 'Job ' + id + ' deleted',
            'Delete job ' + id + ' and its record for good?', 'Delete');
          if (r) location.hash = '#/';
        },
      }, 'Delete'));

    const pr = j.progress && typeof j.progress === 'object' ? j.progress : null;
    const attempts = fmtNum(j.attempts) + (typeof j.max_retries === 'number'
      ? ' of ' + fmtNum(j.max_retries + 1) + ' allowed' : '');
    const details = el('dl', { class: 'kv' },
      el('dt', {}, 'Type'), el('dd', {}, el('a', { href: routeHash('overview', { type: j.type, limit: DEFAULT_LIMIT }) }, String(j.type))),
      el('dt', {}, 'Queue'), el('dd', {}, el('a', { href: routeHash('overview', { queue: j.queue, limit: DEFAULT_LIMIT }) }, String(j.queue))),
      el('dt', {}, 'Attempts'), el('dd', { id: 'job-attempts' }, attempts),
      el('dt', {}, 'Timeout'), el('dd', {}, typeof j.timeout === 'number' ? fmtDur(j.timeout) : '-'),
      el('dt', {}, 'Worker'), el('dd', { class: 'mono' }, j.worker ? String(j.worker) : '-'),
      j.unique_key ? [el('dt', {}, 'Unique key'), el('dd', { class: 'mono' }, String(j.unique_key))] : null,
      Array.isArray(j.depends_on) && j.depends_on.length ? [el('dt', {}, 'Depends on'),
        el('dd', { id: 'job-deps' }, ...idLinks(j.depends_on),
          j.on_dep_failure ? el('span', { class: 'muted' }, ' (on failure: ' + String(j.on_dep_failure) + ')') : null)] : null,
      Array.isArray(j.waiting_for) && j.waiting_for.length ? [el('dt', {}, 'Waiting for'),
        el('dd', { id: 'job-waiting' }, ...idLinks(j.waiting_for))] : null,
      j.batch_id ? [el('dt', {}, 'Batch'), el('dd', {}, el('a', { id: 'job-batch', class: 'mono', href: '#/batch/' + seg(j.batch_id) }, String(j.batch_id)))] : null,
      j.limit ? [el('dt', {}, 'Limit'), el('dd', { class: 'mono' }, String(j.limit) + (j.limit_key ? ' / ' + String(j.limit_key) : ''))] : null,
      j.callback_url ? [el('dt', {}, 'Callback'), el('dd', { class: 'mono wrap' }, String(j.callback_url))] : null,
      j.lost ? [el('dt', {}, 'Leases lost'), el('dd', {}, fmtNum(j.lost))] : null,
      j.cancel_requested ? [el('dt', {}, 'Cancel'), el('dd', {}, 'requested, the handler is being stopped')] : null);
    const timeRow = (label, v) => [el('dt', {}, label), el('dd', {}, when(v))];
    const times = el('dl', { class: 'kv' },
      timeRow('Created', j.created_at), timeRow('Enqueued', j.enqueued_at),
      j.run_at ? timeRow('Runs at', j.run_at) : null,
      timeRow('Started', j.started_at), timeRow('Ended', j.ended_at),
      el('dt', {}, 'Waited'), el('dd', {}, j.started_at ? between(j.enqueued_at, j.started_at) : '-'),
      el('dt', {}, 'Ran'), el('dd', {}, j.started_at && j.ended_at ? between(j.started_at, j.ended_at) : '-'));

    const panels = [
      el('div', { class: 'crumbs' }, el('a', { href: '#/' }, '\u2190 Overview'), ' \u00b7 ',
        el('a', { href: '#/failed' }, 'Failed jobs')),
      el('section', { class: 'panel' },
        el('header', {}, el('div', { class: 'jobhead' }, el('h1', { id: 'job-id' }, id),
          el('span', { id: 'job-status', class: 'st', dataset: { status: st } }, st)),
          el('span', { class: 'spacer' }), actions),
        pr ? el('div', { class: 'body progress', id: 'job-progress' },
          el('progress', { max: '100', value: String(Math.max(0, Math.min(100, Number(pr.percent) || 0))) }),
          el('span', {}, fmtNum(Number(pr.percent) || 0) + '%'),
          pr.message ? el('span', { class: 'muted' }, String(pr.message)) : null) : null),
      el('div', { class: 'grid2' },
        el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Details')), el('div', { class: 'body' }, details)),
        el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Times')), el('div', { class: 'body' }, times))),
    ];
    if (j.error) {
      panels.push(el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Error')),
        el('div', { class: 'body' }, el('pre', { class: 'err', id: 'job-error-text' }, String(j.error)))));
    }
    const errs = Array.isArray(j.errors) ? j.errors : [];
    if (errs.length) {
      const rows = errs.map((e) => el('tr', {},
        el('td', { class: 'num' }, fmtNum(e && e.attempt)),
        el('td', {}, when(e && e.at)),
        el('td', { class: 'wrap' }, el('span', { class: 'mono' }, String(e && e.error)))));
      panels.push(el('section', { class: 'panel' },
        el('header', {}, el('h2', {}, 'Error history'), el('span', { class: 'muted' }, 'the last ' + errs.length)),
        el('div', { class: 'scroll' }, el('table', { id: 'job-errors' },
          el('thead', {}, el('tr', {}, el('th', { class: 'num' }, 'Attempt'), el('th', {}, 'When'), el('th', {}, 'Error'))),
          el('tbody', {}, rows)))));
    }
    panels.push(el('div', { class: 'grid2' },
      el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Payload')),
        el('div', { class: 'body' }, el('pre', { class: 'json', id: 'job-payload' }, pretty(j.payload)))),
      el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Result')),
        el('div', { class: 'body' }, j.result === null || j.result === undefined
          ? el('p', { class: 'muted', id: 'job-result' }, TERMINAL.has(st) ? 'none' : 'not yet')
          : el('pre', { class: 'json', id: 'job-result' }, pretty(j.result))))));
    if (j.meta && typeof j.meta === 'object' && Object.keys(j.meta).length) {
      panels.push(el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Meta')),
        el('div', { class: 'body' }, el('pre', { class: 'json' }, pretty(j.meta)))));
    }
    box.append(...panels);
  }

  /* idLinks: job or batch ids as links to their pages, comma-separated. */
  function idLinks(ids) {
    const out = [];
    ids.forEach((x, i) => {
      const v = String(x);
      if (i) out.push(', ');
      out.push(el('a', { class: 'mono', href: (v.startsWith('b_') ? '#/batch/' : '#/job/') + seg(v) }, v));
    });
    return out;
  }

  /* --- a batch ------------------------------------------------------------- */

  function loadBatch() {
    return loadOnce(state.batch, (r) => '/api/batches/' + seg(r.id), renderBatch,
      (e, r) => {
        clear($('#batch')).append(el('section', { class: 'panel' }, el('p', { class: 'empty', role: 'alert', id: 'batch-error' },
          e.status === 404 ? 'No batch with the id \u201c' + r.id + '\u201d: it never existed, or it ended and expired.'
            : 'Cannot show the batch: ' + e.message)));
      }, () => state.view === 'batch');
  }

  function renderBatch(b) {
    const box = clear($('#batch'));
    const counts = b.counts && typeof b.counts === 'object' ? b.counts : {};
    const total = Number(b.total) || 0;
    const ended = ['finished', 'failed', 'canceled'].reduce((n, k) => n + (Number(counts[k]) || 0), 0);
    const st = String(b.status);
    const rows = Object.keys(counts).map((k) => el('tr', {},
      el('td', {}, badge(k)), el('td', { class: 'num' }, fmtNum(counts[k]))));
    box.append(
      el('div', { class: 'crumbs' }, el('a', { href: '#/' }, '\u2190 Overview'), ' \u00b7 ',
        el('a', { href: '#/workflows' }, 'Workflows')),
      el('section', { class: 'panel' },
        el('header', {}, el('div', { class: 'jobhead' }, el('h1', { id: 'batch-id' }, String(b.batch_id)),
          el('span', { id: 'batch-status', class: 'st', dataset: { status: st } }, st))),
        el('div', { class: 'body progress', id: 'batch-progress' },
          el('progress', { max: String(Math.max(total, 1)), value: String(ended) }),
          el('span', {}, fmtNum(ended) + ' of ' + fmtNum(total) + ' ended'),
          b.description ? el('span', { class: 'muted' }, String(b.description)) : null)),
      el('div', { class: 'grid2' },
        el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Jobs by status')),
          el('div', { class: 'scroll' }, el('table', { id: 'batch-counts' },
            el('thead', {}, el('tr', {}, el('th', {}, 'Status'), el('th', { class: 'num' }, 'Jobs'))),
            el('tbody', {}, rows)))),
        el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Details')),
          el('div', { class: 'body' }, el('dl', { class: 'kv' },
            el('dt', {}, 'Callback'), el('dd', {}, b.callback_job_id
              ? el('a', { id: 'batch-callback', class: 'mono', href: '#/job/' + seg(b.callback_job_id) }, String(b.callback_job_id)) : 'none'),
            el('dt', {}, 'Created'), el('dd', {}, when(b.created_at)),
            el('dt', {}, 'Sealed'), el('dd', {}, b.sealed_at ? when(b.sealed_at) : 'not yet: jobs may still join'),
            el('dt', {}, 'Ended'), el('dd', {}, when(b.ended_at)))))));
  }

  /* --- workflows: periodic jobs and limits ------------------------------------ */

  function loadFlows() {
    return loadOnce(state.flows, () => '/api/cron',
      async (cron) => {
        let limits = null;
        try { limits = await getJSON('/api/limits'); } catch (e) { limits = { error: e }; }
        if (state.view === 'workflows') renderFlows(cron, limits);
      },
      (e) => {
        clear($('#flows')).append(el('section', { class: 'panel' },
          el('p', { class: 'empty', role: 'alert' }, 'Cannot show the workflows: ' + e.message)));
      }, () => state.view === 'workflows');
  }

  function renderFlows(cron, limits) {
    const box = clear($('#flows'));
    const sched = Array.isArray(cron.schedules) ? cron.schedules : [];
    box.append(el('section', { class: 'panel' },
      el('header', {}, el('h2', {}, 'Periodic jobs'), el('span', { class: 'muted' }, '[cron:NAME] of this daemon')),
      sched.length ? el('div', { class: 'scroll' }, el('table', { id: 'cron' },
        el('thead', {}, el('tr', {}, ...['Name', 'Schedule', 'Zone', 'Type', 'Last run', 'Status', 'Next run'].map((h) => el('th', {}, h)))),
        el('tbody', {}, sched.map((c) => el('tr', {},
          el('td', { class: 'mono' }, String(c.name)),
          el('td', { class: 'mono' }, String(c.schedule)),
          el('td', {}, String(c.timezone)),
          el('td', {}, String(c.type)),
          el('td', {}, c.last_job ? el('a', { href: '#/job/' + seg(c.last_job) }, when(c.last)) : 'never'),
          el('td', {}, c.last_status ? badge(String(c.last_status)) : '-'),
          el('td', {}, c.next ? when(c.next) : '-'))))))
        : el('p', { class: 'empty' }, 'No periodic jobs are configured.')));
    const lim = limits && limits.limits && typeof limits.limits === 'object' ? limits.limits : null;
    const names = lim ? Object.keys(lim).sort() : [];
    box.append(el('section', { class: 'panel' },
      el('header', {}, el('h2', {}, 'Limits'), el('span', { class: 'muted' }, 'shared by every daemon on the Redis')),
      !lim ? el('p', { class: 'empty', role: 'alert' }, 'Cannot show the limits: ' + (limits && limits.error ? limits.error.message : 'no answer'))
        : names.length ? el('div', { class: 'scroll' }, el('table', { id: 'limits' },
          el('thead', {}, el('tr', {}, ...['Name', 'Concurrency', 'Running', 'Rate', 'Burst', 'Parked', 'Next due'].map((h) => el('th', {}, h)))),
          el('tbody', {}, names.map((n) => {
            const l = lim[n] || {};
            return el('tr', {},
              el('td', { class: 'mono' }, n),
              el('td', { class: 'num' }, l.concurrency == null ? '-' : fmtNum(l.concurrency)),
              el('td', { class: 'num' }, fmtNum(l.running)),
              el('td', {}, l.rate == null ? '-' : String(l.rate)),
              el('td', { class: 'num' }, l.burst == null ? '-' : fmtNum(l.burst)),
              el('td', { class: 'num' }, fmtNum(l.parked)),
              el('td', {}, l.next_at ? when(l.next_at) : '-'));
          }))))
          : el('p', { class: 'empty' }, 'No limits are configured.')));
  }

  /* --- views ------------------------------------------------------------------ */

  function render() {
    state.route = parseRoute();
    const r = state.route;
    const main = $('#view');
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.classList.toggle('current', a.dataset.nav === r.view);
    }
    if (r.view === 'job') {
      clear(main).append(el('div', { id: 'job' }, el('p', { class: 'muted' }, 'Loading\u2026')));
      state.view = 'job';
      state.job.data = null;
      loadJob();
      window.scrollTo(0, 0);
      return;
    }
    if (r.view === 'batch' || r.view === 'workflows') {
      const id = r.view === 'batch' ? 'batch' : 'flows';
      clear(main).append(el('div', { id: id }, el('p', { class: 'muted' }, 'Loading\u2026')));
      state.view = r.view;
      if (r.view === 'batch') loadBatch(); else loadFlows();
      window.scrollTo(0, 0);
      return;
    }
    if (state.view !== r.view) {
      clear(main);
      if (r.view === 'overview') {
        main.append(
          el('div', { class: 'totals', id: 'totals' }),
          el('div', { id: 'warnings' }),
          el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Queues')), el('div', { id: 'queues' })),
          el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Workers'),
            el('span', { class: 'muted', id: 'workers-summary' })), el('div', { id: 'workers' })),
          el('section', { class: 'panel' }, el('header', {}, el('h2', {}, 'Daemons')), el('div', { id: 'daemons' })),
          listSection(false));
      } else {
        main.append(listSection(true));
      }
      state.view = r.view;
    }
    syncFilters();
    renderStats();
    loadList();
  }

  /* refreshVisible: what the page shows may have changed: fetch it again. */
  function refreshVisible() {
    if (state.view === 'job') loadJob();
    else if (state.view === 'batch') loadBatch();
    else if (state.view === 'workflows') loadFlows();
    else if (state.view === 'overview' || state.view === 'failed') loadList();
  }

  /* --- the live stream ------------------------------------------------------------ */

  function setConn(s) {
    const c = $('#conn');
    c.dataset.state = s;
    c.textContent = s === 'live' ? 'live' : s === 'disconnected' ? 'disconnected' : 'connecting';
    $('#offline').hidden = s !== 'disconnected';
    document.body.classList.toggle('stale', s === 'disconnected');
  }

  function connect() {
    state.retryTimer = 0;
    const es = new EventSource('/events');
    state.es = es;
    es.addEventListener('open', () => {
      state.retry = RETRY_MIN;
      setConn('live');
    });
    es.addEventListener('stats', (ev) => {
      let s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      setConn('live');
      applyStats(s);
    });
    es.addEventListener('error', () => {
      setConn('disconnected');
      // The browser retries a dropped stream by itself; one refused
      // (an error status) is closed for good: open a new one, later.
      if (es.readyState === EventSource.CLOSED && state.es === es && !state.retryTimer) {
        state.retryTimer = setTimeout(connect, state.retry);
        state.retry = Math.min(RETRY_MAX, state.retry * 2);
      }
    });
  }

  /* --- start ----------------------------------------------------------------------- */

  function start() {
    $('#toast-close').addEventListener('click', () => { $('#toast').hidden = true; });
    $('#search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = $('#search-id').value.trim();
      if (!ID_RE.test(id)) {
        toast('Not a job id: ' + (id || '(empty)') + ' (letters, digits and _ . : - only, at most 128)', 'error');
        return;
      }
      $('#search-id').value = '';
      location.hash = '#/job/' + seg(id);
    });
    window.addEventListener('hashchange', render);
    // The relative times ("3s ago") follow the clock; no request.
    setInterval(() => {
      for (const t of document.querySelectorAll('time.rel')) t.textContent = relText(t.dataset.t);
    }, 5000);
    render();
    getJSON('/api/stats').then(applyStats, (e) => toast('Cannot read the stats: ' + e.message, 'error'));
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
