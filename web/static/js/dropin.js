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
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

import { $, connect, errorText, fetchJSON, postJSON, refusal, request, show } from "./common.js";
import { LANGUAGES, initialLanguage, language, locale, onLanguageChange, setLanguage, t } from "./i18n.js";
import "./texts-customer.js";
import { openDevices, put, rerender, say, stopTracks } from "./customerkit.js";

const LANG_KEY = "cb.lang"; // shared with the customer pages: the call starts in it too
const HANDOVER_KEY = "cb.handover"; // read once by customer.js
const TEAM_ID = /^[A-Za-z0-9._-]{1,64}$/;
const STEPS = ["choose", "consent", "check", "wait", "left"];
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
function problemText(err) {
  const code = err && err.code;
  const own = "dropin.error." + code;
  const text = t(own);
  return text !== own ? text : errorText(err);
}

function showError(node, err) {
  put(node, err ? () => problemText(err) : null);
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
  for (const id of ["#queue", "#leave", "#again", "#choose-next"]) $(id).disabled = value;
}

// ------------------------------------------------------------ language

function markChosen() {
  for (const input of document.querySelectorAll(".choice input")) {
    input.parentNode.classList.toggle("chosen", input.checked);
  }
}

function setupLanguage() {
  const select = $("#lang");
  onLanguageChange((lang) => {
    select.value = lang;
    show($("#lang-en"), lang !== "en");
    const radio = $("#language-" + lang);
    if (radio) radio.checked = true;
    markChosen();
    rerender();
  });
  setLanguage(initialLanguage(Object.keys(LANGUAGES), LANG_KEY));
  select.addEventListener("change", () => setLanguage(select.value, LANG_KEY));
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
    }
  });
}

$("#choose-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const picked = document.querySelector('input[name="topic"]:checked');
  if (!picked) {
    say($("#topic-error"), "dropin.topic.missing");
    $("#topics").setAttribute("aria-invalid", "true");
    const first = document.querySelector('.choice:not([hidden]) input[name="topic"]');
    if (first) first.focus();
    return;
  }
  topic = picked.value;
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

async function leave() {
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
  showLeft("left");
}

$("#leave").addEventListener("click", () => leave());

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
