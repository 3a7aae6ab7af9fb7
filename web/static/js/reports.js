// The supervisor page's reports: contacts by channel per period, call durations per channel,
// a table in the grouping the team lead chooses, and the same as CSV for the controller.
// Everything comes from GET /api/reports (protocol 5); the page computes no figure itself.

import { $, el, errorText, show } from "./common.js";
import { t } from "./i18n.js";
import { api, number, say } from "./staffkit.js";

const CHANNELS = ["video", "audio", "phone", "none"];
const DAY_MS = 86400000;

/** "2026-11-23" for a local date (what <input type="date"> holds). */
function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The day after an <input type="date"> value: the API's `to` is exclusive. */
function dayAfter(value) {
  const [y, m, d] = value.split("-").map(Number);
  return isoDate(new Date(y, m - 1, d + 1));
}

function svg(tag, attrs, text) {
  // the namespace as the HTML parser gave it to the chart (no URL spelled out here)
  const node = document.createElementNS($("#rep-period-chart").namespaceURI, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

const percent = (v) => (typeof v === "number" ? `${number(v * 100, 1)} %` : "–");
const minutes = (s) => (typeof s === "number" ? number(s / 60, 1) : "–");

/** The table's columns after the group columns: [text key, value of a figures object]. */
const FIGURES = [
  ["rep.col_contacts", (f) => number(f.contacts)],
  ["rep.col_minutes_total", (f) => minutes(f.seconds.all.total)],
  ["rep.col_minutes_mean", (f) => minutes(f.seconds.all.mean)],
  ["rep.col_minutes_median", (f) => minutes(f.seconds.all.median)],
  ["rep.col_minutes_p90", (f) => minutes(f.seconds.all.p90)],
  ["rep.col_waiting_mean", (f) => minutes(f.waiting_seconds.mean)],
  ["rep.col_no_show", (f) => percent(f.no_show_rate)],
  ["rep.col_fallback", (f) => percent(f.fallback_rate)],
  ["rep.col_failure", (f) => percent(f.connection_failure_rate)],
  ["rep.col_outside_hours", (f) => percent(f.outside_hours_share)],
  ["rep.col_satisfaction", (f) =>
    f.satisfaction && typeof f.satisfaction.mean === "number"
      ? `${number(f.satisfaction.mean, 1)} (${number(f.satisfaction.count)})`
      : "–"],
];

function groupLabel(key, value) {
  if (key === "channel" || key === "kind") return t(`rep.${key}_${value}`);
  return value;
}

export function setupReports(getToken, onExpired) {
  const form = $("#report-form");
  const status = $("#rep-status");
  const error = $("#rep-error");
  let last = null; // the query of what is shown, for the downloads

  const today = new Date();
  $("#rep-to").value = isoDate(today);
  $("#rep-from").value = isoDate(new Date(today.getTime() - 27 * DAY_MS));

  function query(groupBy, format = "json") {
    const params = new URLSearchParams({
      from: $("#rep-from").value,
      to: dayAfter($("#rep-to").value),
      group_by: groupBy.join(","),
      format,
    });
    return `/api/reports?${params}`;
  }

  function chosenGrouping() {
    const period = $("#rep-period").value;
    const extra = [...form.querySelectorAll('input[name="rep-by"]:checked')].map((i) => i.value);
    return [...(period ? [period] : []), ...extra];
  }

  async function fetchReport(groupBy) {
    const result = await api("GET", query(groupBy), getToken());
    if (!result.ok && result.error && result.error.code === "token_expired") onExpired(result.error);
    return result;
  }

  async function run(event) {
    if (event) event.preventDefault();
    say(error, "");
    if (!$("#rep-from").value || !$("#rep-to").value || $("#rep-from").value > $("#rep-to").value) {
      say(error, () => t("rep.bad_period"));
      $("#rep-from").focus();
      return;
    }
    say(status, () => t("rep.loading"));
    const grouping = chosenGrouping();
    const period = $("#rep-period").value || "day";
    const [table, perDay, durations] = await Promise.all([
      fetchReport(grouping),
      fetchReport([period, "channel"]),
      fetchReport(["channel"]),
    ]);
    const failed = [table, perDay, durations].find((r) => !r.ok);
    if (failed) {
      say(status, "");
      // the one refusal a valid form can get: counsellors before the retention horizon
      const retention = failed.error && failed.error.code === "bad_request" &&
        grouping.includes("counsellor");
      say(error, () => (retention ? t("rep.retention") : errorText(failed.error)));
      return;
    }
    last = grouping;
    renderTable(table.data);
    renderPerPeriod(perDay.data, period);
    renderDurations(durations.data);
    show($("#rep-results"), true);
    say(status, () => t("rep.shown", { count: table.data.total.contacts }));
  }

  function renderTable(report) {
    const keys = report.group_by;
    const head = document.createElement("tr");
    for (const key of keys) {
      const th = el("th", t(`rep.by_${key}`));
      th.scope = "col";
      head.append(th);
    }
    for (const [label] of FIGURES) {
      const th = el("th", t(label), "num");
      th.scope = "col";
      head.append(th);
    }
    $("#rep-table thead").replaceChildren(head);
    const rows = report.rows.map((row) => {
      const tr = document.createElement("tr");
      keys.forEach((key, i) => {
        const cell = el(i === 0 ? "th" : "td", groupLabel(key, row.group[key]));
        if (i === 0) cell.scope = "row";
        tr.append(cell);
      });
      for (const [, value] of FIGURES) tr.append(el("td", value(row), "num"));
      return tr;
    });
    $("#rep-table tbody").replaceChildren(...rows);
    const total = document.createElement("tr");
    const th = el("th", t("rep.total"));
    th.scope = "row";
    if (keys.length > 1) th.colSpan = keys.length;
    total.append(th);
    if (keys.length === 0) total.firstChild.scope = "row";
    for (const [, value] of FIGURES) total.append(el("td", value(report.total), "num"));
    $("#rep-table tfoot").replaceChildren(total);
    show($("#rep-empty"), report.rows.length === 0);
  }

  /** Stacked bars: contacts per period, one colour (and pattern) per channel. */
  function renderPerPeriod(report, period) {
    const chart = $("#rep-period-chart");
    const byPeriod = new Map();
    for (const row of report.rows) {
      const key = row.group[period];
      if (!byPeriod.has(key)) byPeriod.set(key, { video: 0, audio: 0, phone: 0, none: 0 });
      byPeriod.get(key)[row.group.channel] = row.contacts;
    }
    const labels = [...byPeriod.keys()].sort();
    const width = Math.max(320, 40 + labels.length * 28);
    chart.setAttribute("viewBox", `0 0 ${width} 230`);
    for (const node of [...chart.querySelectorAll("g")]) node.remove();
    const max = Math.max(1, ...labels.map((k) => CHANNELS.reduce((s, c) => s + byPeriod.get(k)[c], 0)));
    const base = 180;
    const g = svg("g", {});
    g.append(svg("line", { x1: 30, y1: base + 0.5, x2: width - 5, y2: base + 0.5, class: "axis" }));
    g.append(svg("text", { x: 26, y: 20, "text-anchor": "end", class: "label" }, max));
    labels.forEach((key, i) => {
      const x = 36 + i * 28;
      let top = base;
      for (const channel of CHANNELS) {
        const value = byPeriod.get(key)[channel];
        if (!value) continue;
        const height = (value / max) * 160;
        top -= height;
        g.append(svg("rect", { x, y: top, width: 20, height, class: `bar bar-${channel}`,
                               "data-period": key, "data-channel": channel, "data-count": value }));
      }
      if (labels.length <= 16 || i % Math.ceil(labels.length / 16) === 0) {
        g.append(svg("text", { x: x + 10, y: base + 16, "text-anchor": "end", class: "tick",
                               transform: `rotate(-45 ${x + 10} ${base + 16})` },
                     key.length > 7 ? key.slice(5) : key));
      }
    });
    chart.append(g);
    const desc = labels.map((k) => {
      const c = byPeriod.get(k);
      return `${k}: ${CHANNELS.filter((ch) => c[ch]).map((ch) => `${t(`rep.channel_${ch}`)} ${c[ch]}`).join(", ")}`;
    });
    $("#rep-period-desc").textContent = desc.length ? desc.join("; ") : t("rep.none");
    $("#rep-legend").replaceChildren(
      ...CHANNELS.map((channel) => {
        const li = el("li");
        const swatch = el("span", "", `swatch bar-${channel}`);
        swatch.setAttribute("aria-hidden", "true");
        li.append(swatch, document.createTextNode(t(`rep.channel_${channel}`)));
        return li;
      }),
    );
  }

  /** Per channel: median and 90th percentile of the call time, in minutes. */
  function renderDurations(report) {
    const rows = report.rows.filter((r) => r.group.channel !== "none");
    const body = rows.map((row) => {
      const s = row.seconds[row.group.channel] || row.seconds.all;
      const tr = document.createElement("tr");
      const th = el("th", t(`rep.channel_${row.group.channel}`));
      th.scope = "row";
      tr.append(th, el("td", number(row.contacts), "num"), el("td", minutes(s.median), "num"),
                el("td", minutes(s.p90), "num"), el("td", minutes(s.mean), "num"));
      tr.dataset.channel = row.group.channel;
      return tr;
    });
    $("#rep-duration-rows").replaceChildren(...body);
    show($("#rep-duration-empty"), rows.length === 0);
  }

  async function download(format) {
    say(error, "");
    const grouping = last || chosenGrouping();
    let response;
    try {
      response = await fetch(query(grouping, format), {
        headers: { Authorization: `Bearer ${getToken()}` },
      });
    } catch {
      say(error, () => t("rep.download_failed"));
      return;
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      say(error, () => errorText(body && body.error));
      return;
    }
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(disposition);
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = match ? match[1] : "kontakte.csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    say(status, () => t("rep.downloaded"));
  }

  form.addEventListener("submit", run);
  $("#rep-csv").addEventListener("click", () => download("csv"));
  $("#rep-csv-de").addEventListener("click", () => download("csv-de"));
  show($("#reports"), true);
  return { rerender: () => last && run() };
}
