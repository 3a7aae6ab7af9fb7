// /supervisor#token=...: live load per team, pushed by the broker at most once a second, and
// today's conversations by channel (from the contact records) as a small bar chart.

import {
  $,
  connect,
  el,
  errorText,
  request,
  show,
  staffToken,
  watchStaffConnection,
} from "./common.js";
import { locale, onLanguageChange, t } from "./i18n.js";
import { setupReports } from "./reports.js";
import {
  api,
  clockTime,
  DROPIN_TOPICS,
  followSignIn,
  resay,
  say,
  localMidnightIso,
  minSec,
  number,
  setupLanguage,
  topicWord,
} from "./staffkit.js";

const CHART_EVERY_MS = 10000; // at most one contact-record fetch per 10 s
const SYNC_MS = 60000;
const CHANNELS = ["video", "audio", "phone"];

const status = $("#status");
const error = $("#error");

let token = staffToken("supervisor");
let reports = null; // the reports view, set up once signed in
let socket = null;
let expired = false;

// team -> {figures, receivedAt}; a push for one team leaves the others as they were
const teams = new Map();
let snapshotAt = null;
let lastSummary = "";
let lastDropinSummary = "";
let lastCallbackSummary = "";
let callbacksSeen = false; // once a team had callback figures, the section stays


function fail(err) {
  if (err && err.code === "token_expired") {
    expired = true;
    say(error, () => t("console.expired"));
    say(status, "");
    show($("#no-token"), true);
    return;
  }
  say(error, () => errorText(err));
}

setupLanguage($("#lang"));
document.title = t("sup.doc_title");

// ------------------------------------------------------------ the load table

const n = (v) => (typeof v === "number" ? v : 0);

/** The cells of one team row: `data-field` -> value, from the snapshot (protocol 4.2). */
function cells(f, receivedAt, now) {
  const sessions = f.sessions || {};
  const channels = f.channels || {};
  const counsellors = f.counsellors || {};
  return {
    scheduled: n(sessions.scheduled),
    waiting: n(f.waiting),
    active: n(sessions.active),
    video: n(channels.video),
    audio: n(channels.audio),
    phone: n(channels.phone),
    oldest_wait:
      typeof f.oldest_wait_seconds === "number"
        ? minSec(f.oldest_wait_seconds + (now - receivedAt))
        : "–",
    online: n(counsellors.online),
    busy: n(counsellors.busy),
    free: n(counsellors.free),
  };
}

function teamRow(team) {
  const tr = document.createElement("tr");
  tr.dataset.team = team;
  const th = el("th", team);
  th.scope = "row";
  tr.append(th);
  for (const field of Object.keys(cells({}, 0, 0))) {
    const td = el("td", "", "num");
    td.dataset.field = field;
    tr.append(td);
  }
  return tr;
}

const LABELS = { oldest_wait: "sup.col_oldest" };
const labelOf = (field) => t(LABELS[field] || `sup.col_${field}`);

function render() {
  document.title = t("sup.doc_title");
  const rows = $("#team-rows");
  show($("#no-teams"), teams.size === 0);
  const now = Date.now() / 1000;
  let waiting = 0;
  let oldest = null;
  const sorted = [...teams.keys()].sort();
  sorted.forEach((team, index) => {
    const { figures, receivedAt } = teams.get(team);
    let tr = rows.querySelector(`tr[data-team="${CSS.escape(team)}"]`);
    if (!tr) tr = teamRow(team);
    if (rows.children[index] !== tr) rows.insertBefore(tr, rows.children[index] || null);
    const values = cells(figures, receivedAt, now);
    for (const [field, value] of Object.entries(values)) {
      const td = tr.querySelector(`[data-field="${field}"]`);
      const text = String(value);
      if (td.textContent !== text) td.textContent = text;
      td.dataset.label = labelOf(field); // the narrow layout shows it beside the value
    }
    tr.querySelector('[data-field="waiting"]').classList.toggle("busy-cell", values.waiting > 0);
    waiting += values.waiting;
    if (typeof figures.oldest_wait_seconds === "number") {
      const age = figures.oldest_wait_seconds + (now - receivedAt);
      oldest = oldest === null ? age : Math.max(oldest, age);
    }
  });
  const summary =
    waiting === 0
      ? t("sup.nobody_waits")
      : waiting === 1
        ? t("sup.waiting_one")
        : t("sup.waiting_many", { count: waiting });
  if (summary !== lastSummary) {
    $("#summary").textContent = summary; // only changes are announced
    lastSummary = summary;
  }
  $("#as-of").textContent =
    snapshotAt === null ? "–" : new Date(snapshotAt * 1000).toLocaleTimeString(locale());
  renderDropin(sorted, now);
  renderCallbacks(sorted);
  return oldest;
}

// ------------------------------------------------------------ drop-ins (protocol 3.4, 4.2)

const PRESENCES = ["available", "busy", "wrap_up", "away"];
const DROPIN_FIELDS = {
  waiting: ["queue", "sup.dropin_col_waiting"],
  oldest_wait: ["queue", "sup.dropin_col_oldest"],
  available: ["staff", "sup.dropin_col_available"],
  busy: ["staff", "sup.dropin_col_busy"],
  wrap_up: ["staff", "sup.dropin_col_wrap_up"],
  away: ["staff", "sup.dropin_col_away"],
  answered: ["today", "sup.dropin_col_answered"],
  abandoned: ["today", "sup.dropin_col_abandoned"],
  service_level: ["today", "sup.dropin_col_service_level"],
  abandonment: ["today", "sup.dropin_col_abandonment"],
};
const QUEUE_FIELDS = {
  waiting: [null, "sup.queue_col_waiting"],
  oldest_wait: [null, "sup.queue_col_oldest"],
};

/** "2 min" for 120 s, "90 s", "2:30 min". */
function targetText(seconds) {
  if (typeof seconds !== "number" || !(seconds > 0)) return "–";
  if (seconds % 60 === 0) return t("sup.minutes", { count: number(seconds / 60) });
  if (seconds < 60) return t("sup.seconds", { count: number(seconds) });
  return t("sup.minutes", { count: minSec(seconds) });
}

const share = (value) =>
  typeof value === "number" ? number(value * 100) : null;

/** A wait as the snapshot gave it, aged by the time since it came. */
const aged = (seconds, receivedAt, now) =>
  typeof seconds === "number" ? minSec(seconds + (now - receivedAt)) : "–";

function dropinCells(d, receivedAt, now) {
  const queues = Object.values(d.topics || {});
  const presence = d.presence || {};
  const today = d.today || {};
  let oldest = null;
  for (const q of queues) {
    if (typeof q.oldest_wait_seconds === "number") {
      oldest = oldest === null ? q.oldest_wait_seconds : Math.max(oldest, q.oldest_wait_seconds);
    }
  }
  const level = share(today.service_level);
  const abandonment = share(today.abandonment_rate);
  return {
    waiting: queues.reduce((sum, q) => sum + n(q.waiting), 0),
    oldest_wait: aged(oldest, receivedAt, now),
    ...Object.fromEntries(PRESENCES.map((p) => [p, n(presence[p])])),
    answered: n(today.answered),
    abandoned: n(today.abandoned),
    service_level:
      level === null
        ? t("sup.dropin_not_yet")
        : t("sup.dropin_sl", { pct: level, target: targetText(today.target_seconds) }),
    abandonment:
      abandonment === null ? t("sup.dropin_not_yet") : t("sup.dropin_rate", { pct: abandonment }),
  };
}

const GROUPS = { queue: "sup.dropin_group_queue", staff: "sup.dropin_group_staff",
  today: "sup.dropin_group_today" };

/**
 * Keep `tbody`'s rows in step with `items` ({key, heads: [row header texts], values}) and
 * change only the cells whose text changed, so a screen reader user keeps their place.
 */
function syncRows(tbody, items, fields, marked = "waiting") {
  const keep = new Set(items.map((item) => item.key));
  for (const tr of [...tbody.children]) if (!keep.has(tr.dataset.key)) tr.remove();
  items.forEach((item, index) => {
    let tr = [...tbody.children].find((row) => row.dataset.key === item.key);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.key = item.key;
      for (const [name, value] of Object.entries(item.data || {})) tr.dataset[name] = value;
      for (let i = 0; i < item.heads.length; i += 1) {
        const th = el("th", "");
        th.scope = "row";
        tr.append(th);
      }
      for (const field of Object.keys(fields)) {
        const td = el("td", "", "num");
        td.dataset.field = field;
        tr.append(td);
      }
    }
    if (tbody.children[index] !== tr) tbody.insertBefore(tr, tbody.children[index] || null);
    item.heads.forEach((head, i) => {
      const th = tr.children[i];
      if (th.textContent !== head) th.textContent = head;
    });
    for (const [field, [group, key]] of Object.entries(fields)) {
      const td = tr.querySelector(`[data-field="${field}"]`);
      const value = String(item.values[field]);
      if (td.textContent !== value) td.textContent = value;
      td.dataset.label = group ? `${t(GROUPS[group])}: ${t(key)}` : t(key);
    }
    const mark = tr.querySelector(`[data-field="${marked}"]`);
    if (mark) mark.classList.toggle("busy-cell", item.values[marked] > 0);
  });
}

function renderDropin(sorted, now) {
  const withDropin = sorted.filter((team) => teams.get(team).figures.dropin);
  show($("#dropin-load"), withDropin.length > 0);
  const rows = [];
  const queues = [];
  let waiting = 0;
  for (const team of withDropin) {
    const { figures, receivedAt } = teams.get(team);
    const d = figures.dropin;
    const values = dropinCells(d, receivedAt, now);
    waiting += values.waiting;
    rows.push({ key: team, heads: [team], values, data: { team } });
    const topics = Object.keys(d.topics || {}).sort(
      (a, b) => rank(a) - rank(b) || a.localeCompare(b),
    );
    for (const topic of topics) {
      const q = d.topics[topic];
      if (!n(q.waiting)) continue;
      queues.push({
        key: `${team}|${topic}`,
        heads: [team, topicWord(topic)],
        values: { waiting: n(q.waiting), oldest_wait: aged(q.oldest_wait_seconds, receivedAt, now) },
        data: { team, topic },
      });
    }
  }
  syncRows($("#dropin-rows"), rows, DROPIN_FIELDS);
  syncRows($("#queue-rows"), queues, QUEUE_FIELDS);
  show($("#queue-wrap"), queues.length > 0);
  show($("#queue-empty"), queues.length === 0);
  if (withDropin.length === 0) return;
  const summary =
    waiting === 0
      ? t("sup.dropin_nobody")
      : waiting === 1
        ? t("sup.dropin_one")
        : t("sup.dropin_many", { count: waiting });
  if (summary !== lastDropinSummary) {
    $("#dropin-summary").textContent = summary; // only changes are announced
    lastDropinSummary = summary;
  }
}

// ------------------------------------------------------------ callback requests (issue 9)

const CALLBACK_FIELDS = {
  open: [null, "sup.cb_col_open"],
  claimed: [null, "sup.cb_col_claimed"],
  due_today: [null, "sup.cb_col_due_today"],
  overdue: [null, "sup.cb_col_overdue"],
};
const CALLBACK_TOPIC_FIELDS = { open: [null, "sup.cb_col_open"] };

/** Per team: open, being handled, due today and overdue; open ones per topic beside. */
function renderCallbacks(sorted) {
  const withCallbacks = sorted.filter((team) => teams.get(team).figures.callbacks);
  callbacksSeen = callbacksSeen || withCallbacks.length > 0;
  show($("#callback-load"), callbacksSeen);
  const rows = [];
  const topics = [];
  let open = 0;
  let overdue = 0;
  for (const team of withCallbacks) {
    const c = teams.get(team).figures.callbacks;
    const values = Object.fromEntries(Object.keys(CALLBACK_FIELDS).map((f) => [f, n(c[f])]));
    if (!values.open) continue;
    open += values.open;
    overdue += values.overdue;
    rows.push({ key: team, heads: [team], values, data: { team } });
    const byTopic = c.topics || {};
    for (const topic of Object.keys(byTopic).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
      if (!n(byTopic[topic])) continue;
      topics.push({
        key: `${team}|${topic}`,
        heads: [team, topicWord(topic)],
        values: { open: n(byTopic[topic]) },
        data: { team, topic },
      });
    }
  }
  syncRows($("#callback-rows"), rows, CALLBACK_FIELDS, "overdue");
  syncRows($("#callback-topic-rows"), topics, CALLBACK_TOPIC_FIELDS, "none");
  show($("#callback-wrap"), rows.length > 0);
  show($("#callback-empty"), rows.length === 0);
  show($("#callback-topics-title"), topics.length > 0);
  show($("#callback-topics-wrap"), topics.length > 0);
  if (!callbacksSeen) return;
  let summary =
    open === 0
      ? t("sup.cb_summary_none")
      : open === 1
        ? t("sup.cb_summary_one")
        : t("sup.cb_summary_many", { count: open });
  if (overdue) summary += ` ${t("sup.cb_summary_overdue", { count: overdue })}`;
  if (summary !== lastCallbackSummary) {
    $("#callback-summary").textContent = summary; // only changes are announced
    lastCallbackSummary = summary;
  }
}

function rank(topic) {
  const i = DROPIN_TOPICS.indexOf(topic);
  return i < 0 ? DROPIN_TOPICS.length : i;
}

function ingest(snapshot) {
  if (!snapshot || typeof snapshot.teams !== "object" || snapshot.teams === null) return;
  const receivedAt = Date.now() / 1000;
  for (const [team, figures] of Object.entries(snapshot.teams)) {
    if (figures && typeof figures === "object") teams.set(team, { figures, receivedAt });
  }
  snapshotAt = typeof snapshot.at === "number" ? snapshot.at : receivedAt;
  render();
}

// ------------------------------------------------------------ today's channels chart

const chart = $("#channel-chart");
const SVG = chart.namespaceURI; // the HTML parser put it in the SVG namespace
let counts = null; // {video, audio, phone, none}
let chartAt = null;
let lastChartFetch = 0;
let chartTimer = null;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/** Each record counts once, for the channel it spent the most seconds on. */
function countByChannel(records) {
  const out = { video: 0, audio: 0, phone: 0, none: 0 };
  for (const r of records) {
    let best = null;
    let most = 0;
    for (const channel of CHANNELS) {
      const s = n(r.seconds && r.seconds[channel]);
      if (s > most) {
        best = channel;
        most = s;
      }
    }
    out[best || "none"] += 1;
  }
  return out;
}

function renderChart() {
  if (!counts) return;
  const words = Object.fromEntries(CHANNELS.map((c) => [c, t(`channel.${c}`)]));
  $("#chart-svg-title").textContent = t("sup.chart_svg_title");
  $("#chart-svg-desc").textContent = t("sup.chart_desc", counts);

  for (const node of [...chart.children]) {
    if (node.tagName !== "title" && node.tagName !== "desc") node.remove();
  }
  const base = 160;
  const tallest = 125;
  const max = Math.max(1, ...CHANNELS.map((c) => counts[c]));
  const g = svg("g", { "aria-hidden": "true" });
  g.append(svg("line", { x1: 10, y1: base + 0.5, x2: 290, y2: base + 0.5, class: "axis" }));
  CHANNELS.forEach((channel, i) => {
    const value = counts[channel];
    const height = Math.round((value / max) * tallest);
    const x = 25 + i * 90;
    g.append(
      svg("rect", {
        x,
        y: base - height,
        width: 70,
        height,
        class: `bar bar-${channel}`,
        "data-channel": channel,
        "data-count": value,
      }),
      svg("text", { x: x + 35, y: base - height - 7, "text-anchor": "middle", class: "value" }, value),
      svg("text", { x: x + 35, y: base + 22, "text-anchor": "middle", class: "label" }, words[channel]),
    );
  });
  chart.append(g);

  $("#channel-rows").replaceChildren(
    ...CHANNELS.map((channel) => {
      const tr = document.createElement("tr");
      tr.dataset.channel = channel;
      const th = el("th", words[channel]);
      th.scope = "row";
      tr.append(th, el("td", number(counts[channel])));
      return tr;
    }),
  );
  const note = [t("sup.chart_note", { none: counts.none })];
  if (chartAt) note.push(t("sup.chart_as_of", { time: clockTime(chartAt) }));
  $("#chart-note").textContent = note.join(" ");
}

async function fetchChart() {
  lastChartFetch = Date.now();
  const from = encodeURIComponent(localMidnightIso());
  const result = await api("GET", `/api/contacts?from=${from}`, token);
  if (!result.ok) {
    if (result.error && result.error.code === "token_expired") fail(result.error);
    else $("#chart-error").textContent = t("sup.chart_failed");
    return;
  }
  $("#chart-error").textContent = "";
  counts = countByChannel(result.data.contacts || []);
  chartAt = Date.now() / 1000;
  show($("#chart-section"), true);
  renderChart();
}

/** After a `load` push: fetch now, or once the 10 s since the last fetch are over. */
function scheduleChart() {
  if (chartTimer) return;
  const wait = lastChartFetch + CHART_EVERY_MS - Date.now();
  if (wait <= 0) {
    fetchChart();
  } else {
    chartTimer = setTimeout(() => {
      chartTimer = null;
      fetchChart();
    }, wait);
  }
}

// ------------------------------------------------------------ sign-in and the socket


const warnBeforeExpiry = followSignIn("supervisor", {
  token: () => token,
  socket: () => socket,
  adopt: (fresh) => {
    token = fresh;
    expired = false;
    say(error, "");
    show($("#no-token"), false);
  },
  start: () => start(),
  status,
  say,
  fail,
});

function start() {
  say(status, () => t("console.connecting"));
  socket = connect("/supervisor", () => ({ token }));
  warnBeforeExpiry();

  socket.on("connect", () => {
    expired = false;
    say(status, () => t("console.connected"));
    say(error, "");
    show($("#no-token"), false);
    show($("#load"), true);
    fetchChart();
    if (!reports) reports = setupReports(() => token, fail);
  });

  watchStaffConnection(socket, "supervisor", status, fail);
  socket.on("disconnect", () => {
    if (expired) say(status, "");
    else say(status, () => t("conn.dropped"));
  });

  socket.on("load", (snapshot) => {
    ingest(snapshot);
    scheduleChart();
  });
  socket.on("error", fail);

  // the longest wait keeps counting between pushes; a sync now and then corrects drift
  setInterval(render, 1000);
  setInterval(async () => {
    if (!socket.connected) return;
    const ack = await request(socket, "sync");
    if (ack.ok) ingest(ack.load);
  }, SYNC_MS);
}

onLanguageChange(() => {
  resay();
  lastSummary = "";
  lastDropinSummary = "";
  lastCallbackSummary = "";
  render();
  renderChart();
  if (reports) reports.rerender();
});

if (!token) {
  say(status, "");
  show($("#no-token"), true);
} else {
  start();
}
