// /j#<token>: the customer's page. Consent, device check, waiting room, the call with a chat,
// and the phone (hotline + PIN) reachable from every step. All texts: texts-customer.js.
// A drop-in customer arrives from the team's entry page (/t/<team>, dropin.js), where they
// agreed to the notice and had camera and microphone checked: that page leaves a hand-over
// note in sessionStorage, and this page then goes straight into the waiting room.
//
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

import { $, connect, el, errorText, fetchJSON, refusal, request, show } from "./common.js";
import { language, locale, t } from "./i18n.js";
import "./texts-customer.js";
import { chooseLanguage, openDevices, put, say, stopTracks } from "./customerkit.js";
import { Call, isWebrtc } from "./rtc.js";

const HANDOVER_KEY = "cb.handover"; // written by dropin.js: {token, mode}
const NO_MEDIA = { webrtc: false, camera: false, microphone: false };
const CAMERA = { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } };
const SLOW_MS = 400; // a signalling round trip slower than this: video may stutter
const HEARD_LEVEL = 30; // meter level (0-100, about -42 dBFS) that counts as "we hear you"
const END_REASONS = [
  "completed",
  "customer_left",
  "no_show",
  "connection_failed",
  "timeout",
  "interrupted",
  "cancelled",
];
// the peer connection's state as rtc.js reports it (`onState`), in the chosen language
const RTC_STATES = {
  connecting: "call.connecting",
  connected: "call.connected",
  disconnected: "call.disturbed",
  failed: "call.failed",
  problem: "call.problem",
};
// an rtc.js without `onState` reports German texts only: mapped to the same keys
const RTC_TEXTS = {
  "Verbindung wird aufgebaut …": "call.connecting",
  "Verbunden.": "call.connected",
  "Die Verbindung ist fehlgeschlagen.": "call.failed",
  "Die Verbindung ist gestört …": "call.disturbed",
  "Es gab ein Problem mit der Verbindung.": "call.problem",
};
const STEPS = ["consent", "check", "nowebrtc", "join", "wait", "call", "phone", "ended"];

const status = $("#status");
const errorBox = $("#error");
const callState = $("#call-state");

// ------------------------------------------------------------ texts in the chosen language



function showError(err) {
  put(errorBox, err ? () => errorText(err) : null);
}

function setupLanguage() {
  chooseLanguage((lang) => {
    if (current === "check") setLevel(level);
    // the counsellor's card shows the language: tell the broker while waiting
    if (joined && state === "waiting" && socket && socket.connected && joined.language !== lang) {
      joined.language = lang;
      request(socket, "join", joined);
    }
  });
}

// ------------------------------------------------------------ page state

let state = null; // the session's state as the broker last told it
let mode = null; // what the customer chose before admission: "video", "audio" or "phone"
let capabilities = null; // what the device check found
let joined = null; // what this page sent with `join`, to re-join after a long outage
let joinPending = false; // `join` chosen while the socket was down: sent on `welcome`
let counsellorPresent = null;
let channelNow = null;
let pin = "";
let hotline = "";
let finished = false;
let stream = null; // camera and microphone from the device check, handed to the call
let muted = false;
let cameraOff = false;
let fallbackProposed = false; // the broker said video/audio failed: the phone is why
let current = null; // the step on screen
let checkRun = 0; // each device check run; a newer one supersedes an older one
let meter = null; // {context, timer} while the level meter runs
let level = 0; // the microphone level last shown, 0-100
let stepShown = false;
let admitted = false; // the call began: afterwards the customer may rate it

const webrtcAvailable = () => typeof window.RTCPeerConnection === "function";

/** Show one step (none for `null`); a new step's heading takes the focus, so it is read out. */
function step(name) {
  const changed = name !== current;
  current = name;
  for (const s of STEPS) show($("#step-" + s), s === name);
  if (name !== "check") stopMeter();
  updateRoom();
  if (changed && name) {
    if (stepShown) $("#step-" + name + " h2").focus();
    stepShown = true; // the first step of a page load keeps the natural reading order
  }
}

function updateRoom() {
  const chat = state === "active" && (current === "call" || current === "phone");
  show($("#chat"), chat);
  $("#room").classList.toggle("with-chat", chat);
  document.body.classList.toggle("in-call", chat);
}

// ------------------------------------------------------------ token, device secret, socket

const token = location.hash.slice(1);

/** The session id inside the token (a JWT's `sub`), to key the device secret. */
function sessionOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return typeof claims.sub === "string" ? claims.sub : null;
  } catch (e) {
    return null;
  }
}

const sessionKey = sessionOf(token) || token.slice(-24);
const deviceKey = "cb.device." + sessionKey;
const modeKey = "cb.mode." + sessionKey;

function rememberMode() {
  try {
    if (mode) sessionStorage.setItem(modeKey, mode);
    else sessionStorage.removeItem(modeKey);
  } catch (e) {
    /* no storage: a reload asks again */
  }
}

function storedMode() {
  try {
    return sessionStorage.getItem(modeKey);
  } catch (e) {
    return null;
  }
}

function capabilitiesOf(m) {
  if (m === "phone") return NO_MEDIA;
  return { webrtc: true, camera: m === "video", microphone: true };
}

/** The entry page's hand-over for this link (read once): the mode chosen there, or null. */
function takeHandover() {
  try {
    const raw = sessionStorage.getItem(HANDOVER_KEY);
    if (!raw) return null;
    sessionStorage.removeItem(HANDOVER_KEY);
    const note = JSON.parse(raw);
    const modes = ["video", "audio", "phone"];
    return note && note.token === token && modes.indexOf(note.mode) >= 0 ? note.mode : null;
  } catch (e) {
    return null;
  }
}

let socket = null;
setupLanguage();
say(status, "conn.connecting");

const handedOver = token ? takeHandover() : null;
if (handedOver) {
  // consent and the device check were done on the entry page: join as soon as connected
  // (the `welcome` of a scheduled session sends it); the call opens the devices itself
  mode = handedOver;
  $("#consent").checked = true;
  joined = { name: "", language: language(), capabilities: capabilitiesOf(mode) };
  joinPending = true;
}

if (!token) {
  say(status, null);
  say(errorBox, "link.missing");
  show($("#no-link"), true);
} else {
  try {
    socket = connect("/customer", () => {
      const device = localStorage.getItem(deviceKey);
      return device ? { token, device } : { token };
    });
  } catch (e) {
    // the socket.io client did not load: said in #error by connect()
    say(status, null);
    showError({ code: "page_incomplete" });
  }
}

const call = new Call({
  socket,
  initiator: false,
  localVideo: $("#self"),
  remoteVideo: $("#remote"),
  stage: $("#stage"),
  onState: (code) => {
    if (RTC_STATES[code]) say(callState, RTC_STATES[code]);
  },
  onStatus: (text) => {
    if ("onState" in call) return; // said by onState
    const key = RTC_TEXTS[text];
    if (key) say(callState, key);
    else put(callState, () => text);
  },
});

// ------------------------------------------------------------ 1. consent

$("#consent").addEventListener("change", () => {
  if ($("#consent").checked) {
    say($("#consent-error"), null);
    $("#consent").removeAttribute("aria-invalid");
  }
});

$("#consent-accept").addEventListener("click", () => {
  const box = $("#consent");
  if (!box.checked) {
    say($("#consent-error"), "consent.missing");
    box.setAttribute("aria-invalid", "true");
    box.focus();
    return;
  }
  if (!webrtcAvailable()) {
    step("nowebrtc");
    return;
  }
  step("check");
  runCheck();
});

$("#consent-decline").addEventListener("click", () => choosePhone());
$("#nowebrtc-phone").addEventListener("click", () => choosePhone());

// ------------------------------------------------------------ 2. device check



/** Camera and microphone off (the light goes out), unless the call holds them now. */
function releaseStream() {
  stopMeter();
  if (stream && stream !== call.stream) stopTracks(stream);
  stream = null;
  $("#check-preview").srcObject = null;
  $("#preview").srcObject = null;
}



function setLevel(value) {
  level = value;
  const node = $("#mic-level");
  node.firstElementChild.style.width = value + "%";
  node.setAttribute("aria-valuenow", String(value));
  const word = value < 10 ? "check.level.silent" : value < HEARD_LEVEL ? "check.level.low" : "check.level.good";
  node.setAttribute("aria-valuetext", t(word));
}

function stopMeter() {
  if (!meter) return;
  clearInterval(meter.timer);
  meter.context.close().catch(() => {});
  meter = null;
}

/** The microphone level from an AnalyserNode, ten times a second (easy on old phones). */
function startMeter(s, micResult) {
  stopMeter();
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  let context;
  try {
    context = new Context();
  } catch (e) {
    return;
  }
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(s).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  let heard = false;
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let sum = 0;
    for (let i = 0; i < data.length; i++) {
      const v = (data[i] - 128) / 128;
      sum += v * v;
    }
    const rms = Math.sqrt(sum / data.length);
    // -60 dBFS .. 0 dBFS onto 0 .. 100
    const value = rms > 0 ? Math.round(((20 * Math.log10(rms) + 60) * 100) / 60) : 0;
    setLevel(Math.max(0, Math.min(100, value)));
    if (!heard && level >= HEARD_LEVEL) {
      heard = true;
      say(micResult, "check.mic.ok");
    }
  }, 100);
  meter = { context, timer };
  if (context.state === "suspended") context.resume().catch(() => {});
}

let netRun = 0;

/** The signalling connection: connected, and how long a `sync` round trip takes. */
async function checkNetwork() {
  const node = $("#net-check");
  if (!socket || !socket.connected) {
    say(node, "check.net.none");
    return;
  }
  const run = ++netRun;
  say(node, "check.net.wait");
  const started = performance.now();
  const ack = await request(socket, "sync");
  if (run !== netRun) return;
  const ms = Math.round(performance.now() - started);
  if (!ack.ok) {
    say(node, ack.error && ack.error.code === "timeout" ? "check.net.none" : "check.net.failed");
    return;
  }
  if (ack.session && ack.session.pin) pin = ack.session.pin;
  say(node, ms < SLOW_MS ? "check.net.good" : "check.net.slow", { ms });
}

async function runCheck() {
  const run = ++checkRun;
  releaseStream();
  const camResult = $("#cam-result");
  const micResult = $("#mic-result");
  const help = $("#check-help");
  const preview = $("#check-preview");
  for (const id of ["#check-continue", "#use-audio", "#check-retry"]) show($(id), false);
  show(preview, false);
  show($("#level-row"), true);
  say(help, null);
  say(camResult, "check.cam.wait");
  say(micResult, "check.mic.wait");
  setLevel(0);
  checkNetwork();

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    // an old browser, or a page not served over https: no devices at all
    capabilities = { webrtc: true, camera: false, microphone: false };
    say(camResult, "check.cam.denied");
    say(micResult, "check.mic.denied");
    say(help, "check.help.insecure");
    show($("#level-row"), false);
    say($("#check-note"), null);
    return;
  }
  say($("#check-note"), "check.asking");
  const got = await openDevices(CAMERA);
  if (run !== checkRun || current !== "check") {
    stopTracks(got.stream); // the person moved on meanwhile
    return;
  }
  stream = got.stream;
  const hasVideo = !!stream && stream.getVideoTracks().length > 0;
  const hasAudio = !!stream && stream.getAudioTracks().length > 0;
  capabilities = { webrtc: true, camera: hasVideo, microphone: hasAudio };
  preview.srcObject = hasVideo ? stream : null;
  show(preview, hasVideo);
  say(camResult, hasVideo ? "check.cam.ok" : "check.cam." + (got.videoError || "none"));
  if (hasAudio) {
    say(micResult, "check.mic.speak");
    startMeter(stream, micResult);
  } else {
    say(micResult, "check.mic." + (got.audioError || got.videoError || "none"));
    show($("#level-row"), false);
  }
  show($("#check-continue"), hasVideo && hasAudio);
  show($("#use-audio"), hasAudio);
  show($("#check-retry"), !(hasVideo && hasAudio));
  if (got.videoError === "denied" && !(hasVideo && hasAudio)) say(help, "check.help.denied");
  else if (!hasAudio) say(help, "check.help.nomic");
  else if (!hasVideo) say(help, "check.help.nocamera");
  say($("#check-note"), "check.done");
}

function chooseMedia(m) {
  mode = m;
  if (m === "audio" && stream) {
    for (const track of stream.getVideoTracks()) {
      track.stop(); // the camera light goes off
      stream.removeTrack(track);
    }
  }
  stopMeter();
  capabilities = capabilitiesOf(m);
  say($("#join-mode"), m === "video" ? "join.video" : "join.audio");
  step("join");
}

$("#check-continue").addEventListener("click", () => chooseMedia("video"));
$("#use-audio").addEventListener("click", () => chooseMedia("audio"));
$("#use-phone").addEventListener("click", () => choosePhone());
$("#check-retry").addEventListener("click", () => runCheck());

// ------------------------------------------------------------ 3. join, 4. waiting room

/** Send `join` (or keep it for the next `welcome` while the socket is down). */
async function sendJoin(caps) {
  joined = { name: $("#name").value.trim(), language: language(), capabilities: caps };
  if (!socket) return false;
  if (!socket.connected) {
    joinPending = true;
    return true;
  }
  joinPending = false;
  const ack = await request(socket, "join", joined);
  if (!ack.ok) {
    joined = null;
    showError(ack.error);
    return false;
  }
  showError(null);
  state = ack.state;
  return true;
}

function presenceKey() {
  return counsellorPresent === false ? "wait.absent" : "wait.present";
}

function renderWait() {
  put($("#wait-text"), () => t("wait.here") + " " + t(presenceKey()));
  const video = !!stream && stream.getVideoTracks().length > 0;
  $("#preview").srcObject = video ? stream : null;
  show($("#preview-box"), video);
  renderPhone();
}

let joining = false;
$("#join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (joining || !socket) return;
  joining = true;
  const ok = await sendJoin(capabilities || capabilitiesOf(mode));
  joining = false;
  if (!ok) return;
  rememberMode();
  if (stream) call.useStream(stream);
  say(status, null);
  step("wait");
  renderWait();
});

$("#join-back").addEventListener("click", () => {
  step("check");
  runCheck();
});

async function leave() {
  if (state !== "waiting" && state !== "active") {
    // not in the waiting room yet (the join is still to be sent): just start over
    joined = null;
    joinPending = false;
    mode = null;
    rememberMode();
    releaseStream();
    step("consent");
    return;
  }
  const ack = await request(socket, "leave");
  if (!ack.ok) {
    showError(ack.error);
    return;
  }
  if (ack.state === "scheduled") {
    state = "scheduled";
    joined = null;
    mode = null;
    rememberMode();
    call.stop();
    releaseStream();
    say(status, "wait.left");
    step("consent");
  }
  // from a call: `ended` follows and shows the end
}

$("#leave-wait").addEventListener("click", leave);
$("#leave-call").addEventListener("click", leave);
$("#leave-phone").addEventListener("click", leave);
$("#wait-phone").addEventListener("click", () => choosePhone());

// ------------------------------------------------------------ 5. the call

function renderToggles() {
  $("#mute").setAttribute("aria-pressed", String(muted));
  $("#camera-off").setAttribute("aria-pressed", String(cameraOff));
  const notes = [];
  if (muted) notes.push("call.muted");
  if (cameraOff && channelNow === "video") notes.push("call.camera_is_off");
  put($("#media-note"), notes.length ? () => notes.map((k) => t(k)).join(" ") : null);
}

/** Mute and camera-off hold across new tracks (a channel change, a new peer connection). */
function applyToggles() {
  if (typeof call.setMicMuted === "function") {
    call.setMicMuted(muted);
    call.setCameraOff(cameraOff);
  } else if (call.stream) {
    for (const track of call.stream.getAudioTracks()) track.enabled = !muted;
    for (const track of call.stream.getVideoTracks()) track.enabled = !cameraOff;
  }
  renderToggles();
}

$("#mute").addEventListener("click", () => {
  muted = !muted;
  applyToggles();
});
$("#camera-off").addEventListener("click", () => {
  cameraOff = !cameraOff;
  applyToggles();
});
$("#to-phone").addEventListener("click", () => switchToPhone());

const remote = $("#remote");
remote.addEventListener("loadedmetadata", () => {
  const playing = remote.play();
  if (playing && playing.catch) {
    playing.catch((err) => {
      // no user gesture on this page load (a reload mid-call): the sound needs a tap
      if (err && err.name === "NotAllowedError") show($("#play-box"), true);
    });
  }
});
$("#play-audio").addEventListener("click", () => {
  remote
    .play()
    .then(() => show($("#play-box"), false))
    .catch(() => {});
});

function showChannel(channel) {
  channelNow = channel;
  if (channel === "phone") {
    releaseStream();
    showPhone();
    say(status, fallbackProposed ? "call.fallback" : "call.phone_now");
    return;
  }
  step("call");
  show($("#fallback"), false);
  show($("#camera-off"), channel === "video");
  say(status, channel === "video" ? "call.video" : "call.audio");
  renderToggles();
}

function setChannel(channel) {
  call.setChannel(channel).then(applyToggles);
}

async function switchToPhone() {
  const ack = await request(socket, "switch_channel", { to: "phone" });
  if (!ack.ok) {
    showError(ack.error);
    showPhone(); // the number and PIN work anyway
  }
  // success: the `channel` event shows the phone step
}

// ------------------------------------------------------------ chat

function clockOf(at) {
  const when = typeof at === "number" ? new Date(at * 1000) : new Date();
  return when.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

/** One chat line: text from other people only ever through textContent. */
function addChat(from, text, at) {
  const log = $("#chat-log");
  const line = el("p", null, "msg " + (from === "customer" ? "mine" : "theirs"));
  const who = el("span", null, "who");
  put(who, () => t(from === "customer" ? "chat.you" : "chat.counsellor") + " (" + clockOf(at) + "):");
  const body = el("span", text, "text");
  body.dir = "auto";
  line.append(who, " ", body);
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

let sending = false;
$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const chatError = $("#chat-error");
  const text = input.value.trim();
  if (!text) {
    say(chatError, "chat.empty");
    input.focus();
    return;
  }
  if (sending || !socket) return;
  sending = true;
  const ack = await request(socket, "chat", { text });
  sending = false;
  if (!ack.ok) {
    put(chatError, () => t("chat.failed") + " " + errorText(ack.error));
    return;
  }
  say(chatError, null);
  addChat("customer", text, ack.at);
  input.value = "";
  input.focus();
});

// ------------------------------------------------------------ 6. the phone

function formatPin(value) {
  return value ? value.replace(/(\d{3})(?=\d)/g, "$1 ") : "–";
}

function renderPhoneNumbers() {
  const link = $("#hotline");
  link.textContent = hotline;
  link.href = "tel:" + hotline.replace(/[^\d+]/g, "");
  $("#pin").textContent = formatPin(pin);
}

/** The parts of the phone step that differ before admission and in the call. */
function renderPhone() {
  const before = state !== "active";
  show($("#phone-back"), before && webrtcAvailable());
  say($("#leave-phone"), before ? "wait.leave" : "call.leave");
  say($("#phone-wait"), before && state === "waiting" ? presenceKey() : null);
}

function showPhone() {
  renderPhoneNumbers();
  step("phone");
  renderPhone();
}

/** The phone instead of video: before admission join as a phone customer, in a call switch. */
async function choosePhone() {
  if (state === "active") {
    await switchToPhone();
    return;
  }
  mode = "phone";
  call.stop(); // camera and microphone off, also when the waiting room held them
  releaseStream();
  showPhone();
  const ok = await sendJoin(NO_MEDIA);
  if (ok) rememberMode();
  renderPhone();
}

$("#phone-back").addEventListener("click", () => {
  if (!webrtcAvailable()) return;
  if ($("#consent").checked) {
    step("check");
    runCheck();
  } else {
    step("consent");
  }
});

// ------------------------------------------------------------ 7. the end

function finish(reason) {
  finished = true;
  state = "ended";
  stopMeter();
  releaseStream();
  call.stop();
  localStorage.removeItem(deviceKey);
  mode = null;
  rememberMode();
  say($("#ended-text"), END_REASONS.indexOf(reason) >= 0 ? "end." + reason : "end.default");
  say(status, null);
  show($("#rating-form"), admitted && !rated);
  step("ended");
}

// ------------------------------------------------------------ 8. the optional rating

let rated = false;

$("#rating-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const chosen = $("#rating-form").querySelector('input[name="score"]:checked');
  if (!chosen) {
    say($("#rating-error"), "rate.choose");
    $("#score-5").focus();
    return;
  }
  $("#rating-send").disabled = true;
  say($("#rating-error"), null);
  const result = await fetchJSON("POST", "/api/rating", {
    body: { score: Number(chosen.value) },
    token,
  });
  $("#rating-send").disabled = false;
  if (!result.ok && !(result.error && result.error.code === "conflict")) {
    put($("#rating-error"), () => errorText(result.error));
    return;
  }
  rated = true; // (a conflict: this conversation was rated already, e.g. in another tab)
  show($("#rating-form"), false);
  say($("#rating-done"), "rate.thanks");
});

// ------------------------------------------------------------ the broker's events

if (socket) {
  socket.on("connect_error", (err) => {
    const refused = refusal(err);
    if (refused) {
      say(status, null);
      showError(refused);
      if (refused.code === "session_ended") finish(null);
      if (["link_revoked", "token_expired", "unauthenticated"].indexOf(refused.code) >= 0) {
        show($("#no-link"), true);
      }
    } else {
      say(status, "conn.offline");
      if (current === "check") checkNetwork();
    }
  });

  socket.on("connect", () => {
    if (current === "check") checkNetwork();
  });

  let evicted = null;
  socket.on("evicted", (e) => {
    evicted = e; // the server closes this socket next: the session ended or the link changed
  });

  socket.on("disconnect", (reason) => {
    if (finished) return;
    if (evicted && evicted.code === "link_revoked") {
      finished = true;
      call.stop();
      releaseStream();
      say(status, null);
      showError(evicted);
      step(null);
      show($("#no-link"), true);
      return;
    }
    if (evicted && evicted.code === "session_ended") {
      finish(null); // `ended` did not arrive (it normally comes first)
      return;
    }
    if (reason === "io server disconnect") {
      // the server let a newer connection for this link take over: no automatic retry
      call.stop();
      releaseStream();
      say(status, null);
      say(errorBox, "link.taken_over");
      step(null);
      return;
    }
    say(status, "conn.dropped");
  });

  socket.on("welcome", async (w) => {
    showError(null);
    say(status, null);
    state = w.state;
    if (typeof w.counsellor_present === "boolean") counsellorPresent = w.counsellor_present;
    if (w.device) localStorage.setItem(deviceKey, w.device);
    if (w.hotline) hotline = w.hotline;
    if (w.pin) pin = w.pin;
    renderPhoneNumbers();
    if (w.state === "scheduled") {
      if (joined) {
        // chosen while offline, or back after a long outage: into the waiting room again
        const again = !joinPending;
        joinPending = false;
        const ack = await request(socket, "join", joined);
        if (ack.ok) {
          state = ack.state;
          rememberMode();
          if (mode === "phone") {
            if (current === "phone") renderPhone();
            else showPhone();
          } else if (current !== "check" && current !== "join") {
            step("wait");
            renderWait();
          }
          if (again) say(status, "wait.back");
          return;
        }
        joined = null;
        showError(ack.error);
      }
      if (!current || ["wait", "call", "ended"].indexOf(current) >= 0) step("consent");
      else if (current === "phone") renderPhone();
    } else if (w.state === "waiting") {
      if (!mode) mode = storedMode() || "video";
      if (!joined) {
        joined = { name: "", language: language(), capabilities: capabilitiesOf(mode) };
      }
      if (joinPending) {
        joinPending = false;
        await request(socket, "join", joined);
      }
      if (!current || current === "call" || current === "ended") {
        // a reload while waiting: consent was given and the choice made before
        if (mode === "phone") showPhone();
        else step("wait");
      }
      if (current === "wait") renderWait();
      if (current === "phone") renderPhone();
    } else if (w.state === "active") {
      admitted = true;
      if (!mode) mode = storedMode();
      call.setIceServers(w.ice_servers);
      showChannel(w.channel);
      setChannel(w.channel);
      if (isWebrtc(w.channel) && !call.pc) call.requestRestart(); // e.g. after a reload
    } else {
      finish(w.end_reason);
    }
  });

  socket.on("counsellor_presence", (p) => {
    counsellorPresent = !!p.present;
    if (current === "wait") renderWait();
    if (current === "phone") renderPhone();
  });

  socket.on("start", (s) => {
    state = "active";
    admitted = true;
    stopMeter();
    if (stream && !call.stream && isWebrtc(s.proposed_channel)) call.useStream(stream);
    call.setIceServers(s.ice_servers);
    showChannel(s.proposed_channel);
    if (isWebrtc(s.proposed_channel)) say(callState, "call.connecting");
    setChannel(s.proposed_channel);
  });

  socket.on("signal", (m) => {
    call.onSignal(m).then(applyToggles);
  });

  socket.on("channel", (c) => {
    if (c.pin) pin = c.pin;
    if (c.hotline) hotline = c.hotline;
    showChannel(c.channel);
    setChannel(c.channel);
  });

  socket.on("fallback_proposed", async () => {
    // video or audio failed: the phone, with the number and PIN on screen
    fallbackProposed = true;
    show($("#fallback"), true);
    say(status, "call.fallback");
    await switchToPhone();
  });

  socket.on("media_state", (m) => {
    if (!m.connected) say(callState, "call.peer_media");
  });

  socket.on("peer_presence", (p) => {
    say(status, p.present ? "call.peer_back" : "call.peer_gone");
  });

  socket.on("chat", (m) => {
    addChat(m.from, m.text, m.at);
  });

  socket.on("ended", (e) => {
    finish(e.reason);
    socket.disconnect();
  });

  socket.on("error", (e) => {
    showError(e);
  });
}
