// qrscene campaign dashboard: plain JavaScript, no dependencies, same-origin calls only.
'use strict';

// ---- Strings (Chinese and English) ----------------------------------------------------------

const STRINGS = {
  zh: {
    title: '扫码活动看板', switchLang: 'English', logout: '退出登录', openMode: '开放模式', loginTitle: '登录',
    loginHint: '请输入 API 密钥以查看活动数据。密钥只保存在当前浏览器标签页中。', apiKey: 'API 密钥', signIn: '登录',
    needKey: '此服务需要 API 密钥。', badKey: 'API 密钥无效或已失效，请重新登录。',
    period: '统计周期', last7: '近 7 天', last30: '近 30 天', last90: '近 90 天', from: '从', to: '至', apply: '应用',
    activity: '活动', allActivities: '全部活动', noActivity: '（无活动）', tz: '按 {tz} 自然日统计',
    account: '公众号', noAccount: '此 API 密钥没有可用的公众号。', zone: '时区', browserZone: '{z}（本机）',
    summaryAll: '汇总 · 全部活动', summaryOne: '汇总 · 活动 {a}',
    m_scans: '扫码次数', m_unique_scanners: '扫码人数', m_new_followers: '新增关注', m_returning_scans: '老用户扫码',
    m_unsubscribes: '取消关注', m_net_new_followers: '净增关注',
    chartTitle: '每日扫码与新增关注', chartLabel: '每日扫码次数与新增关注人数图表',
    rankTitle: '活动排行（按新增关注）', rankHint: '点击活动查看其二维码', rank: '排名',
    codesTitle: '活动二维码 · {a}', codesHint: '点击二维码查看详情、图片与最近事件', codeId: '二维码 ID', close: '关闭',
    detailTitle: '二维码 #{id}', kind: '类型', temporary: '临时', permanent: '永久', scene: '场景值', status: '状态',
    succeeded: '成功', failed: '失败', createdAt: '创建时间', expiresAt: '过期时间', never: '永不过期',
    url: '二维码内容', payload: '附加数据', periodStats: '本周期数据', recentEvents: '最近事件（最多 20 条）',
    time: '时间（{tz}）', event: '事件', ev_subscribe: '关注', ev_scan: '扫码', ev_unsubscribe: '取消关注',
    noData: '暂无数据', noEvents: '暂无事件', noImage: '没有可用的二维码图片', loading: '加载中…', download: '下载 SVG',
    errNetwork: '网络错误，无法连接服务。', errRange: '开始日期不能晚于结束日期。', errPrefix: '加载失败：',
    footer: 'qrscene · 数据按 {tz} 自然日统计',
    tagsTitle: '用户标签', tagsHint: '二维码的动作为扫码用户打上的微信标签', tagName: '标签', tagId: '标签 ID',
    tagged: '已打标签人数',
  },
  en: {
    title: 'Campaign dashboard', switchLang: '中文', logout: 'Sign out', openMode: 'Open mode', loginTitle: 'Sign in',
    loginHint: 'Enter an API key to see campaign data. The key is kept in this browser tab only.',
    apiKey: 'API key', signIn: 'Sign in',
    needKey: 'This service requires an API key.', badKey: 'The API key was refused. Please sign in again.',
    period: 'Period', last7: 'Last 7 days', last30: 'Last 30 days', last90: 'Last 90 days', from: 'From', to: 'To',
    apply: 'Apply', activity: 'Activity', allActivities: 'All activities', noActivity: '(no activity)',
    tz: 'Days are {tz} calendar days', account: 'Account', noAccount: 'This API key may use no account.',
    zone: 'Time zone', browserZone: '{z} (this browser)',
    summaryAll: 'Summary · all activities', summaryOne: 'Summary · activity {a}',
    m_scans: 'Scans', m_unique_scanners: 'Unique scanners', m_new_followers: 'New followers',
    m_returning_scans: 'Returning scans', m_unsubscribes: 'Unsubscribes', m_net_new_followers: 'Net new followers',
    chartTitle: 'Scans and new followers per day', chartLabel: 'Chart of scans and new followers per day',
    rankTitle: 'Activities by new followers', rankHint: 'Click an activity to see its codes', rank: '#',
    codesTitle: 'Codes of activity {a}', codesHint: 'Click a code for its image, details and recent events',
    codeId: 'Code ID', close: 'Close', detailTitle: 'Code #{id}', kind: 'Kind', temporary: 'Temporary',
    permanent: 'Permanent', scene: 'Scene', status: 'Status', succeeded: 'Succeeded', failed: 'Failed',
    createdAt: 'Created', expiresAt: 'Expires', never: 'Never', url: 'QR content', payload: 'Payload',
    periodStats: 'This period', recentEvents: 'Recent events (up to 20)', time: 'Time ({tz})', event: 'Event',
    ev_subscribe: 'Follow', ev_scan: 'Scan', ev_unsubscribe: 'Unfollow', noData: 'No data', noEvents: 'No events yet',
    noImage: 'No image of this code', loading: 'Loading…', download: 'Download SVG',
    errNetwork: 'Network error: the service cannot be reached.',
    errRange: 'The start date must not be after the end date.', errPrefix: 'Loading failed: ',
    footer: 'qrscene · days are {tz} calendar days',
    tagsTitle: 'User tags', tagsHint: 'WeChat tags given to scanners by the codes\' actions', tagName: 'Tag',
    tagId: 'Tag ID', tagged: 'Followers tagged',
  },
};

const METRICS = ['scans', 'unique_scanners', 'new_followers', 'returning_scans', 'unsubscribes', 'net_new_followers'];
const ROW_METRICS = ['scans', 'unique_scanners', 'new_followers', 'unsubscribes', 'net_new_followers'];
const KEY_STORE = 'qrscene.apiKey';
const LANG_STORE = 'qrscene.lang';
const ZONE_STORE = 'qrscene.tz';

// ---- Helpers: strings, elements, numbers, times -------------------------------------------------

const $ = (sel) => document.querySelector(sel);

function t(key, vars) {
  let s = STRINGS[state.lang][key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace('{' + k + '}', v);
  return s;
}

/** An element (`svg:` prefix for SVG) with attributes (`text`: its text, `on*`: listeners) and children. */
function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return el;
}

/** Plain integers, no separators: automated tests read them. */
const int = (v) => String(Math.round(Number(v) || 0));
const activityLabel = (a) => (a === null || a === undefined ? t('noActivity') : a);
const codeId = (g) => g.qrcode_id ?? g.key;

/** An API time on the chosen zone's clock (zones.js does the zone arithmetic). */
function fmtTime(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso || '–' : wallTime(state.tz, ms);
}

/** Where the account chosen with key `key` is remembered: a fingerprint (FNV-1a) stands for the key. */
function accountStore(key) {
  if (!key) return 'qrscene.account.open';
  let x = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) x = Math.imul(x ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return 'qrscene.account.' + x.toString(16).padStart(8, '0');
}

// ---- State and period -----------------------------------------------------------------------------

const state = {
  lang: 'zh',
  tz: DEFAULT_ZONE, // the zone of the days
  accounts: null, // the enabled accounts the key may see, once asked
  account: null, // the chosen one's appid, sent as `account` on every call
  wantedAccount: null, // an appid the address named, chosen once the accounts are known
  days: 30, // a preset, or null for the custom fromDay..toDay
  fromDay: null, toDay: null,
  activity: null, // the activity filter, null for all
  activities: [], // activity ids seen in rankings, for the filter
  openActivity: undefined, // whose codes are listed: an id, null (codes without activity) or undefined (none)
  openCode: null, // generation id of the drill-down
  day: null, ranking: null, codes: null, tags: null, detail: null, // the last answers
  loginMsg: null, error: null, blobUrl: null, pending: 0, failed: false,
};
const seq = { main: 0, codes: 0, detail: 0 }; // answers to older requests are dropped

/**
 * The chosen period as query parameters: whole days of the chosen zone (`to` is exclusive), up
 * to now for today. Each bound is the zone's midnight with the offset in force then, so a
 * period across a DST change has a 23- or 25-hour day, as the server counts it.
 */
function period() {
  const [z, now] = [state.tz, Date.now()];
  const today = dayIn(z, now);
  if (state.days) [state.fromDay, state.toDay] = [addDays(today, 1 - state.days), today];
  const from = midnight(z, state.fromDay);
  const to = state.toDay >= today ? Math.max(now, from + 1000) : midnight(z, addDays(state.toDay, 1));
  return 'from=' + encodeURIComponent(rfc3339(z, from)) + '&to=' + encodeURIComponent(rfc3339(z, to)) +
    '&tz=' + encodeURIComponent(z);
}

// ---- API and authentication -----------------------------------------------------------------------

class AuthError extends Error {}

/** `path` naming the chosen account: every call but the list of accounts names it. */
function withAccount(path) {
  if (state.account === null || path.startsWith('/api/v1/accounts')) return path;
  return path + (path.includes('?') ? '&' : '?') + 'account=' + encodeURIComponent(state.account);
}

/** GET on the same origin, with the stored key if any; JSON, or a Blob when `blob`. */
async function api(path, blob) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = blob ? {} : { Accept: 'application/json' };
  if (key) headers.Authorization = 'Bearer ' + key;
  let res;
  try {
    res = await fetch(withAccount(path), { headers, cache: 'no-store' });
  } catch (e) {
    throw new Error(t('errNetwork'));
  }
  if (res.status === 401) throw new AuthError(key ? 'badKey' : 'needKey');
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error((body.message || body.code || 'HTTP') + ' (' + res.status + ')');
  }
  $('#open-mode').hidden = Boolean(key);
  return blob ? res.blob() : res.json();
}

const stats = (groupBy, extra) => api('/api/v1/stats?group_by=' + groupBy + '&' + period() + (extra || ''));
const byActivity = (a) => (a === null ? '' : '&activity_id=' + encodeURIComponent(a));

function showLogin(msgKey) {
  sessionStorage.removeItem(KEY_STORE);
  state.loginMsg = msgKey;
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#logout').hidden = true;
  renderMessages();
  setReady();
  $('#login-key').focus();
}

function showApp() {
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#logout').hidden = !sessionStorage.getItem(KEY_STORE);
}

// ---- Loading: body[data-ready] is "true" once nothing is pending ----------------------------------

function setReady() {
  const s = !$('#login').hidden ? 'login' : state.pending ? 'false' : state.failed ? 'error' : 'true';
  document.body.dataset.ready = s;
}

async function track(promise) {
  state.pending += 1;
  setReady();
  try {
    await promise;
  } catch (e) {
    if (e instanceof AuthError) return showLogin(e.message);
    [state.failed, state.error] = [true, { text: e.message }];
    renderMessages();
  } finally {
    state.pending -= 1;
    setReady();
  }
}

/** Reloads what is shown; first, once per key, the accounts it may see. */
function reloadAll() {
  [state.failed, state.error] = [false, null];
  renderMessages();
  if (state.accounts === null) return track(loadAccounts().then(reloadAll));
  if (state.account === null) {
    [state.failed, state.error] = [true, { key: 'noAccount' }];
    showApp();
    renderMessages();
    return setReady();
  }
  track(loadMain());
  if (state.openActivity !== undefined) track(loadCodes());
  if (state.openCode !== null) track(loadDetail());
}

/** The enabled accounts the key may see, and the one to show: named by the address, remembered, or the first. */
async function loadAccounts() {
  const answer = await api('/api/v1/accounts');
  const list = (answer.items || []).filter((a) => a.enabled !== false);
  const store = accountStore(sessionStorage.getItem(KEY_STORE));
  const known = (appid) => appid && list.some((a) => a.appid === appid);
  const chosen = [state.wantedAccount, localStorage.getItem(store)].find(known);
  if (chosen && chosen === state.wantedAccount) localStorage.setItem(store, chosen);
  [state.accounts, state.wantedAccount] = [list, null];
  state.account = chosen || (list.length ? list[0].appid : null);
  renderAccounts();
}

/** Forgets what was shown for the previous account (or key). */
function clearData() {
  seq.main += 1;
  seq.codes += 1;
  Object.assign(state, {
    activity: null, activities: [], openActivity: undefined, day: null, ranking: null, codes: null, tags: null,
  });
  closeCode();
}

async function loadMain() {
  const n = ++seq.main;
  const [day, ranking, tags] = await Promise.all([
    stats('day', byActivity(state.activity)), stats('activity'), api('/api/v1/tags'),
  ]);
  if (n !== seq.main) return;
  Object.assign(state, { day, ranking, tags });
  for (const g of ranking.groups) if (g.key !== null && !state.activities.includes(g.key)) state.activities.push(g.key);
  showApp();
  renderMain();
}

async function loadCodes() {
  const n = ++seq.codes;
  const a = state.openActivity;
  const answer = await stats('qrcode', byActivity(a));
  if (n !== seq.codes) return;
  // The API has no filter for "no activity": those codes are picked here.
  if (a === null) answer.groups = answer.groups.filter((g) => g.activity_id === null);
  state.codes = answer;
  renderCodes();
}

async function loadDetail() {
  const n = ++seq.detail;
  const id = state.openCode;
  const base = '/api/v1/qrcodes/' + encodeURIComponent(id);
  const [code, events] = await Promise.all([api(base), api(base + '/events?limit=20')]);
  // An <img src> cannot send the key: the image is fetched and shown from a blob: URL.
  const image = (url) => api(url, true).catch((e) => { if (e instanceof AuthError) throw e; return null; });
  const blob = code.images ? (await image(code.images.svg)) || (await image(code.images.png)) : null;
  if (n !== seq.detail) return;
  if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
  state.blobUrl = blob ? URL.createObjectURL(blob) : null;
  state.detail = { code, events };
  renderDetail();
}

// ---- Rendering: texts, controls, summary, ranking, codes ------------------------------------------

function renderAll() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = 'qrscene · ' + t('title');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n, { tz: state.tz });
  $('#login-key').placeholder = t('apiKey');
  renderMessages();
  renderAccounts();
  renderMain();
  renderCodes();
  renderDetail();
}

function renderMessages() {
  $('#login-msg').hidden = !state.loginMsg;
  $('#login-msg').textContent = state.loginMsg ? t(state.loginMsg) : '';
  const e = state.error;
  $('#error').hidden = !e;
  $('#error').textContent = !e ? '' : e.key ? t(e.key) : t('errPrefix') + e.text;
}

/** The account switch: a select with several accounts, the account's name alone with one. */
function renderAccounts() {
  const list = state.accounts || [];
  const label = (a) => (a.name && a.name !== a.appid ? a.name + ' · ' + a.appid : a.appid);
  const control = $('#account-control');
  control.hidden = !list.length;
  control.dataset.account = state.account ?? '';
  $('#account').hidden = list.length < 2;
  $('#account').replaceChildren(...list.map((a) => h('option', {
    value: a.appid, text: label(a), selected: a.appid === state.account,
  })));
  $('#account').value = state.account ?? '';
  const one = list.length === 1 ? list[0] : null;
  $('#account-name').hidden = !one;
  $('#account-name').textContent = one ? label(one) : '';
}

/** The zones offered: the usual ones, the browser's own (marked) and the chosen one. */
function renderZones() {
  const own = browserZone();
  const zones = [...new Set([...ZONES, own, state.tz].filter(Boolean))];
  $('#tz').replaceChildren(...zones.map((z) => h('option', {
    value: z, text: z === own ? t('browserZone', { z }) : z, selected: z === state.tz,
  })));
  $('#tz').value = state.tz;
}

function renderControls() {
  period();
  for (const b of document.querySelectorAll('[data-days]')) {
    b.setAttribute('aria-pressed', String(Number(b.dataset.days) === state.days));
  }
  [$('#from').value, $('#to').value] = [state.fromDay, state.toDay];
  renderZones();
  const range = $('#range');
  range.textContent = state.fromDay + ' — ' + state.toDay + ' · ' + t('tz', { tz: state.tz });
  // The bounds and zone the server answered for: what the page asked for, as it understood them.
  const shown = state.day || {};
  [range.dataset.from, range.dataset.to, range.dataset.tz] = [shown.from ?? '', shown.to ?? '', shown.tz ?? ''];
  const options = state.activities.map((a) => h('option', { value: a, text: a }));
  $('#activity').replaceChildren(h('option', { value: '', text: t('allActivities') }), ...options);
  $('#activity').value = state.activity ?? '';
}

function renderMain() {
  renderControls();
  $('#summary-title').textContent = state.activity === null ? t('summaryAll') : t('summaryOne', { a: state.activity });
  for (const m of METRICS) $('[data-total="' + m + '"]').textContent = state.day ? int(state.day.totals[m]) : '–';
  renderChart();
  renderRanking();
  renderTags();
}

/** Table rows (or one "empty" row), each clickable through a button in its second cell. */
function rows(tbody, groups, loaded, make) {
  tbody.replaceChildren(...groups.map(make));
  if (!groups.length) tbody.append(emptyRow(7, loaded ? 'noData' : 'loading'));
}

const emptyRow = (cols, key) => h('tr', { class: 'empty' }, h('td', { colspan: cols, text: t(key) }));
const metricCells = (g) => ROW_METRICS.map((m) => h('td', { class: 'n', 'data-metric': m, text: int(g[m]) }));

function renderRanking() {
  rows($('#ranking tbody'), state.ranking ? state.ranking.groups : [], state.ranking, (g, i) => h('tr', {
    'data-activity': g.key ?? '',
    class: 'clickable' + (g.key === state.openActivity ? ' selected' : ''),
    onclick: () => openActivity(g.key),
  }, h('td', { class: 'n muted', text: String(i + 1) }),
  h('td', { class: 'nowrap' }, h('button', { type: 'button', class: 'link', text: activityLabel(g.key) })),
  metricCells(g)));
}

function renderTags() {
  const tags = state.tags || [];
  $('#tags tbody').replaceChildren(...tags.map((tag) => h('tr', { 'data-tag': String(tag.tag_id) },
    h('td', { text: tag.name }), h('td', { class: 'n muted', text: String(tag.tag_id) }),
    h('td', { class: 'n', text: int(tag.tagged) }))));
  if (!tags.length) $('#tags tbody').append(emptyRow(3, state.tags ? 'noData' : 'loading'));
}

function renderCodes() {
  $('#codes-panel').hidden = state.openActivity === undefined;
  if (state.openActivity === undefined) return;
  $('#codes-title').textContent = t('codesTitle', { a: activityLabel(state.openActivity) });
  rows($('#codes tbody'), state.codes ? state.codes.groups : [], state.codes, (g) => h('tr', {
    'data-qrcode': String(codeId(g)),
    class: 'clickable' + (String(codeId(g)) === String(state.openCode) ? ' selected' : ''),
    onclick: () => openCode(codeId(g)),
  }, h('td', {}, h('button', { type: 'button', class: 'link', text: '#' + codeId(g) })),
  h('td', { class: 'nowrap', text: activityLabel(g.activity_id) }),
  metricCells(g)));
}

// ---- Rendering: drill-down of one code ------------------------------------------------------------

function renderDetail() {
  $('#detail-panel').hidden = state.openCode === null;
  if (state.openCode === null) return;
  $('#detail-title').textContent = t('detailTitle', { id: state.openCode });
  const d = state.detail;
  const c = d ? d.code : null;
  const img = state.blobUrl && h('img', { src: state.blobUrl, alt: 'QR #' + state.openCode, width: 220, height: 220 });
  $('#qr-box').replaceChildren(img || h('span', { class: 'muted', text: t(d ? 'noImage' : 'loading') }));
  const download = img && h('a', { href: state.blobUrl, download: 'qrcode-' + c.id + '.svg', text: t('download') });
  $('#qr-caption').replaceChildren(download || '');
  const fields = c ? [
    ['kind', t(c.kind) + ' · ' + c.action_name], ['scene', c.scene_str ?? c.scene_id], ['status', t(c.status)],
    ['activity', activityLabel(c.activity_id)], ['createdAt', fmtTime(c.created_at)],
    ['expiresAt', c.expires_at ? fmtTime(c.expires_at) : t('never')], ['url', c.url || '–'],
  ] : [];
  const pairs = ([k, v]) => [h('dt', { text: t(k) }), h('dd', { text: String(v) })];
  $('#detail-fields').replaceChildren(...fields.flatMap(pairs));
  const row = c && state.codes && state.codes.groups.find((g) => String(codeId(g)) === String(c.id));
  $('#detail-stats').replaceChildren(...(row
    ? METRICS.flatMap((m) => [h('dt', { text: t('m_' + m) }), h('dd', { 'data-code-metric': m, text: int(row[m]) })])
    : [h('dd', { text: t(d ? 'noData' : 'loading') })]));
  $('#detail-payload').textContent = c && c.payload ? JSON.stringify(c.payload, null, 2) : '–';
  const items = d ? d.events.items || [] : [];
  const body = $('#events tbody');
  body.replaceChildren(...items.map((e) => h('tr', { 'data-event': String(e.id) },
    h('td', { class: 'nowrap', text: fmtTime(e.occurred_at) }),
    h('td', {}, h('span', { class: 'tag tag-' + e.kind, text: STRINGS[state.lang]['ev_' + e.kind] || e.kind })),
    h('td', { class: 'mono', text: e.openid || '–' }),
    h('td', { class: 'mono', text: e.scene || '–' }))));
  if (!items.length) body.append(emptyRow(4, d ? 'noEvents' : 'loading'));
}

// ---- Chart: inline SVG, scans as bars, new followers as a line -------------------------------------

/** A round tick step (1, 2 or 5 times a power of ten) giving about five ticks up to `max`. */
function niceStep(max) {
  const raw = Math.max(max, 1) / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return Math.max(1, [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw));
}

function renderChart() {
  const host = $('#chart');
  const groups = state.day ? state.day.groups : [];
  if (!groups.length) return host.replaceChildren(
    h('p', { class: 'muted', text: t(state.day ? 'noData' : 'loading') }));
  const W = Math.max(320, host.clientWidth || 800);
  const H = W < 600 ? 240 : 300;
  const m = { l: 44, r: 12, t: 36, b: 30 };
  const [pw, ph] = [W - m.l - m.r, H - m.t - m.b];
  const max = Math.max(...groups.map((g) => Math.max(g.scans, g.new_followers)));
  const step = niceStep(max);
  const top = Math.max(step * Math.ceil(max / step), 4);
  const y = (v) => m.t + ph - (v / top) * ph;
  const bw = pw / groups.length;
  const barW = Math.max(1, Math.min(28, bw * 0.6));
  const cx = (i) => m.l + bw * (i + 0.5);
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': t('chartLabel'), class: 'chart-svg',
  });
  for (let v = 0; v <= top; v += step) {
    svg.append(h('svg:line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }),
      h('svg:text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end', text: String(v) }));
  }
  const every = Math.ceil(groups.length / Math.max(1, Math.floor(pw / 48)));
  groups.forEach((g, i) => {
    const [scans, followers] = [int(g.scans), int(g.new_followers)];
    const tip = g.key + '\n' + t('m_scans') + ' ' + scans + ' · ' + t('m_new_followers') + ' ' + followers;
    // One element per day carries its numbers.
    svg.append(h('svg:g', { class: 'pt', 'data-day': g.key, 'data-scans': scans, 'data-new-followers': followers },
      h('svg:title', { text: tip }),
      h('svg:rect', { class: 'hit', x: m.l + bw * i, y: m.t, width: bw, height: ph }),
      h('svg:rect', { class: 'bar', x: cx(i) - barW / 2, y: y(g.scans), width: barW, height: m.t + ph - y(g.scans) })));
    if ((groups.length - 1 - i) % every === 0) { // counted from the end: today is always labelled
      const at = { x: cx(i), y: H - m.b + 18, class: 'tick', 'text-anchor': 'middle' };
      svg.append(h('svg:text', { ...at, text: g.key.slice(5) }));
    }
  });
  const points = groups.map((g, i) => cx(i).toFixed(1) + ',' + y(g.new_followers).toFixed(1));
  svg.append(h('svg:polyline', { class: 'line', points: points.join(' ') }));
  if (groups.length <= 45) {
    groups.forEach((g, i) => svg.append(h('svg:circle', { class: 'dot', cx: cx(i), cy: y(g.new_followers), r: 3 })));
  }
  svg.append(h('svg:g', { class: 'legend', transform: `translate(${m.l},14)` },
    h('svg:rect', { class: 'bar', x: 0, y: -9, width: 12, height: 12, rx: 2 }),
    h('svg:text', { x: 18, y: 2, text: t('m_scans') }),
    h('svg:line', { class: 'line', x1: 110, x2: 130, y1: -3, y2: -3 }),
    h('svg:circle', { class: 'dot', cx: 120, cy: -3, r: 3 }),
    h('svg:text', { x: 136, y: 2, text: t('m_new_followers') })));
  host.replaceChildren(svg);
}

// ---- Actions -----------------------------------------------------------------------------------------

function openActivity(a) {
  [state.openActivity, state.codes] = [a, null];
  closeCode();
  renderRanking();
  track(loadCodes());
  $('#codes-panel').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function openCode(id) {
  [state.openCode, state.detail] = [id, null];
  renderCodes();
  renderDetail();
  track(loadDetail());
  $('#detail-panel').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function closeCode() {
  seq.detail += 1;
  [state.openCode, state.detail] = [null, null];
  renderCodes();
  renderDetail();
}

function setAccount(appid) {
  state.account = appid;
  localStorage.setItem(accountStore(sessionStorage.getItem(KEY_STORE)), appid);
  clearData();
  renderAll();
  reloadAll();
}

function setZone(zone) {
  if (!validZone(zone)) return;
  state.tz = zone;
  localStorage.setItem(ZONE_STORE, zone);
  renderAll();
  reloadAll();
}

function setFilter(a) {
  seq.codes += 1;
  [state.activity, state.openActivity, state.codes] = [a, a ?? undefined, null];
  closeCode();
  reloadAll();
}

function wire() {
  $('#lang').addEventListener('click', () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_STORE, state.lang);
    renderAll();
  });
  $('#logout').addEventListener('click', () => showLogin(null));
  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY_STORE, $('#login-key').value.trim());
    [$('#login-key').value, state.loginMsg, state.accounts, state.account] = ['', null, null, null];
    clearData();
    renderAll();
    reloadAll();
  });
  $('#account').addEventListener('change', (ev) => setAccount(ev.target.value));
  $('#tz').addEventListener('change', (ev) => setZone(ev.target.value));
  for (const b of document.querySelectorAll('[data-days]')) {
    b.addEventListener('click', () => { state.days = Number(b.dataset.days); renderControls(); reloadAll(); });
  }
  $('#custom').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const [from, to] = [$('#from').value, $('#to').value];
    if (!from || !to || from > to) return renderMessages(state.error = { key: 'errRange' });
    Object.assign(state, { days: null, fromDay: from, toDay: to });
    renderControls();
    reloadAll();
  });
  $('#activity').addEventListener('change', (ev) => setFilter(ev.target.value || null));
  $('[data-close="codes"]').addEventListener('click', () => {
    if (state.activity !== null) return setFilter(null);
    seq.codes += 1;
    state.openActivity = undefined;
    closeCode();
    renderRanking();
  });
  $('[data-close="detail"]').addEventListener('click', closeCode);
  let timer = null;
  window.addEventListener('resize', () => { clearTimeout(timer); timer = setTimeout(renderChart, 150); });
}

// ---- Start-up ----------------------------------------------------------------------------------------

/** A fragment's YYYY-MM-DD, or null. */
const fragmentDay = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v || '') && !Number.isNaN(Date.parse(v)) ? v : null);

function start() {
  // The fragment (automated tests, links) may give #key=..., lang=en|zh, account=<appid>,
  // tz=<IANA zone>, from=YYYY-MM-DD&to=YYYY-MM-DD, activity=<id> and code=<generation id>; they
  // are taken, then removed from the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('key')) sessionStorage.setItem(KEY_STORE, fragment.get('key'));
  const lang = fragment.get('lang') || localStorage.getItem(LANG_STORE);
  if (lang === 'en' || lang === 'zh') state.lang = lang;
  state.wantedAccount = fragment.get('account') || null;
  if (validZone(fragment.get('tz'))) localStorage.setItem(ZONE_STORE, fragment.get('tz'));
  const zone = localStorage.getItem(ZONE_STORE);
  if (validZone(zone)) state.tz = zone;
  const [from, to] = [fragmentDay(fragment.get('from')), fragmentDay(fragment.get('to'))];
  if (from && to && from <= to) Object.assign(state, { days: null, fromDay: from, toDay: to });
  const activity = fragment.get('activity');
  if (activity) [state.activity, state.openActivity] = [activity, activity];
  if (/^[1-9]\d{0,17}$/.test(fragment.get('code') || '')) state.openCode = fragment.get('code');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  wire();
  renderAll();
  // The first calls go out with the stored key, or none: an open sandbox needs no login, a 401 shows it.
  reloadAll();
}

start();
