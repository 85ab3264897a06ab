// qrscene dashboard: calendar days of an IANA time zone, with the browser's Intl only (no
// dependency). Loaded before app.js, which uses these functions.
'use strict';

/** Zones offered in the select, besides the browser's own and one chosen elsewhere. */
const ZONES = ['Asia/Shanghai', 'UTC', 'Asia/Hong_Kong', 'Asia/Singapore', 'Asia/Tokyo', 'Europe/London',
  'Europe/Berlin', 'America/New_York', 'America/Los_Angeles'];
/** The zone of the days until the user picks another: the server's default. */
const DEFAULT_ZONE = 'Asia/Shanghai';
const DAY_MS = 86400000;

const wallFormats = new Map();

/** A formatter of the wall clock of `zone`, 00 to 23 hours (throws for an unknown zone). */
function wallFormat(zone) {
  let f = wallFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    wallFormats.set(zone, f);
  }
  return f;
}

/** Whether this browser knows `zone`. */
function validZone(zone) {
  try {
    return typeof zone === 'string' && zone !== '' && Boolean(wallFormat(zone));
  } catch (e) {
    return false;
  }
}

/** The browser's own zone, when it tells. */
function browserZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return validZone(zone) ? zone : null;
}

/** The wall clock of `zone` at instant `ms`: { y, m, d, hh, mm, ss } (numbers, m from 1). */
function wall(zone, ms) {
  const p = {};
  for (const { type, value } of wallFormat(zone).formatToParts(new Date(ms))) p[type] = Number(value);
  return { y: p.year, m: p.month, d: p.day, hh: p.hour % 24, mm: p.minute, ss: p.second };
}

const pad = (n, w) => String(n).padStart(w || 2, '0');
const ymd = (w) => pad(w.y, 4) + '-' + pad(w.m) + '-' + pad(w.d);

/** How far `zone`'s clock is ahead of UTC at instant `ms`, in ms (negative west of Greenwich). */
function offsetAt(zone, ms) {
  const s = Math.floor(ms / 1000) * 1000;
  const w = wall(zone, s);
  return Date.UTC(w.y, w.m - 1, w.d, w.hh, w.mm, w.ss) - s;
}

/** The local day (YYYY-MM-DD) of instant `ms` in `zone`. */
const dayIn = (zone, ms) => ymd(wall(zone, ms));

/** The day `n` days after `day` (YYYY-MM-DD): calendar arithmetic, no zone involved. */
function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return pad(t.getUTCFullYear(), 4) + '-' + pad(t.getUTCMonth() + 1) + '-' + pad(t.getUTCDate());
}

/**
 * The first instant of local `day` in `zone`, as the server counts it: local midnight, or,
 * when a DST change skips midnight, the first time the clock shows that day. Each offset in
 * force around that day gives a candidate; the earliest one that falls on `day` is it.
 */
function midnight(zone, day) {
  const guess = Date.parse(day + 'T00:00:00Z');
  const near = [-DAY_MS, 0, DAY_MS].map((k) => offsetAt(zone, guess + k));
  near.push(offsetAt(zone, guess - near[1]));
  const starts = [...new Set(near)].map((o) => guess - o).filter((t) => dayIn(zone, t) === day);
  return starts.length ? Math.min(...starts) : guess - near[1];
}

/** Instant `ms` as RFC 3339 on `zone`'s clock with its offset, to the second. */
function rfc3339(zone, ms) {
  const s = Math.floor(ms / 1000) * 1000;
  const w = wall(zone, s);
  const off = Math.round(offsetAt(zone, s) / 60000);
  const abs = Math.abs(off);
  return ymd(w) + 'T' + pad(w.hh) + ':' + pad(w.mm) + ':' + pad(w.ss) +
    (off < 0 ? '-' : '+') + pad(Math.floor(abs / 60)) + ':' + pad(abs % 60);
}

/** Instant `ms` as "YYYY-MM-DD HH:MM" on `zone`'s clock. */
function wallTime(zone, ms) {
  const w = wall(zone, ms);
  return ymd(w) + ' ' + pad(w.hh) + ':' + pad(w.mm);
}
