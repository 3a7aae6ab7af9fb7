// Shared helpers for every page: DOM shortcuts, tokens, socket.io. Texts: i18n.js.
import { t } from "./i18n.js";
import "./texts-common.js";

export const PROTOCOL = 1;
const ACK_TIMEOUT_MS = 10000;


export const STATES = {
  scheduled: "geplant",
  waiting: "wartet",
  active: "im Gespräch",
  ended: "beendet",
  cancelled: "abgesagt",
  no_show: "nicht erschienen",
};

export const CHANNELS = { video: "Video", audio: "Audio", phone: "Telefon" };

export const END_REASONS = {
  completed: "Das Gespräch ist beendet.",
  customer_left: "Das Gespräch wurde verlassen.",
  no_show: "Der Termin wurde nicht wahrgenommen.",
  connection_failed: "Das Gespräch wurde wegen Verbindungsproblemen beendet.",
  timeout: "Die Verbindung ist abgebrochen.",
  interrupted: "Das Gespräch wurde unterbrochen.",
  cancelled: "Der Termin wurde abgesagt.",
};

export const $ = (selector, root = document) => root.querySelector(selector);

export function show(element, visible) {
  element.hidden = !visible;
}

export function errorText(error) {
  if (!error) return t("error.unknown");
  const key = `error.${error.code}`;
  const text = t(key);
  return text !== key ? text : error.message || t("error.unknown");
}

/** Create an element with text content (never innerHTML: names come from other people). */
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function button(text, onClick, className) {
  const b = el("button", text, className);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

export function clock(unixSeconds) {
  if (typeof unixSeconds !== "number") return "";
  return new Date(unixSeconds * 1000).toLocaleTimeString("de-DE", {
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function minutes(seconds) {
  if (typeof seconds !== "number") return "–";
  const m = Math.floor(seconds / 60);
  const s = Math.floor(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")} min`;
}

/**
 * A staff token for `page`: from the fragment `#token=...` (then removed from the address
 * bar), otherwise the one kept in sessionStorage for this tab.
 */
export function staffToken(page) {
  const key = `cb.token.${page}`;
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(key, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(key);
}

export function forgetStaffToken(page) {
  sessionStorage.removeItem(`cb.token.${page}`);
}

/**
 * The connection status a staff page shows: refusals as errors (a bad token is forgotten
 * and the sign-in hint shown), drops as "reconnecting".
 */
export function watchStaffConnection(socket, page, status, showError) {
  socket.on("connect_error", (err) => {
    const refused = refusal(err);
    if (refused) {
      status.textContent = "";
      showError(refused);
      if (["unauthenticated", "token_expired", "forbidden"].includes(refused.code)) {
        forgetStaffToken(page);
        show($("#no-token"), true);
      }
    } else {
      status.textContent = t("conn.offline");
    }
  });
  socket.on("disconnect", () => {
    status.textContent = t("conn.dropped");
  });
}

/**
 * Connect to a namespace. `auth` is a function returning the auth fields, so every
 * reconnect sends the current values (the customer's device secret, for one).
 */
export function connect(namespace, auth) {
  if (typeof window.io !== "function") {
    const error = document.getElementById("error");
    if (error) {
      error.textContent = t("error.page_incomplete");
    }
    throw new Error("socket.io client missing: run `npm install --prefix web` on the server");
  }
  return window.io(location.origin + namespace, {
    auth: (cb) => cb({ ...auth(), v: PROTOCOL }),
    transports: ["websocket"],
  });
}

/** Emit with an acknowledgement; resolves to `{ok, ...}` or `{ok: false, error}`. */
export async function request(socket, event, data = {}) {
  try {
    return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, { ...data, v: PROTOCOL });
  } catch {
    return { ok: false, error: { code: "timeout", message: "no acknowledgement" } };
  }
}

/** Fire and forget (signals): no ack needed, order is kept by the socket. */
export function send(socket, event, data) {
  socket.emit(event, { ...data, v: PROTOCOL });
}

/** The refusal carried by `connect_error`: `err.data = {code, message}`. */
export function refusal(err) {
  if (err && err.data && typeof err.data.code === "string") return err.data;
  return null;
}

/** A JSON request to the broker's REST API: `{ok, data}` or `{ok: false, error}`. */
export async function fetchJSON(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, error: { code: "timeout", message: "network error" } };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    return { ok: false, error: (data && data.error) || { code: "internal", message: "" } };
  }
  return { ok: true, data };
}

export function postJSON(path, body, token) {
  return fetchJSON("POST", path, { body, token });
}

/** Copy `text`; false when neither the clipboard API nor the fallback worked. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // not allowed (no focus, no permission): try the old way
  }
  const active = document.activeElement;
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (e) {
    ok = false;
  }
  area.remove();
  if (active && typeof active.focus === "function") active.focus();
  return ok;
}
