// /t/<team>: a customer without an appointment queues for a team's counsellors. Language and
// topic, the short privacy notice, a quick look at camera and microphone, then the queue on
// the `/queue` socket (place and estimated wait, live) until a counsellor takes them. Then
// the customer page of the new session (/j#<token>) carries on; a hand-over note in
// sessionStorage tells it that the notice was agreed to and how the customer will talk, so
// it does not ask again. All texts: texts-customer.js.
//
// The ticket token is kept in localStorage (one per team) until the wait ends, so that a
// reload or reopening the page resumes the same place instead of queueing twice.
//
// A callback instead of waiting: once a topic is chosen the page asks whether the team is
// closed, has nobody for it, or a long wait (`overflow`), and says so; "Rückruf anfordern"
// is always there. The request's form (phone or video, urgency, a preferred time) leads to
// the customer's personal page of the request (/r#<token>, callback.js), whose link this
// browser keeps until the request is settled.
//
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

import { $, connect, errorText, fetchJSON, postJSON, refusal, request, show } from "./common.js";
import { LANGUAGES, language, locale, onLanguageChange, setLanguage, t } from "./i18n.js";
import "./texts-customer.js";
import "./texts-callback.js";
import { LANG_KEY, chooseLanguage, openDevices, put, say, stopTracks } from "./customerkit.js";

const HANDOVER_KEY = "cb.handover"; // read once by customer.js
const CALLBACK_KEY = "cb.callback."; // + team: the personal link of a request made here
const FRESH_KEY = "cb.callback.fresh"; // read once by callback.js: "your callback is requested"
const OVERFLOWS = ["closed", "nobody", "wait"];
const WINDOW_NOTICE_MS = 30 * 60 * 1000; // a time of day ending sooner is not offered
const TEAM_ID = /^[A-Za-z0-9._-]{1,64}$/;
const STEPS = ["choose", "consent", "check", "wait", "left", "callback"];
const NO_MEDIA = { webrtc: false, camera: false, microphone: false };
// screen readers hear the place when it has settled, then at most this often (but "you are
// next" at once): a busy queue moves several times a second
const SETTLE_MS = 1500;
const ANNOUNCE_GAP_MS = 20000;
// a refused connect is not retried by socket.io itself: these codes are worth a retry
const RETRY_MS = { rate_limited: 5000, unavailable: 15000, internal: 15000 };

const status = $("#status");
const errorBox = $("#error");

// ------------------------------------------------------------ texts in the chosen language



/** An error in words: the entry page's own text for the code if it has one. */
function problemText(err, prefix) {
  const code = err && err.code;
  const own = (prefix || "dropin.error.") + code;
  const text = t(own);
  return text !== own ? text : errorText(err);
}

function showError(node, err, prefix) {
  put(node, err ? () => problemText(err, prefix) : null);
}

function number(n) {
  try {
    return new Intl.NumberFormat(locale()).format(n);
  } catch (e) {
    return String(n);
  }
}

/** "about 15 minutes" in the page's language (whole minutes; fives beyond ten). */
function waitText(seconds) {
  let m = Math.max(1, Math.round(seconds / 60));
  if (m > 10) m = Math.round(m / 5) * 5;
  try {
    return new Intl.NumberFormat(locale(), { style: "unit", unit: "minute", unitDisplay: "long" })
      .format(m);
  } catch (e) {
    return t("dropin.minutes", { n: m }); // a browser without unit formatting
  }
}

// ------------------------------------------------------------ the team, the ticket

function teamOf(path) {
  const match = /^\/t\/([^/]+)\/?$/.exec(path);
  if (!match) return null;
  let id;
  try {
    id = decodeURIComponent(match[1]);
  } catch (e) {
    return null;
  }
  return TEAM_ID.test(id) ? id : null;
}

const team = teamOf(location.pathname);
const ticketKey = "cb.dropin." + team;

/** The ticket this browser holds for the team: {token, topic, language, mode, capabilities}. */
function storedTicket() {
  try {
    const raw = localStorage.getItem(ticketKey);
    const kept = raw ? JSON.parse(raw) : null;
    if (kept && typeof kept.token === "string" &&
        !(typeof kept.expires_at === "number" && kept.expires_at * 1000 < Date.now())) {
      return kept;
    }
    if (raw) localStorage.removeItem(ticketKey);
  } catch (e) {
    /* no storage, or something unreadable in it */
  }
  return null;
}

function keepTicket(record) {
  try {
    localStorage.setItem(ticketKey, JSON.stringify(record));
  } catch (e) {
    /* private mode: a reload queues anew */
  }
}

function forgetTicket() {
  ticket = null;
  try {
    localStorage.removeItem(ticketKey);
  } catch (e) {
    /* nothing kept */
  }
}

// ------------------------------------------------------------ page state

let offer = null; // GET /api/dropin/<team>: topics, languages, staffed
let topic = null; // the chosen topic
let consented = false;
let mode = null; // how the customer will talk: "video", "audio" or "phone"
let capabilities = null; // what the device check found
let ticket = null; // the ticket record while queued (also in localStorage)
let socket = null;
let place = { position: null, estimate_seconds: null };
let finished = false; // answered: the page is on its way to the call
let leaving = false; // a leave of this page is on its way
let current = null; // the step on screen
let stepShown = false;
let stream = null; // camera and microphone during the check only
let checkRun = 0;
let busy = false; // a request of the customer's is under way
let resuming = false; // the page came back to a kept ticket: say so once it is placed

const webrtcAvailable = () => typeof window.RTCPeerConnection === "function";

/** Show one step (none for `null`); a new step's heading takes the focus, so it is read out. */
function step(name) {
  const changed = name !== current;
  current = name;
  for (const s of STEPS) show($("#step-" + s), s === name);
  if (name !== "check") releaseStream();
  if (changed && name) {
    if (stepShown) $("#step-" + name + " h2").focus();
    stepShown = true; // the first step of a page load keeps the natural reading order
  }
}

function setBusy(value) {
  busy = value;
  for (const id of ["#queue", "#leave", "#again", "#choose-next", "#wait-callback"]) {
    $(id).disabled = value;
  }
  // not `disabled`: the focused button would drop the focus to the page
  $("#callback-send").setAttribute("aria-disabled", String(value));
}

// ------------------------------------------------------------ language

function markChosen() {
  for (const input of document.querySelectorAll(".choice input")) {
    input.parentNode.classList.toggle("chosen", input.checked);
  }
}

function setupLanguage() {
  chooseLanguage((lang) => {
    const radio = $("#language-" + lang);
    if (radio) radio.checked = true;
    markChosen();
  });
  for (const radio of document.querySelectorAll('input[name="language"]')) {
    radio.addEventListener("change", () => {
      if (radio.checked) setLanguage(radio.value, LANG_KEY);
    });
  }
}

// ------------------------------------------------------------ problems that stop the page

let retryAction = null;

function problem(err, retry) {
  say(status, null);
  showError(errorBox, err);
  retryAction = retry || null;
  show($("#retry-box"), !!retry);
}

function clearProblem() {
  showError(errorBox, null);
  retryAction = null;
  show($("#retry-box"), false);
}

$("#retry").addEventListener("click", () => {
  const action = retryAction;
  clearProblem();
  if (action) action();
});

// ------------------------------------------------------------ 1. language and topic

/** What the team offers; on failure the page says why and offers to try again. */
async function loadOffer() {
  say(status, "dropin.loading");
  const result = await fetchJSON("GET", "/api/dropin/" + encodeURIComponent(team));
  say(status, null);
  if (!result.ok) {
    problem(result.error, chooseAgain);
    return false;
  }
  offer = result.data;
  for (const input of document.querySelectorAll('input[name="topic"]')) {
    show(input.parentNode, offer.topics.indexOf(input.value) >= 0);
  }
  for (const input of document.querySelectorAll('input[name="language"]')) {
    show(input.parentNode, offer.languages.indexOf(input.value) >= 0);
  }
  show($("#unstaffed"), !offer.staffed);
  showKeptCallback();
  renderOverflow();
  return true;
}

/** The choice of language and topic (loading the offer first if need be). */
async function chooseAgain() {
  if (!offer && !(await loadOffer())) return;
  const chosen = topic ? $("#topic-" + topic) : null;
  if (chosen) chosen.checked = true;
  markChosen();
  step("choose");
}

for (const input of document.querySelectorAll(".choice input")) {
  input.addEventListener("change", () => {
    markChosen();
    if (input.name === "topic") {
      say($("#topic-error"), null);
      $("#topics").removeAttribute("aria-invalid");
      renderOverflow();
      askOverflow(input.value);
    }
    if (input.name === "reach") renderReach();
  });
}

/** The chosen topic, or null after saying that one is missing (and where). */
function requireTopic() {
  const picked = document.querySelector('input[name="topic"]:checked');
  if (picked) return picked.value;
  say($("#topic-error"), "dropin.topic.missing");
  $("#topics").setAttribute("aria-invalid", "true");
  const first = document.querySelector('.choice:not([hidden]) input[name="topic"]');
  if (first) first.focus();
  return null;
}

$("#choose-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picked = requireTopic();
  if (!picked) return;
  topic = picked;
  const answer = await askOverflow(picked);
  if (current !== "choose" || topic !== picked) return; // the customer moved on meanwhile
  if (answer && answer.overflow === "closed") {
    openCallback(); // nobody can wait now: the callback is the way
    return;
  }
  if (consented && capabilities) {
    step("check"); // back from the check: the notice was read already
    runCheck();
  } else {
    step("consent");
  }
});

// ------------------------------------------------------------ 2. consent

$("#consent").addEventListener("change", () => {
  if ($("#consent").checked) {
    say($("#consent-error"), null);
    $("#consent").removeAttribute("aria-invalid");
  }
});

$("#consent-accept").addEventListener("click", () => {
  const box = $("#consent");
  if (!box.checked) {
    say($("#consent-error"), "dropin.consent.missing");
    box.setAttribute("aria-invalid", "true");
    box.focus();
    return;
  }
  consented = true;
  step("check");
  runCheck();
});

$("#consent-back").addEventListener("click", () => chooseAgain());

// ------------------------------------------------------------ 3. camera and microphone


/** The camera light goes out: the queue may take a while, the call opens them again. */
function releaseStream() {
  stopTracks(stream);
  stream = null;
  const preview = $("#check-preview");
  preview.srcObject = null;
  show(preview, false);
}



function decide(caps) {
  capabilities = caps;
  if (!caps.webrtc || !caps.microphone) mode = "phone";
  else mode = caps.camera ? "video" : "audio";
  say($("#check-mode"), mode === "video" ? "join.video" : mode === "audio" ? "join.audio"
    : "dropin.mode.phone");
  show($("#queue"), true);
}

async function runCheck() {
  const run = ++checkRun;
  releaseStream();
  const camResult = $("#cam-result");
  const micResult = $("#mic-result");
  const help = $("#check-help");
  show($("#queue"), false);
  show($("#check-retry"), false);
  for (const node of [help, $("#check-mode"), $("#check-error")]) say(node, null);

  if (!webrtcAvailable()) {
    // an old browser: the customer can still wait, and talks by phone
    say(camResult, null);
    say(micResult, null);
    say($("#check-note"), "dropin.nowebrtc");
    decide(NO_MEDIA);
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say(camResult, "check.cam.denied");
    say(micResult, "check.mic.denied");
    say(help, "check.help.insecure");
    say($("#check-note"), null);
    decide({ webrtc: true, camera: false, microphone: false });
    return;
  }
  say(camResult, "check.cam.wait");
  say(micResult, "check.mic.wait");
  say($("#check-note"), "check.asking");
  const got = await openDevices({ facingMode: "user" });
  if (run !== checkRun || current !== "check") {
    stopTracks(got.stream); // the customer moved on meanwhile
    return;
  }
  stream = got.stream;
  const hasVideo = !!stream && stream.getVideoTracks().length > 0;
  const hasAudio = !!stream && stream.getAudioTracks().length > 0;
  const preview = $("#check-preview");
  preview.srcObject = hasVideo ? stream : null;
  show(preview, hasVideo);
  say(camResult, hasVideo ? "check.cam.ok" : "check.cam." + (got.videoError || "none"));
  say(micResult, hasAudio ? "dropin.mic.ok"
    : "check.mic." + (got.audioError || got.videoError || "none"));
  if (got.videoError === "denied" && !(hasVideo && hasAudio)) say(help, "check.help.denied");
  show($("#check-retry"), !(hasVideo && hasAudio));
  say($("#check-note"), "dropin.check.done");
  decide({ webrtc: true, camera: hasVideo, microphone: hasAudio });
}

$("#check-retry").addEventListener("click", () => runCheck());
$("#check-back").addEventListener("click", () => chooseAgain());
$("#queue").addEventListener("click", () => queue($("#check-error")));

// ------------------------------------------------------------ 4. the queue

/** A new ticket for the chosen topic, in the page's language. */
async function queue(errorNode) {
  if (busy || !topic || !capabilities) return;
  setBusy(true);
  releaseStream();
  showError(errorNode, null);
  say(status, "dropin.queueing");
  const result = await postJSON("/api/dropin/" + encodeURIComponent(team), {
    topic,
    language: language(),
    capabilities,
  });
  setBusy(false);
  say(status, null);
  if (!result.ok) {
    if (result.error && result.error.code === "queue_closed") {
      // closed since the topic was chosen: offer the callback instead
      overflow = { key: topic + "|" + language(), overflow: "closed", estimate_seconds: null };
      openCallback();
      return;
    }
    showError(errorNode, result.error);
    return;
  }
  const data = result.data;
  ticket = {
    token: data.token,
    topic: data.topic,
    language: data.language,
    mode,
    capabilities,
    expires_at: data.expires_at,
  };
  keepTicket(ticket);
  place = { position: data.position, estimate_seconds: data.estimate_seconds };
  showWait();
  openQueue();
}

function showWait() {
  step("wait");
  renderPlace();
}

function renderPlace() {
  const position = place.position;
  put($("#position"), typeof position === "number"
    ? () => t("dropin.position", { n: number(position) }) : null);
  say($("#position-next"), position === 1 ? "dropin.position.next" : null);
  const estimate = place.estimate_seconds;
  put($("#estimate"), typeof estimate === "number"
    ? () => t("dropin.estimate", { time: waitText(estimate) })
    : () => t("dropin.estimate.unknown"));
  const chosen = ticket ? ticket.topic : topic;
  put($("#wait-topic"), chosen ? () => t("dropin.wait.topic", { topic: t("topic." + chosen) }) : null);
  show($("#nobody"), typeof estimate !== "number");
  announce();
}

// what screen readers were last told, and when
let announced = null;
let announcedAt = 0;
let announceTimer = null;

function announce() {
  const position = place.position;
  if (typeof position !== "number" || position === announced) return;
  clearTimeout(announceTimer);
  const gap = position === 1 ? 0 : announcedAt + ANNOUNCE_GAP_MS - Date.now();
  announceTimer = setTimeout(() => {
    announceTimer = null;
    if (current !== "wait" || place.position === announced) return;
    announced = place.position;
    announcedAt = Date.now();
    let text = t("dropin.position", { n: number(announced) });
    if (announced === 1) text += " " + t("dropin.position.next");
    $("#place-live").textContent = text; // not re-rendered on a language change: no repeat
  }, Math.max(SETTLE_MS, gap));
}

function quiet() {
  clearTimeout(announceTimer);
  announceTimer = null;
  announced = null;
  $("#place-live").textContent = "";
}

let dropped = false; // the page says the connection is lost

function lost() {
  dropped = true;
  say(status, "dropin.dropped");
}

function closeQueue() {
  if (socket) {
    const s = socket;
    socket = null;
    s.disconnect();
  }
}

/** The ticket's socket: its first event says where the wait stands (also after a reload). */
function openQueue() {
  closeQueue();
  let s;
  try {
    s = connect("/queue", () => ({ token: ticket ? ticket.token : "" }));
  } catch (e) {
    problem({ code: "page_incomplete" }); // the socket.io client did not load
    return;
  }
  socket = s;
  const mine = (handler) => (data) => {
    if (s === socket) handler(data || {});
  };

  // (socket.io hands over the events that came with the connect before `connect` itself)
  s.on("connect", mine(() => {
    if (dropped) say(status, null);
    dropped = false;
    clearProblem();
  }));

  s.on("connect_error", mine((err) => {
    const refused = refusal(err);
    if (!refused) {
      lost(); // socket.io tries again by itself
      return;
    }
    if (refused.code === "unauthenticated" || refused.code === "token_expired") {
      // the ticket is no longer valid (expired after hours, or from an older broker)
      closeQueue();
      forgetTicket();
      showLeft("expired");
      return;
    }
    const wait = RETRY_MS[refused.code];
    if (wait) {
      say(status, null);
      problem(refused);
      setTimeout(() => {
        if (s === socket && !s.connected) s.connect();
      }, wait);
    } else {
      problem(refused, () => s.connect());
    }
  }));

  s.on("disconnect", mine((reason) => {
    if (finished) return;
    lost();
    // the server closed it (not a network drop): socket.io leaves reconnecting to us
    if (reason === "io server disconnect") s.connect();
  }));

  s.on("queue_state", mine((q) => {
    if (q.state && q.state !== "waiting") return;
    if (typeof q.position === "number") place.position = q.position;
    if ("estimate_seconds" in q) place.estimate_seconds = q.estimate_seconds;
    if (current !== "wait") {
      showWait();
      if (resuming) say(status, "dropin.resumed");
    } else {
      renderPlace();
    }
    resuming = false;
  }));

  s.on("dropin_answered", mine((a) => answered(a.token)));

  s.on("dropin_left", mine(() => {
    if (leaving) return; // our own leave: its answer shows the goodbye
    closeQueue();
    forgetTicket();
    showLeft("expired");
  }));

  s.on("error", mine((e) => showError($("#wait-error"), e)));
}

/** A counsellor took the customer: on to the customer page of the new session. */
function answered(token) {
  if (finished || typeof token !== "string" || !token) return;
  finished = true;
  const how = (ticket && ticket.mode) || mode || "video";
  forgetTicket();
  quiet();
  try {
    sessionStorage.setItem(HANDOVER_KEY, JSON.stringify({ token, mode: how }));
  } catch (e) {
    /* no storage: the customer page asks for consent and checks the devices itself */
  }
  say(status, "dropin.answered");
  closeQueue();
  location.replace("/j?lang=" + encodeURIComponent(language()) + "#" + token);
}

/** Out of the queue: the goodbye, or (`toCallback`) the callback's form. */
async function leave(toCallback) {
  if (busy || !ticket) return;
  if (socket && socket.connected) {
    setBusy(true);
    leaving = true; // every page of the ticket hears `dropin_left`, this one too
    const ack = await request(socket, "leave");
    leaving = false;
    setBusy(false);
    if (finished) return; // answered meanwhile
    if (!ack.ok) {
      showError($("#wait-error"), ack.error);
      return;
    }
    if (ack.state === "answered") {
      answered(ack.token); // a counsellor took the customer just before
      return;
    }
  }
  // without a connection the broker lets the place go once the page stays away (30 s)
  closeQueue();
  forgetTicket();
  if (toCallback) {
    quiet();
    showError($("#wait-error"), null);
    openCallback();
  } else {
    showLeft("left");
  }
}

$("#leave").addEventListener("click", () => leave(false));
$("#wait-callback").addEventListener("click", () => leave(true));

// ------------------------------------------------------------ overflow: better a callback?

let overflow = null; // {key, overflow, estimate_seconds}: the last answer, for topic|language
let asking = null; // {key, promise}: the question on its way

function pickedTopic() {
  const picked = document.querySelector('input[name="topic"]:checked');
  return picked ? picked.value : null;
}

/** The last answer if it is about `chosen` in the page's language. */
function overflowOf(chosen) {
  return overflow && chosen && overflow.key === chosen + "|" + language() ? overflow : null;
}

/** Whether waiting is closed, has nobody for the topic, or takes long (null: unknown). */
function askOverflow(chosen) {
  const key = chosen + "|" + language();
  if (overflowOf(chosen)) return Promise.resolve(overflow);
  if (asking && asking.key === key) return asking.promise;
  const path = "/api/dropin/" + encodeURIComponent(team) + "?topic=" + encodeURIComponent(chosen) +
    "&language=" + encodeURIComponent(language());
  const promise = fetchJSON("GET", path).then((result) => {
    if (asking && asking.key === key) asking = null;
    if (!result.ok) return null; // the queue will say so itself if it cannot be joined
    const kind = OVERFLOWS.indexOf(result.data.overflow) >= 0 ? result.data.overflow : null;
    const answer = { key, overflow: kind, estimate_seconds: result.data.estimate_seconds };
    overflow = answer;
    renderOverflow();
    return answer;
  });
  asking = { key, promise };
  return promise;
}

/** The choice step's word on waiting; when closed, only the callback is offered. */
function renderOverflow() {
  const o = overflowOf(pickedTopic());
  // closed is known before any topic is chosen (the team's hours): said at once
  const kind = o ? o.overflow : offer && offer.open === false ? "closed" : null;
  const box = $("#overflow");
  if (kind === "wait" && typeof o.estimate_seconds === "number") {
    put(box, () => t("callback.offer.wait", { time: waitText(o.estimate_seconds) }));
  } else {
    say(box, kind ? "callback.offer." + (kind === "wait" ? "nobody" : kind) : null);
  }
  show($("#unstaffed"), !!offer && !offer.staffed && !kind);
  const closed = kind === "closed";
  show($("#choose-next"), !closed);
  $("#choose-callback").classList.toggle("secondary", !closed);
}

onLanguageChange(() => {
  if (!offer) return;
  const chosen = pickedTopic();
  if (chosen) askOverflow(chosen);
  renderOverflow();
});

// ------------------------------------------------------------ a callback instead

$("#choose-callback").addEventListener("click", () => {
  const picked = requireTopic();
  if (!picked) return;
  topic = picked;
  openCallback();
});

function checkedValue(name) {
  const input = document.querySelector('input[name="' + name + '"]:checked');
  return input ? input.value : null;
}

function openCallback() {
  const o = overflowOf(topic);
  say($("#callback-why"), o && o.overflow === "closed" ? "callback.offer.closed" : null);
  put($("#callback-intro"), () => t("callback.form.intro", {
    topic: t("topic." + topic),
    language: (LANGUAGES[language()] || LANGUAGES.de).name,
  }));
  for (const id of ["#phone-error", "#cb-consent-error", "#callback-error"]) say($(id), null);
  renderWindows();
  renderReach();
  markChosen();
  step("callback");
}

function renderReach() {
  const byPhone = checkedValue("reach") !== "video";
  show($("#phone-field"), byPhone);
  show($("#notice-phone"), byPhone);
}

/** The preferred times of day: today's (while not over) and the next working day's. */
function windowsNow() {
  const now = new Date();
  const working = (d) => d.getDay() !== 0 && d.getDay() !== 6;
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  while (!working(next)) next.setDate(next.getDate() + 1);
  const out = {};
  for (const input of document.querySelectorAll('input[name="window"]')) {
    if (!input.value) continue;
    const parts = input.value.split(":").map(Number);
    const day = parts[0] === 0 ? now : next;
    const from = new Date(day.getFullYear(), day.getMonth(), day.getDate(), parts[1]);
    const to = new Date(day.getFullYear(), day.getMonth(), day.getDate(), parts[2]);
    if ((parts[0] === 0 && !working(now)) || to.getTime() - now.getTime() < WINDOW_NOTICE_MS) {
      continue;
    }
    out[input.id] = { from: Math.max(from.getTime(), now.getTime()), to: to.getTime(), day,
      part: parts[1] < 12 ? "morning" : "afternoon" };
  }
  return out;
}

function dayWord(day) {
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (day.toDateString() === today.toDateString()) return t("callback.day.today");
  if (day.toDateString() === tomorrow.toDateString()) return t("callback.day.tomorrow");
  const name = day.toLocaleDateString(locale(), { weekday: "long" });
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function clockOf(ms) {
  return new Date(ms).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

function renderWindows() {
  const windows = windowsNow();
  for (const input of document.querySelectorAll('input[name="window"]')) {
    if (!input.value) continue;
    const w = windows[input.id];
    show(input.parentNode, !!w);
    if (!w) {
      if (input.checked) $("#window-none").checked = true;
      continue;
    }
    // the whole hour the part begins with, even when today's has begun already
    const start = new Date(w.day.getFullYear(), w.day.getMonth(), w.day.getDate(),
      Number(input.value.split(":")[1])).getTime();
    put(input.parentNode.querySelector("span"), () => t("callback.window.option", {
      day: dayWord(w.day),
      part: t("callback.window." + w.part),
      from: clockOf(start),
      to: clockOf(w.to),
    }));
  }
}

/** What is wrong with a phone number as typed (a text key), or null; as the broker checks. */
function phoneProblem(raw) {
  const text = raw.trim();
  if (!text) return "callback.phone.missing";
  const plus = text.charAt(0) === "+";
  const rest = plus ? text.slice(1) : text;
  let digits = rest.replace(/\D/g, "");
  if (!plus && text.slice(0, 2) === "00") digits = digits.slice(2);
  const international = plus || text.slice(0, 2) === "00";
  if (!/^[0-9 ()/.-]+$/.test(rest) || (!international && digits.charAt(0) !== "0") ||
      digits.length < 6 || digits.length > 17) {
    return "callback.phone.invalid";
  }
  return null;
}

function invalid(node, errorNode, key) {
  say(errorNode, key);
  if (key) node.setAttribute("aria-invalid", "true");
  else node.removeAttribute("aria-invalid");
}

$("#phone").addEventListener("input", () => {
  if ($("#phone").getAttribute("aria-invalid") && !phoneProblem($("#phone").value)) {
    invalid($("#phone"), $("#phone-error"), null);
  }
});
$("#cb-consent").addEventListener("change", () => {
  if ($("#cb-consent").checked) invalid($("#cb-consent"), $("#cb-consent-error"), null);
});

$("#callback-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  const reach = checkedValue("reach") === "video" ? "video" : "phone";
  const body = {
    team,
    topic,
    language: language(),
    urgent: checkedValue("urgent") === "yes",
    reach,
    source: overflowOf(topic) && overflowOf(topic).overflow ? "overflow" : "entry",
    consent: true,
  };
  const phone = $("#phone");
  const problems = [];
  if (reach === "phone") {
    const problem = phoneProblem(phone.value);
    invalid(phone, $("#phone-error"), problem);
    if (problem) problems.push(phone);
    else body.phone = phone.value.trim();
  }
  const consent = $("#cb-consent");
  invalid(consent, $("#cb-consent-error"), consent.checked ? null : "callback.consent.missing");
  if (!consent.checked) problems.push(consent);
  if (problems.length) {
    problems[0].focus();
    return;
  }
  const chosen = checkedValue("window") ? windowsNow()[document.querySelector(
    'input[name="window"]:checked').id] : null;
  if (chosen) body.window = { from: chosen.from / 1000, to: chosen.to / 1000 };
  showError($("#callback-error"), null);
  setBusy(true);
  say(status, "callback.sending");
  const result = await postJSON("/api/callbacks", body);
  setBusy(false);
  say(status, null);
  if (!result.ok) {
    const err = result.error || {};
    if (err.code === "bad_request" && /phone/.test(err.message || "")) {
      invalid(phone, $("#phone-error"), "callback.phone.invalid");
      phone.focus();
    } else {
      showError($("#callback-error"), err, "callback.error.");
    }
    return;
  }
  callbackMade(result.data);
});

$("#callback-back").addEventListener("click", () => chooseAgain());

function personalPath(token) {
  return "/r?lang=" + encodeURIComponent(language()) + "#" + token;
}

/** The request is made: on to its personal page (the link is kept until it is settled). */
function callbackMade(data) {
  try {
    localStorage.setItem(CALLBACK_KEY + team, JSON.stringify({
      token: data.token,
      expires_at: data.expires_at,
    }));
    sessionStorage.setItem(FRESH_KEY, data.callback);
  } catch (e) {
    /* no storage: the personal page shows the link to keep all the same */
  }
  location.assign(personalPath(data.token));
}

/** A request made from this browser and not settled yet: its personal link. */
function keptCallback() {
  try {
    const kept = JSON.parse(localStorage.getItem(CALLBACK_KEY + team) || "null");
    if (kept && typeof kept.token === "string" &&
        !(typeof kept.expires_at === "number" && kept.expires_at * 1000 < Date.now())) {
      return kept;
    }
    localStorage.removeItem(CALLBACK_KEY + team);
  } catch (e) {
    /* no storage */
  }
  return null;
}

function showKeptCallback() {
  const kept = keptCallback();
  show($("#kept-callback"), !!kept);
  if (kept) $("#kept-link").href = personalPath(kept.token);
}

onLanguageChange(() => {
  if (team) showKeptCallback(); // the link carries the language
});

// ------------------------------------------------------------ 5. out of the queue

function showLeft(why) {
  quiet();
  say(status, null);
  say($("#left-title"), why === "left" ? "dropin.left.title" : "dropin.expired.title");
  say($("#left-text"), why === "left" ? "dropin.left.text" : "dropin.expired.text");
  say($("#left-error"), null);
  showError($("#wait-error"), null);
  step("left");
}

$("#again").addEventListener("click", () => {
  if (topic && capabilities) queue($("#left-error"));
  else chooseAgain();
});
$("#other-topic").addEventListener("click", () => chooseAgain());

// ------------------------------------------------------------ start

setupLanguage();
say(status, "dropin.loading");

if (!team) {
  say(status, null);
  say(errorBox, "dropin.bad_address");
} else {
  const kept = storedTicket();
  if (kept) {
    // a reload, or the page opened again: the same place, not a second ticket
    ticket = kept;
    topic = kept.topic || null;
    mode = kept.mode || null;
    capabilities = kept.capabilities || null;
    consented = true;
    resuming = true;
    openQueue();
  } else {
    chooseAgain();
  }
}

window.addEventListener("pagehide", () => releaseStream());
