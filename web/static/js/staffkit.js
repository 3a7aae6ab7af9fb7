// Helpers shared by the two staff pages (/staff, /supervisor): language choice, times,
// clipboard, the waiting-room chime, confirmations, keeping focus across re-renders.
import { request, staffToken, fetchJSON } from "./common.js";

export { copyText } from "./common.js";
import { LANGUAGES, language, locale, setLanguage, t } from "./i18n.js";
import "./texts-staff.js";

/** Both staff pages remember the chosen language under one key. */
export const LANG_KEY = "cb.lang.staff";
export const STAFF_LANGUAGES = ["de", "en"];

/**
 * Wire the page's `<select id="lang">`: start with `?lang=`, then the stored choice, then
 * German (a German authority's console: English only when chosen, not from the browser).
 */
export function setupLanguage(select, storageKey = LANG_KEY) {
  let lang = new URLSearchParams(location.search).get("lang");
  if (!STAFF_LANGUAGES.includes(lang)) {
    try {
      lang = localStorage.getItem(storageKey);
    } catch {
      lang = null;
    }
  }
  if (!STAFF_LANGUAGES.includes(lang)) lang = "de";
  select.value = lang;
  setLanguage(lang);
  select.addEventListener("change", () => setLanguage(select.value, storageKey));
}

/** The drop-in topics (protocol 3.4), in the order the pages list them. */
export const DROPIN_TOPICS = ["benefits", "placement", "self_employed", "youth", "general"];

/** "Leistungen/Bürgergeld" for `benefits`; an unknown topic as it is. */
export function topicWord(topic) {
  const key = `topic.${topic}`;
  const text = t(key);
  return text === key ? topic : text;
}

export function formatCode(code) {
  return String(code || "")
    .replace(/\D/g, "")
    .replace(/(\d{3})(?=\d)/g, "$1 ");
}

export function fill(template, vars) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in vars ? String(vars[name]) : whole,
  );
}

/** "10:30" in the console's language. */
export function clockTime(unixSeconds) {
  if (typeof unixSeconds !== "number") return "";
  return new Date(unixSeconds * 1000).toLocaleTimeString(locale(), {
    hour: "2-digit",
    minute: "2-digit",
  });
}

function sameDay(a, b) {
  return (
    a.getFullYear() === b.getFullYear() &&
    a.getMonth() === b.getMonth() &&
    a.getDate() === b.getDate()
  );
}

/** "10:30" today, "24.11. 10:30" another day. */
export function shortWhen(unixSeconds) {
  if (typeof unixSeconds !== "number") return "";
  const d = new Date(unixSeconds * 1000);
  if (sameDay(d, new Date())) return clockTime(unixSeconds);
  const day = d.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit" });
  return `${day} ${clockTime(unixSeconds)}`;
}

/** "Montag, 23. November 2026, 10:30 Uhr" / "Monday 23 November 2026, 10:30". */
export function longWhen(unixSeconds, lang) {
  const d = new Date(unixSeconds * 1000);
  const loc = (LANGUAGES[lang] || LANGUAGES.de).locale;
  const date = d.toLocaleDateString(loc, {
    weekday: "long",
    day: "numeric",
    month: "long",
    year: "numeric",
  });
  const time = d.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit" });
  return lang === "de" ? `${date}, ${time} Uhr` : `${date}, ${time}`;
}

/** "3:07" (minutes:seconds). */
export function minSec(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Format a number for the console's language ("0,5" in German). */
export function number(value, digits = 0) {
  return Number(value).toLocaleString(locale(), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Local midnight of `date` as ISO 8601 with the zone offset, e.g. 2026-11-23T00:00:00+01:00. */
export function localMidnightIso(date = new Date()) {
  const d = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const offset = -d.getTimezoneOffset(); // minutes east of UTC
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T00:00:00` +
    `${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}

/** Authorised JSON request to the broker's REST API: `{ok, data}` or `{ok: false, error}`. */
export function api(method, path, token) {
  return fetchJSON(method, path, { token });
}

/** The `exp` of a JWT in Unix seconds, or null (the token is not read for anything else). */
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

/**
 * A short two-tone chime made with WebAudio (no audio file). Browsers only let a page make
 * sound after the person used it once, so the audio context is created on the first click or
 * key press. `muted` is remembered.
 */
export class Chime {
  constructor(storageKey) {
    this.storageKey = storageKey;
    this.context = null;
    this.played = 0;
    try {
      this.muted = localStorage.getItem(storageKey) === "off";
    } catch {
      this.muted = false;
    }
    const unlock = () => {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      if (!this.context) {
        try {
          this.context = new Context();
        } catch {
          return;
        }
      }
      if (this.context.state === "suspended") this.context.resume().catch(() => {});
      window.removeEventListener("pointerdown", unlock, true);
      window.removeEventListener("keydown", unlock, true);
    };
    window.addEventListener("pointerdown", unlock, true);
    window.addEventListener("keydown", unlock, true);
  }

  get ready() {
    return !!this.context && this.context.state === "running";
  }

  setMuted(muted) {
    this.muted = muted;
    try {
      localStorage.setItem(this.storageKey, muted ? "off" : "on");
    } catch {
      /* private mode */
    }
  }

  /** Play it unless muted; true if it sounded. */
  play() {
    if (this.muted || !this.ready) return false;
    const ctx = this.context;
    const now = ctx.currentTime;
    for (const [frequency, at] of [
      [660, 0],
      [880, 0.2],
    ]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.3, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.45);
    }
    this.played += 1;
    return true;
  }
}

/**
 * Ask in the page's `<dialog>` (modal: focus stays inside, Escape cancels). Resolves true
 * for yes. Focus returns to where it was.
 */
export function confirmDialog(dialog, { message, yes, no }) {
  const back = document.activeElement;
  const mark = back && back.dataset ? [back.dataset.session, back.dataset.action] : [];
  dialog.querySelector("[data-role=message]").textContent = message;
  const yesButton = dialog.querySelector("[data-role=yes]");
  const noButton = dialog.querySelector("[data-role=no]");
  yesButton.textContent = yes;
  noButton.textContent = no;
  return new Promise((resolve) => {
    const done = (answer) => {
      yesButton.removeEventListener("click", onYes);
      noButton.removeEventListener("click", onNo);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      let target = back && back.isConnected ? back : null;
      if (!target && mark[0] && mark[1]) {
        // the list was re-rendered meanwhile: the same button in the new list
        target = document.querySelector(
          `[data-session="${CSS.escape(mark[0])}"][data-action="${CSS.escape(mark[1])}"]`,
        );
      }
      if (target && typeof target.focus === "function") target.focus();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    const onClose = () => done(false); // Escape
    yesButton.addEventListener("click", onYes);
    noButton.addEventListener("click", onNo);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    noButton.focus(); // the safe answer first
  });
}

/**
 * Re-render `container` without losing the keyboard focus: a focused control marked with
 * `data-<key>` (a session by default) and `data-action` is focused again in the new content.
 */
export function keepFocus(container, render, key = "session") {
  const active = document.activeElement;
  let id = null;
  let action = null;
  if (active && container.contains(active)) {
    id = active.dataset[key] || null;
    action = active.dataset.action || null;
  }
  render();
  if (id && action && !container.contains(document.activeElement)) {
    const again = container.querySelector(
      `[data-${key}="${CSS.escape(id)}"][data-action="${CSS.escape(action)}"]`,
    );
    if (again) again.focus();
  }
}

export { language };

const EXPIRY_WARNING_S = 300;

/**
 * A staff page's sign-in over time: warn five minutes before the token ends, and when a
 * new sign-in link is opened in this tab (only the fragment changes), carry on with it:
 * `reauth` on a live socket, a reconnect otherwise. `page` names the stored token.
 */
export function followSignIn(page, { token, socket, adopt, start, status, say, fail }) {
  let timer = null;
  function warn() {
    clearTimeout(timer);
    const current = token();
    const exp = current && tokenExpiry(current);
    if (!exp) return;
    const delay = (exp - EXPIRY_WARNING_S) * 1000 - Date.now();
    if (delay <= 0 || delay > 2 ** 31 - 1) return;
    timer = setTimeout(
      () => say(status, () => t("console.expires_soon", { time: clockTime(exp) })),
      delay,
    );
  }
  window.addEventListener("hashchange", async () => {
    if (!/^#token=/.test(location.hash)) return;
    const fresh = staffToken(page);
    if (!fresh) return;
    adopt(fresh);
    warn();
    const live = socket();
    if (!live) start();
    else if (live.connected) {
      const ack = await request(live, "reauth", { token: fresh });
      if (ack.ok) say(status, () => t("console.renewed"));
      else fail(ack.error);
    } else live.connect();
  });
  return warn;
}

const liveTexts = new Map(); // node -> () => text, re-run when the language changes

/** Set a node's text; a function is re-run when the language changes (status lines). */
export function say(node, text) {
  if (typeof text === "function") {
    liveTexts.set(node, text);
    node.textContent = text();
  } else {
    liveTexts.delete(node);
    node.textContent = text || "";
  }
}

/** Re-render every text given to `say` as a function, in the current language. */
export function resay() {
  for (const [node, text] of liveTexts) node.textContent = text();
}
