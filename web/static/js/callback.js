// /r#<token>: the customer's personal page of a callback request (made on a team's entry
// page, dropin.js, or handed out by a counsellor). It follows the request on the `/callback`
// socket: its state and deadline, and, when a counsellor calls back by video, a ring
// (visible, audible, the focus on "Annehmen"). Accepting hands over to the customer page of
// that session exactly as the entry page does: a note in sessionStorage (read once by
// customer.js), then /j#<session token>. All texts: texts-callback.js.
//
// The token stays in the fragment, so no server log ever sees it; this page's address is the
// personal link to keep.
//
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

import { $, connect, copyText, errorText, fetchJSON, refusal, request, show } from "./common.js";
import { LANGUAGES, language, locale, t } from "./i18n.js";
import "./texts-customer.js";
import "./texts-callback.js";
import { chooseLanguage, put, say } from "./customerkit.js";
import { Ringer } from "./ringer.js";

const HANDOVER_KEY = "cb.handover"; // read once by customer.js: {token, mode}
const CALLBACK_KEY = "cb.callback."; // + team: the link kept by the entry page (dropin.js)
const FRESH_KEY = "cb.callback.fresh"; // the entry page just made this request
const SETTLED = ["done", "unreached", "cancelled"];
// a refused connect is not retried by socket.io itself: these codes are worth a retry
const RETRY_MS = { rate_limited: 5000, unavailable: 15000, internal: 15000 };
const AUDIBLE_MS = 120000; // the tone stops after two minutes; the alert stays while it rings
const VIBRATE = [500, 250, 500, 250, 500];
const TEST_TONE_MS = 1200;

const status = $("#status");
const errorBox = $("#error");
const token = location.hash.slice(1);

let view = null; // the request as the broker last told it (`callback_state`)
let ringing = null; // {session, token} while a counsellor calls by video
let accepting = false;
let fresh = false; // made a moment ago on the entry page: "your callback is requested"
let socket = null;
let dropped = false;
let focusBefore = null;
let audibleTimer = null;
let sound = "off"; // the ring tone: "playing", "blocked" (not allowed yet) or "off"

const audio = { context: null, muted: false };
const ringer = new Ringer(audio);

const webrtcAvailable = () =>
  typeof window.RTCPeerConnection === "function" &&
  !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

// ------------------------------------------------------------ language and the address

/** This page's address, the personal link: the language in the query, the token after #. */
function personalLink() {
  return location.origin + "/r?lang=" + encodeURIComponent(language()) + "#" + token;
}

function setupLanguage() {
  chooseLanguage(() => {
    if (view) render(view);
    if (ringing) document.title = t("callback.ring.doc_title");
  });
  $("#lang").addEventListener("change", () => {
    // a bookmark made now opens in this language (the fragment stays as it is)
    if (token) history.replaceState(null, "", "/r?lang=" + encodeURIComponent(language()) + location.hash);
  });
}

// ------------------------------------------------------------ words for times and facts

function clockOf(d) {
  return d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

function dayOf(d) {
  return d.toLocaleDateString(locale(), { weekday: "long", day: "numeric", month: "long" });
}

/** "Dienstag, 14. Mai, 18:00 Uhr" in the page's language. */
function whenText(seconds) {
  const d = new Date(seconds * 1000);
  return t("callback.at", { day: dayOf(d), time: clockOf(d) });
}

function spanText(span) {
  const from = new Date(span[0] * 1000);
  const to = new Date(span[1] * 1000);
  return t("callback.span", { day: dayOf(from), from: clockOf(from), to: clockOf(to) });
}

function languageName(code) {
  return LANGUAGES[code] ? LANGUAGES[code].name : code;
}

// ------------------------------------------------------------ the request

function settled() {
  return !!view && SETTLED.indexOf(view.state) >= 0;
}

function stateText() {
  const v = view;
  if (v.state === "open" || v.state === "claimed") {
    return t("callback.state." + v.state, { deadline: whenText(v.deadline) });
  }
  return t("callback.state." + v.state);
}

function render(v) {
  if (!v || typeof v.state !== "string") return;
  const first = view === null;
  const before = view ? view.state : null;
  view = v;
  if (first) {
    try {
      fresh = sessionStorage.getItem(FRESH_KEY) === v.callback;
      if (fresh) sessionStorage.removeItem(FRESH_KEY);
    } catch (e) {
      fresh = false;
    }
    say(status, null);
    show($("#request"), true);
  }
  const over = settled();
  say($("#request-title"), fresh && !over ? "callback.title.new" : "callback.title");
  // a live region: only a change of state is read out (a new language re-renders it)
  if (first || before !== v.state) put($("#state-text"), stateText);
  $("#fact-topic").textContent = t("topic." + v.topic);
  $("#fact-language").textContent = languageName(v.language);
  $("#fact-reach").textContent = t(v.reach === "video" ? "callback.reach.video" : "callback.reach.phone");
  $("#fact-urgent").textContent = t(v.urgent ? "callback.yes" : "callback.no");
  const span = Array.isArray(v.window) && v.window.length === 2 ? v.window : null;
  $("#fact-window").textContent = span ? spanText(span) : t("callback.window.none");

  const video = v.reach === "video";
  show($("#next"), !over);
  show($("#next-phone"), !video);
  for (const id of ["#next-video-ring", "#next-video-open", "#next-video-direct", "#sound-box"]) {
    show($(id), video);
  }
  show($("#link-box"), !over);
  $("#personal-link").value = personalLink();
  show($("#withdraw-box"), !over);
  if (over) closeConfirm(false);
  show($("#again-box"), over);
  $("#again").href = "/t/" + encodeURIComponent(v.team) + "?lang=" + encodeURIComponent(language());
  if (over) forgetKept(v.team);

  if (v.ringing && !over) ring(v.ringing);
  else if (ringing) stopRinging(!over);
}

/** The entry page's kept link goes once the request is settled. */
function forgetKept(team) {
  try {
    const kept = JSON.parse(localStorage.getItem(CALLBACK_KEY + team) || "null");
    if (kept && kept.token === token) localStorage.removeItem(CALLBACK_KEY + team);
  } catch (e) {
    /* no storage */
  }
}

function forgetKeptEverywhere() {
  try {
    for (let i = localStorage.length - 1; i >= 0; i -= 1) {
      const key = localStorage.key(i);
      if (key && key.indexOf(CALLBACK_KEY) === 0 && key !== FRESH_KEY) {
        const kept = JSON.parse(localStorage.getItem(key) || "null");
        if (kept && kept.token === token) localStorage.removeItem(key);
      }
    }
  } catch (e) {
    /* no storage */
  }
}

// ------------------------------------------------------------ ringing

function renderRing() {
  const box = $("#ring");
  box.dataset.sound = ringing ? sound : "off";
  box.dataset.oscillators = String(ringer.started);
  say($("#ring-sound"), ringing && sound === "blocked" ? "callback.ring.silent" : null);
}

/** A counsellor calls by video: the alert, the tone, a buzz, the focus on "Annehmen". */
function ring(call) {
  if (!call || typeof call.token !== "string" || !call.token || accepting) return;
  const first = !ringing;
  ringing = call;
  if (!first) return;
  const active = document.activeElement;
  focusBefore = active && active !== document.body ? active : null;
  say(status, null);
  show($("#ring"), true);
  // a browser that lets this page sound (the customer used it, or came here by a click on
  // the entry page) rings at once; otherwise the first tap does (see `wake`)
  ringer.unlock();
  sound = ringer.start();
  if (sound === "blocked") ringer.whenReady(() => wake());
  clearTimeout(audibleTimer);
  audibleTimer = setTimeout(() => {
    ringer.stop();
    sound = "off";
    renderRing();
  }, AUDIBLE_MS);
  try {
    if (navigator.vibrate) navigator.vibrate(VIBRATE);
  } catch (e) {
    /* no vibration here */
  }
  renderRing();
  document.title = t("callback.ring.doc_title");
  $("#ring").scrollIntoView({ block: "nearest" });
  $("#ring-accept").focus();
}

function stopRinging(sayEnded) {
  if (!ringing) return;
  ringing = null;
  ringer.stop();
  sound = "off";
  clearTimeout(audibleTimer);
  const hadFocus = $("#ring").contains(document.activeElement);
  show($("#ring"), false);
  renderRing();
  document.title = t("callback.page_title");
  if (sayEnded) say(status, "callback.ring.ended");
  if (hadFocus) {
    const back = focusBefore;
    if (back && back.isConnected && !back.closest("[hidden]")) back.focus();
    else $("#request-title").focus();
  }
  focusBefore = null;
}

/** On to the session's customer page, which joins without asking again (customer.js). */
function accept() {
  if (!ringing || accepting) return;
  accepting = true;
  const call = ringing;
  ringer.stop();
  sound = "off";
  clearTimeout(audibleTimer);
  renderRing();
  $("#ring-accept").setAttribute("aria-disabled", "true");
  const mode = webrtcAvailable() ? "video" : "phone";
  try {
    sessionStorage.setItem(HANDOVER_KEY, JSON.stringify({ token: call.token, mode }));
  } catch (e) {
    /* no storage: the customer page asks for consent and checks the devices itself */
  }
  say(status, "callback.ring.accepting");
  location.assign("/j?lang=" + encodeURIComponent(language()) + "#" + call.token);
}

$("#ring-accept").addEventListener("click", () => accept());

// every click or key press may be the first that allows sound: a silent ring gets its tone
function wake() {
  ringer.unlock();
  ringer.whenReady(() => {
    if (ringing && !accepting && sound === "blocked") {
      sound = ringer.start();
      renderRing();
    }
  });
}
window.addEventListener("pointerdown", () => setTimeout(wake, 0), true);
window.addEventListener("keydown", () => setTimeout(wake, 0), true);

$("#sound-test").addEventListener("click", () => {
  ringer.unlock();
  ringer.whenReady(() => {
    if (ringing) return;
    ringer.start();
    setTimeout(() => {
      if (!ringing) ringer.stop();
    }, TEST_TONE_MS);
  });
});

// ------------------------------------------------------------ the link, withdrawing

$("#copy-link").addEventListener("click", async () => {
  const input = $("#personal-link");
  if (await copyText(input.value)) {
    say($("#copy-status"), "callback.link.copied");
  } else {
    input.focus();
    input.select();
    say($("#copy-status"), "callback.link.copy_failed");
  }
});

function closeConfirm(refocus) {
  const box = $("#withdraw-confirm");
  if (box.hidden) return;
  show(box, false);
  $("#withdraw").setAttribute("aria-expanded", "false");
  if (refocus) $("#withdraw").focus();
}

$("#withdraw").addEventListener("click", () => {
  show($("#withdraw-confirm"), true);
  $("#withdraw").setAttribute("aria-expanded", "true");
  $("#withdraw-no").focus(); // the safe answer first
});
$("#withdraw-no").addEventListener("click", () => closeConfirm(true));
$("#withdraw-confirm").addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeConfirm(true);
});

$("#withdraw-yes").addEventListener("click", async () => {
  say($("#request-error"), null);
  let answer;
  if (socket && socket.connected) {
    answer = await request(socket, "withdraw");
  } else {
    const result = await fetchJSON("DELETE", "/api/callbacks/mine", { token });
    answer = result.ok ? Object.assign({ ok: true }, result.data) : result;
  }
  if (!answer.ok) {
    put($("#request-error"), () => errorText(answer.error));
    return;
  }
  render(answer);
  $("#request-title").focus();
});

// ------------------------------------------------------------ the socket

function lost() {
  dropped = true;
  say(status, "callback.dropped");
}

function linkGone() {
  say(status, null);
  show($("#request"), false);
  say(errorBox, "callback.link_expired");
  forgetKeptEverywhere();
}

function open() {
  try {
    socket = connect("/callback", () => ({ token }));
  } catch (e) {
    say(status, null); // the socket.io client did not load: said in #error by connect()
    return;
  }
  const s = socket;
  s.on("connect", () => {
    if (dropped) say(status, null);
    dropped = false;
    say(errorBox, null);
  });
  s.on("connect_error", (err) => {
    const refused = refusal(err);
    if (!refused) {
      lost(); // socket.io tries again by itself
      return;
    }
    if (refused.code === "unauthenticated" || refused.code === "token_expired") {
      linkGone();
      return;
    }
    say(status, null);
    put(errorBox, () => errorText(refused));
    const wait = RETRY_MS[refused.code];
    if (wait) {
      setTimeout(() => {
        if (!s.connected) s.connect();
      }, wait);
    }
  });
  s.on("disconnect", (reason) => {
    if (accepting) return;
    lost();
    // the server closed it (not a network drop): socket.io leaves reconnecting to us
    if (reason === "io server disconnect") s.connect();
  });
  s.on("callback_state", (v) => render(v));
  s.on("callback_ringing", (call) => {
    if (!settled()) ring(call);
  });
  s.on("error", (e) => put($("#request-error"), () => errorText(e)));
}

// back on the page (another tab, a phone woken up): what is the state now?
document.addEventListener("visibilitychange", async () => {
  if (document.visibilityState !== "visible" || !socket || !socket.connected) return;
  const answer = await request(socket, "sync");
  if (answer.ok) render(answer);
});

// come back with the browser's Back button after accepting: the page works again
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  accepting = false;
  $("#ring-accept").removeAttribute("aria-disabled");
  if (socket && !socket.connected) socket.connect();
});

// ------------------------------------------------------------ start

setupLanguage();
say(status, "callback.loading");
if (!token) {
  say(status, null);
  say(errorBox, "callback.link_missing");
} else {
  open();
}
