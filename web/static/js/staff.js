// /staff#token=...: the counsellor's console. Appointments, the waiting room, the call.
//
// Everything shown is rebuilt from the broker's `welcome` / `sync` (and GET /api/sessions
// for what ended today), so a reload or a dropped connection loses nothing but the chat,
// which is never stored anywhere.

import {
  $,
  connect,
  el,
  errorText,
  postJSON,
  request,
  show,
  staffToken,
  watchStaffConnection,
} from "./common.js";
import { language, onLanguageChange, t } from "./i18n.js";
import { Call, isWebrtc, probeDevices, qualityLevel } from "./rtc.js";
import {
  api,
  Chime,
  clockTime,
  followSignIn,
  resay,
  say,
  confirmDialog,
  copyText,
  fill,
  formatCode,
  keepFocus,
  longWhen,
  number,
  setupLanguage,
  shortWhen,
} from "./staffkit.js";
import { INVITATIONS } from "./texts-staff.js";
import { DropinConsole } from "./dropin-console.js";
import { CallbackWorklist } from "./callback-console.js";

const QUALITY_SAMPLE_MS = 2000;
const RESYNC_MS = 30000; // other tabs of the same counsellor learn of admissions this way
const CHIME_GAP_MS = 3000;

const status = $("#status");
const error = $("#error");
const callState = $("#call-state");

let token = staffToken("staff");
let socket = null;
let sessions = []; // live counsellor views (4.1), from welcome / sync
let closed = []; // today's contact records of this counsellor
let current = null; // {session, channel, segmentOpen, pin}: the call on screen in this tab
let hotline = "";
let teams = [];
let expired = false;
let shown = null; // the link shown in #created: {session, ref, link, code, plannedStart, titleKey}
let lastChime = 0;

// ------------------------------------------------------------ texts that follow the language


function fail(err) {
  if (err && err.code === "token_expired") {
    signedOut();
    return;
  }
  say(error, () => errorText(err));
}

function clearError() {
  say(error, "");
}

const stateWord = (state) => t(`state.${state}`);
const channelWord = (channel) => (channel ? t(`channel.${channel}`) : "");

setupLanguage($("#lang"));
document.title = t("staff.doc_title");

// ------------------------------------------------------------ chime

const chime = new Chime("cb.chime.staff");
const chimeToggle = $("#chime-toggle");

function renderChimeToggle() {
  chimeToggle.setAttribute("aria-pressed", String(chime.muted));
  chimeToggle.dataset.chimes = String(chime.played);
}

chimeToggle.addEventListener("click", () => {
  chime.setMuted(!chime.muted);
  if (chime.muted) show($("#chime-hint"), false);
  renderChimeToggle();
  dropin.render();
});

function ring() {
  const now = Date.now();
  if (now - lastChime < CHIME_GAP_MS) return;
  lastChime = now;
  const played = chime.play();
  show($("#chime-hint"), !played && !chime.muted);
  renderChimeToggle();
}

window.addEventListener(
  "pointerdown",
  () => setTimeout(() => chime.ready && show($("#chime-hint"), false), 100),
  { once: true },
);
renderChimeToggle();

// ------------------------------------------------------------ drop-ins (protocol 3.4)

const dropin = new DropinConsole({
  chime,
  request: (event, data) => request(socket, event, data),
  fail,
  admit: (id) => admit(id),
  changed: () => renderSessions(), // the tab's title says that it rings
  accepted: (view) => {
    // the new session at once; the customer's page is on its way to the waiting room
    sessions = [...sessions.filter((s) => s.session !== view.session), view];
    renderAll();
    refresh();
  },
});

// ------------------------------------------------------------ callback requests

const callbacks = new CallbackWorklist({
  token: () => token,
  sessionOf: (id) => byId(id),
  started: (view, reach) => {
    // by video the customer comes through their personal page: let them in (the counsellor
    // calling is the consent); by phone the counsellor says when the phone is connected
    if (reach === "video") dropin.expect(view.session);
    sessions = [...sessions.filter((s) => s.session !== view.session), view];
    renderAll();
    refresh();
  },
  phoneConnected: async (id) => {
    clearError();
    const ack = await request(socket, "phone_connected", { session: id });
    if (!ack.ok) fail(ack.error);
  },
  fail,
});

// ------------------------------------------------------------ the call object

const call = new Call({
  socket: null,
  initiator: true,
  localVideo: $("#self"),
  remoteVideo: $("#remote"),
  stage: $("#stage"),
  onStatus: () => {}, // German only; this page translates `onState`
  onState: (state) => say(callState, () => t(`staff.rtc.${state}`)),
});

// ------------------------------------------------------------ sessions list

function dominantChannel(seconds) {
  let best = null;
  let most = 0;
  for (const channel of ["video", "audio", "phone"]) {
    const s = (seconds && seconds[channel]) || 0;
    if (s > most) {
      best = channel;
      most = s;
    }
  }
  return best;
}

/** Live sessions by planned time, then the ones that ended today. */
function listed() {
  const byTime = (a, b) => (a.planned_start || 0) - (b.planned_start || 0);
  const live = sessions.filter((s) => ["scheduled", "waiting", "active"].includes(s.state));
  const ids = new Set(live.map((s) => s.session));
  const done = closed
    .filter((r) => !ids.has(r.session_id))
    .map((r) => ({
      session: r.session_id,
      state: r.state,
      customer_ref: r.customer_ref,
      planned_start: r.planned_start,
      channel: dominantChannel(r.seconds) || r.planned_channel,
      end_reason: r.end_reason,
      closed: true,
    }));
  return [...live.sort(byTime), ...done.sort(byTime)];
}

function describeState(s) {
  let words = stateWord(s.state);
  if (s.state === "waiting" && !s.customer_present) words += ` (${t("staff.not_connected")})`;
  if (s.state === "active" && current && current.session === s.session) {
    words += ` (${t("staff.in_this_tab")})`;
  }
  if (s.closed && s.end_reason && t(`reason.${s.end_reason}`) !== stateWord(s.state)) {
    words += ` – ${t(`reason.${s.end_reason}`)}`;
  }
  return words;
}

function actionButton(s, action, key, className) {
  const b = el("button", t(key), className);
  b.type = "button";
  b.dataset.action = action;
  b.dataset.session = s.session;
  b.setAttribute("aria-label", t("staff.for_ref", { action: t(key), ref: s.customer_ref }));
  return b;
}

function cell(tag, labelKey) {
  const c = document.createElement(tag);
  c.dataset.label = t(labelKey);
  return c;
}

function sessionRow(s) {
  const tr = document.createElement("tr");
  tr.dataset.session = s.session;
  tr.dataset.state = s.state;
  if (s.closed) tr.className = "closed";

  const time = cell("td", "staff.col_time");
  time.textContent = shortWhen(s.planned_start);

  const ref = cell("th", "staff.col_ref");
  ref.scope = "row";
  ref.append(el("span", s.customer_ref, "ref"));
  if (s.customer && s.customer.name) ref.append(el("span", s.customer.name, "who"));
  if (s.kind === "drop-in") ref.append(el("span", t("staff.kind_dropin"), "kind small"));
  if (s.kind === "callback") ref.append(el("span", t("staff.kind_callback"), "kind small"));
  if (s.access_code && !s.closed) {
    ref.append(el("span", t("staff.code", { code: formatCode(s.access_code) }), "muted small"));
  }

  const channel = cell("td", "staff.col_channel");
  channel.textContent = channelWord(s.channel || s.planned_channel);

  const state = cell("td", "staff.col_state");
  state.append(el("span", describeState(s), `state state-${s.state}`));

  const actions = cell("td", "staff.col_actions");
  const buttons = [];
  if (s.state === "waiting") buttons.push(actionButton(s, "admit", "staff.admit"));
  if (s.state === "active" && !(current && current.session === s.session)) {
    buttons.push(actionButton(s, "resume", "staff.resume"));
  }
  if (!s.closed) buttons.push(actionButton(s, "copy-link", "staff.copy_row_link", "secondary"));
  if (s.state === "scheduled" || s.state === "waiting") {
    buttons.push(actionButton(s, "renew-link", "staff.renew_link", "secondary"));
    buttons.push(actionButton(s, "cancel", "staff.cancel", "secondary"));
  }
  const wrap = el("div", null, "row-actions");
  wrap.append(...buttons);
  actions.append(wrap);

  tr.append(time, ref, channel, state, actions);
  return tr;
}

function renderSessions() {
  const rows = $("#session-rows");
  const list = listed();
  keepFocus(rows, () => rows.replaceChildren(...list.map(sessionRow)));
  show($("#no-sessions"), list.length === 0);
  const waiting = sessions.filter((s) => s.state === "waiting").length;
  const note =
    waiting === 0
      ? ""
      : waiting === 1
        ? t("staff.waiting_one")
        : t("staff.waiting_many", { count: waiting });
  if ($("#waiting-note").textContent !== note) $("#waiting-note").textContent = note;
  document.title = dropin.ringing
    ? t("dropin.doc_title_ringing")
    : waiting > 0
      ? t("staff.doc_title_waiting", { count: waiting })
      : t("staff.doc_title");
}

// ------------------------------------------------------------ waiting customers

function capsOf(customer) {
  const c = (customer && customer.capabilities) || {};
  const has = (k) => c[k] !== false; // missing keys count as true (protocol 3)
  return { webrtc: has("webrtc"), camera: has("camera"), microphone: has("microphone") };
}

function possibleChannel(caps) {
  if (caps.webrtc && caps.camera && caps.microphone) return "video";
  if (caps.webrtc && caps.microphone) return "audio";
  return "phone";
}

function devicesText(caps) {
  if (!caps.webrtc) return t("staff.caps_none");
  const parts = [];
  if (caps.camera) parts.push(t("staff.caps_camera"));
  if (caps.microphone) parts.push(t("staff.caps_microphone"));
  return parts.length ? parts.join(", ") : t("staff.caps_nothing");
}

function waitingCard(s) {
  const card = el("div", null, "waiting-card");
  card.dataset.session = s.session;
  const customer = s.customer || {};
  const caps = capsOf(customer);
  const head = el("p", null, "waiting-head");
  head.append(
    el(
      "strong",
      t("staff.waiting_card", {
        name: customer.name || t("staff.waiting_someone"),
        ref: s.customer_ref,
      }),
    ),
  );
  const details = [
    t("staff.waiting_details", {
      language: t(`lang.${customer.language || "de"}`),
      devices: devicesText(caps),
      channel: channelWord(possibleChannel(caps)),
    }),
  ];
  if (typeof customer.waiting_since === "number") {
    details.push(t("staff.waiting_since", { time: clockTime(customer.waiting_since) }));
  }
  if (!s.customer_present) details.push(t("staff.waiting_absent"));
  const admit = actionButton(s, "admit", "staff.admit");
  card.append(head, el("p", details.join(" ")), admit);
  card.dataset.key = [language(), head.textContent, details.join(" ")].join("|");
  return card;
}

/**
 * One card per waiting customer. Cards are added, changed and removed one by one, so the
 * alert announces the newcomer, not everyone again.
 */
function renderAlert() {
  const box = $("#waiting-alert");
  const waiting = sessions.filter((s) => s.state === "waiting" && !dropin.isAccepted(s.session));
  const keep = new Set(waiting.map((s) => s.session));
  keepFocus(box, () => {
    for (const card of [...box.children]) {
      if (!keep.has(card.dataset.session)) card.remove();
    }
    for (const s of waiting) {
      const fresh = waitingCard(s);
      const old = box.querySelector(`[data-session="${CSS.escape(s.session)}"]`);
      if (!old) box.append(fresh);
      else if (old.dataset.key !== fresh.dataset.key) old.replaceWith(fresh);
    }
  });
}

// ------------------------------------------------------------ actions on a session

const byId = (id) => sessions.find((s) => s.session === id) || null;

async function refresh() {
  if (!socket) return;
  const sentAt = Date.now();
  const ack = await request(socket, "sync");
  if (ack.ok) {
    sessions = ack.sessions || [];
    if (ack.teams) teams = ack.teams;
    dropin.fromSync(ack.dropin || null, sentAt);
    renderAll();
    dropin.admitWaiting(sessions);
  }
}

async function loadClosed() {
  const result = await api("GET", "/api/sessions", token);
  if (result.ok) {
    closed = result.data.closed_today || [];
    renderSessions();
  }
}

async function admit(id) {
  clearError();
  if (!current) {
    say(status, () => t("staff.checking_devices"));
    const { stream, capabilities } = await probeDevices();
    if (stream) call.useStream(stream);
    const ack = await request(socket, "admit", { session: id, capabilities });
    if (!ack.ok) {
      fail(ack.error);
      if (!current) call.stop();
    }
  } else {
    // a second call while one is on screen: keep this one's camera and microphone
    const stream = call.stream;
    const capabilities = {
      webrtc: true,
      camera: !!stream && stream.getVideoTracks().length > 0,
      microphone: !!stream && stream.getAudioTracks().length > 0,
    };
    const ack = await request(socket, "admit", { session: id, capabilities });
    if (!ack.ok) fail(ack.error);
  }
  refresh();
}

async function cancel(id) {
  const s = byId(id);
  if (!s) return;
  const yes = await confirmDialog($("#confirm-dialog"), {
    message: t("staff.confirm_cancel", { ref: s.customer_ref }),
    yes: t("staff.confirm_cancel_yes"),
    no: t("staff.confirm_no"),
  });
  if (!yes) return;
  clearError();
  const ack = await request(socket, "cancel", { session: id });
  if (ack.ok) say(status, () => t("staff.cancelled", { ref: s.customer_ref }));
  else fail(ack.error);
  await refresh();
  await loadClosed();
  // the row lost its buttons: keep the keyboard user in the list
  if (document.activeElement === document.body) $("#sessions-title").focus();
}

async function copyRowLink(id) {
  const s = byId(id);
  clearError();
  const result = await api("GET", `/api/sessions/${encodeURIComponent(id)}/link`, token);
  if (!result.ok) return fail(result.error);
  const ref = s ? s.customer_ref : "";
  if (await copyText(result.data.join_url)) {
    say(status, () => t("staff.copied_link_for", { ref }));
  } else {
    // no clipboard: show it, selected, for Ctrl+C
    showLink(result.data, s, "staff.link_title");
    $("#created-link").select();
    say($("#copy-status"), () => t("staff.copy_failed"));
  }
}

async function renewLink(id) {
  const s = byId(id);
  if (!s) return;
  const yes = await confirmDialog($("#confirm-dialog"), {
    message: t("staff.confirm_renew", { ref: s.customer_ref }),
    yes: t("staff.confirm_renew_yes"),
    no: t("staff.confirm_no"),
  });
  if (!yes) return;
  clearError();
  const result = await api("POST", `/api/sessions/${encodeURIComponent(id)}/link`, token);
  if (!result.ok) return fail(result.error);
  showLink(result.data, s, "staff.renewed_title");
  refresh();
}

function resume(id) {
  const s = byId(id);
  if (!s || s.state !== "active") return;
  if (!current || current.session !== id) openCall(s, true);
  focusCall();
}

function onAction(event) {
  const b = event.target.closest("button[data-action]");
  if (!b || !socket) return;
  const id = b.dataset.session;
  const act = {
    admit,
    cancel,
    resume,
    "copy-link": copyRowLink,
    "renew-link": renewLink,
  }[b.dataset.action];
  if (act) act(id);
}

$("#session-rows").addEventListener("click", onAction);
$("#waiting-alert").addEventListener("click", onAction);

// ------------------------------------------------------------ the new link / the invitation

function showLink(link, session, titleKey) {
  shown = {
    session: link.session,
    ref: session ? session.customer_ref : link.customer_ref || "",
    link: link.join_url,
    code: link.access_code || String(link.access_code_display || "").replace(/\D/g, ""),
    plannedStart:
      (session && session.planned_start) || link.planned_start || Date.now() / 1000,
    titleKey,
  };
  renderCreated();
  show($("#created"), true);
  say($("#copy-status"), "");
  $("#created-title").focus();
}

function invitation() {
  if (!shown) return "";
  const join = shown.link.replace(/\/j#.*$/, "/join");
  const vars = (lang) => ({
    when: longWhen(shown.plannedStart, lang),
    link: shown.link,
    code: formatCode(shown.code),
    hotline: hotline || "–",
    join,
  });
  let text = fill(INVITATIONS.de, vars("de"));
  if (language() === "en") text += `\n\n* * *\n\n${fill(INVITATIONS.en, vars("en"))}`;
  return text;
}

function renderCreated() {
  if (!shown) return;
  $("#created-title").textContent = t(shown.titleKey, { ref: shown.ref });
  $("#created-code").textContent = formatCode(shown.code);
  $("#created-link").value = shown.link;
  $("#invitation-text").value = invitation();
}

async function copyAndSay(text, okKey, fallback) {
  if (await copyText(text)) {
    say($("#copy-status"), () => t(okKey));
  } else {
    fallback();
    say($("#copy-status"), () => t("staff.copy_failed"));
  }
}

$("#copy-link").addEventListener("click", () =>
  copyAndSay(shown.link, "staff.copied_link", () => $("#created-link").select()),
);
$("#copy-code").addEventListener("click", () =>
  copyAndSay(formatCode(shown.code), "staff.copied_code", () => {
    const range = document.createRange();
    range.selectNodeContents($("#created-code"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }),
);
$("#copy-invitation").addEventListener("click", () =>
  copyAndSay(invitation(), "staff.copied_invitation", () => {
    $("#created details").open = true;
    $("#invitation-text").select();
  }),
);

const REF = /^[A-Za-z0-9._:-]{1,64}$/;

$("#new-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const refInput = $("#customer-ref");
  const ref = refInput.value.trim();
  if (!REF.test(ref)) {
    refInput.setAttribute("aria-invalid", "true");
    say($("#customer-ref-error"), () => t("staff.ref_invalid"));
    refInput.focus();
    return;
  }
  refInput.removeAttribute("aria-invalid");
  say($("#customer-ref-error"), "");
  const body = { customer_ref: ref, planned_channel: $("#planned-channel").value };
  const when = $("#planned-start").value;
  if (when) {
    const at = new Date(when).getTime();
    if (Number.isFinite(at)) body.planned_start = at / 1000;
  }
  if (teams.length > 1) body.team = $("#team").value;
  const createButton = $("#create");
  createButton.disabled = true;
  const result = await postJSON("/api/sessions", body, token);
  createButton.disabled = false;
  if (!result.ok) {
    fail(result.error);
    return;
  }
  refInput.value = "";
  $("#planned-start").value = "";
  showLink(result.data, result.data, "staff.created_title");
  refresh();
});

function renderTeams() {
  const select = $("#team");
  show($("#team-field"), teams.length > 1);
  const have = [...select.options].map((o) => o.value).join(",");
  if (have === teams.join(",")) return;
  select.replaceChildren(...teams.map((team) => new Option(team, team)));
}

// ------------------------------------------------------------ the call

let lastSample = null;
let lastLevel = null;
let pendingLevel = null;

function renderQuality() {
  const level = qualityLevel(lastSample) || "unknown";
  const box = $("#quality");
  box.dataset.level = level;
  $("#quality-level").textContent =
    level === "unknown" ? t("staff.quality_unknown") : t(`staff.quality_${level}`);
  const s = lastSample || {};
  $("#quality-figures").textContent =
    level === "unknown"
      ? ""
      : `(${t("staff.quality_figures", {
          rtt: typeof s.rtt_ms === "number" ? number(s.rtt_ms) : "–",
          loss: typeof s.loss_pct === "number" ? number(s.loss_pct, 1) : "–",
        })})`;
}

/** Say a change of quality once it held for two samples; the first measurement is silent. */
function announceQuality(level) {
  if (level === lastLevel) {
    pendingLevel = null;
    return;
  }
  if (pendingLevel !== level) {
    pendingLevel = level;
    return;
  }
  const first = lastLevel === null;
  lastLevel = level;
  pendingLevel = null;
  if (!first && level) {
    say($("#quality-announce"), () =>
      t("staff.quality_changed", { level: t(`staff.quality_${level}`) }),
    );
  }
}

function resetQuality() {
  lastSample = null;
  lastLevel = null;
  pendingLevel = null;
  say($("#quality-announce"), "");
  renderQuality();
}

setInterval(async () => {
  if (!current || !isWebrtc(current.channel) || !call.pc) return;
  let sample = null;
  try {
    sample = await call.sampleQuality();
  } catch {
    sample = null;
  }
  lastSample = sample;
  renderQuality();
  announceQuality(qualityLevel(sample));
  if (sample) call.reportQuality(sample);
}, QUALITY_SAMPLE_MS);

function setPressed(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}

$("#mute").addEventListener("click", (e) => {
  const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
  setPressed(e.currentTarget, on);
  call.setMicMuted(on);
});

$("#camera-off").addEventListener("click", (e) => {
  const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
  setPressed(e.currentTarget, on);
  call.setCameraOff(on);
  show($("#self-off"), on);
});

function renderCall() {
  show($("#call"), !!current);
  if (!current) return;
  const c = current.channel;
  const s = byId(current.session);
  show($("#stage"), isWebrtc(c));
  show($("#quality"), isWebrtc(c));
  show($("#mute"), isWebrtc(c));
  show($("#camera-off"), c === "video");
  show($("#phone-info"), c === "phone");
  show($("#phone-connected"), c === "phone" && !current.segmentOpen);
  const pin = current.pin || (s && s.access_code) || "";
  $("#hotline").textContent = hotline;
  $("#pin").textContent = formatCode(pin);
  $("#fallback-hotline").textContent = hotline;
  $("#fallback-code").textContent = formatCode(pin);
  show($("#to-video"), c !== "video");
  show($("#to-audio"), c !== "audio");
  show($("#to-phone"), c !== "phone");
  const name = s && s.customer && s.customer.name ? s.customer.name : s ? s.customer_ref : "";
  $("#call-title").textContent = name ? t("staff.call_with", { name }) : t("staff.call_title");
}

function focusCall() {
  const title = $("#call-title");
  title.focus();
  title.scrollIntoView({ block: "start" });
}

// `channel` events of a session not on screen yet (a call begun by phone: its `channel`
// follows `start` at once, before the start's sync has put the call on screen)
const heardChannel = new Map();

/** Put a running session on screen; `fresh` starts a new peer connection (after a reload). */
function openCall(view, fresh) {
  const other = current && current.session !== view.session;
  if (other) call.stop();
  if (!current || other) {
    $("#chat-log").replaceChildren();
    show($("#fallback-proposal"), false);
    resetQuality();
  }
  const heard = heardChannel.get(view.session);
  heardChannel.clear();
  current = {
    session: view.session,
    channel: view.channel,
    segmentOpen: heard ? heard.segment_open : current && !other ? current.segmentOpen : false,
    pin: view.access_code || (heard && heard.pin) || (current && !other ? current.pin : ""),
  };
  call.session = view.session;
  if (view.ice_servers) call.setIceServers(view.ice_servers);
  call.setChannel(view.channel);
  if (isWebrtc(view.channel) && (fresh || !call.pc)) call.restart();
  renderCall();
  renderSessions();
}

function closeCall(reason) {
  const hadFocus = $("#call").contains(document.activeElement);
  call.stop();
  call.session = null;
  current = null;
  show($("#fallback-proposal"), false);
  say(callState, "");
  resetQuality();
  say(status, () => (reason ? t(`end.${reason}`) : t("staff.ended")));
  renderCall();
  renderSessions();
  if (hadFocus) $("#sessions-title").focus();
}

async function switchTo(to) {
  if (!current) return;
  clearError();
  const ack = await request(socket, "switch_channel", { session: current.session, to });
  if (!ack.ok) fail(ack.error);
}

$("#to-video").addEventListener("click", () => switchTo("video"));
$("#to-audio").addEventListener("click", () => switchTo("audio"));
$("#to-phone").addEventListener("click", () => switchTo("phone"));
$("#fallback-accept").addEventListener("click", () => switchTo("phone"));
$("#phone-connected").addEventListener("click", async () => {
  if (!current) return;
  clearError();
  const ack = await request(socket, "phone_connected", { session: current.session });
  if (!ack.ok) fail(ack.error);
});
$("#end").addEventListener("click", async () => {
  if (!current) return;
  clearError();
  const ack = await request(socket, "end", {
    session: current.session,
    outcome: $("#outcome").value,
  });
  if (!ack.ok) fail(ack.error);
});

// ------------------------------------------------------------ chat (relayed, never stored)

function addChat(from, text, at) {
  const log = $("#chat-log");
  const line = el("p", null, `chat-line from-${from === "counsellor" ? "me" : "them"}`);
  const who = from === "counsellor" ? t("staff.chat_me") : t("staff.chat_customer");
  const when = typeof at === "number" ? clockTime(at) : clockTime(Date.now() / 1000);
  line.append(el("span", `${who}, ${when}:`, "chat-meta"), " ", el("span", text, "chat-text"));
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const text = input.value.trim();
  if (!text || !current) return;
  clearError();
  const ack = await request(socket, "chat", { session: current.session, text });
  if (!ack.ok) {
    fail(ack.error);
    return;
  }
  addChat("counsellor", text, ack.at);
  input.value = "";
  input.focus();
});

$("#chat-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("#chat-form").requestSubmit();
  }
});

// ------------------------------------------------------------ sign-in

function signedOut() {
  expired = true;
  say(error, () => t("console.expired"));
  say(status, "");
  show($("#no-token"), true);
  show($("#new"), false); // nothing can be created until the next sign-in
}


const warnBeforeExpiry = followSignIn("staff", {
  token: () => token,
  socket: () => socket,
  adopt: (fresh) => {
    token = fresh;
    expired = false;
    clearError();
    show($("#no-token"), false);
  },
  start: () => start(),
  status,
  say,
  fail,
});

// ------------------------------------------------------------ the socket

function renderAll() {
  renderTeams();
  renderSessions();
  renderAlert();
  renderCall();
  dropin.render();
  callbacks.render(); // a callback's call begun or ended changes what its entry offers
}

function start() {
  say(status, () => t("console.connecting"));
  socket = connect("/staff", () => ({ token }));
  call.socket = socket;
  warnBeforeExpiry();

  watchStaffConnection(socket, "staff", status, fail);
  socket.on("disconnect", () => {
    if (expired) say(status, "");
    else say(status, () => t("conn.dropped"));
    dropin.disconnected();
  });
  socket.on("connect_error", () => {
    if (!expired && !error.textContent) say(status, () => t("conn.offline"));
  });

  socket.on("welcome", (w) => {
    expired = false;
    clearError();
    show($("#no-token"), false);
    say(status, () => t("staff.signed_in", { staff: w.staff }));
    show($("#sessions"), true);
    show($("#new"), true);
    teams = w.teams || [];
    sessions = w.sessions || [];
    if (current && !sessions.some((s) => s.session === current.session && s.state === "active")) {
      closeCall(null); // it ended while this tab was offline
    }
    const mine = current && byId(current.session);
    const active = mine || sessions.find((s) => s.state === "active");
    if (active) {
      const isNew = !current || current.session !== active.session;
      openCall(active, isNew);
      if (isNew) focusCall();
    }
    dropin.fromWelcome(w.dropin || null);
    renderAll();
    dropin.admitWaiting(sessions);
    loadClosed();
    callbacks.refresh();
  });

  // a team's callback list moved (a new request, a claim, a call's end): read it again
  socket.on("callbacks_changed", () => callbacks.soon());

  socket.on("customer_waiting", async (card) => {
    await refresh(); // a drop-in this tab accepted is let in from there, without the chime
    if (card && card.session && !dropin.isAccepted(card.session)) ring();
  });

  socket.on("presence", (p) => dropin.setPresence(p && p.presence));
  socket.on("dropin_offer", (offer) => dropin.ring(offer));
  socket.on("dropin_withdrawn", (w) => dropin.withdrawn(w || {}));

  socket.on("customer_left", () => {
    say(status, () => t("staff.left_waiting"));
    refresh();
  });

  socket.on("start", async (s) => {
    await refresh();
    const view = byId(s.session) || { session: s.session };
    openCall({ ...view, channel: s.proposed_channel, ice_servers: s.ice_servers }, true);
    say(status, "");
    say(callState, () => t("staff.rtc.connecting"));
    focusCall();
  });

  socket.on("signal", (m) => {
    if (current && m.session === current.session) call.onSignal(m);
  });

  socket.on("channel", (c) => {
    if (!current || c.session !== current.session) {
      heardChannel.set(c.session, c);
      return refresh();
    }
    current.channel = c.channel;
    current.segmentOpen = c.segment_open;
    if (c.pin) current.pin = c.pin;
    if (c.hotline) hotline = c.hotline;
    show($("#fallback-proposal"), false);
    call.setChannel(c.channel);
    if (isWebrtc(c.channel)) call.connectIfIdle(); // back up from the phone
    else resetQuality();
    say(callState, () =>
      c.channel === "phone" && c.segment_open
        ? t("staff.phone_open")
        : t("staff.call_channel", { channel: channelWord(c.channel) }),
    );
    renderCall();
    refresh();
  });

  socket.on("media_state", (m) => {
    if (!current || m.session !== current.session) return;
    say(callState, () => (m.connected ? t("staff.peer_connected") : t("staff.peer_failed")));
  });

  socket.on("fallback_proposed", (p) => {
    if (!current || p.session !== current.session || current.channel === "phone") return;
    renderCall();
    show($("#fallback-proposal"), true);
  });

  socket.on("peer_presence", (p) => {
    const text = () => (p.present ? t("staff.peer_back") : t("staff.peer_gone"));
    if (current && p.session === current.session) say(callState, text);
    else say(status, text);
    refresh();
  });

  socket.on("chat", (m) => {
    if (current && m.session === current.session) addChat(m.from, m.text, m.at);
  });

  socket.on("ended", (e) => {
    if (current && e.session === current.session) closeCall(e.reason);
    refresh();
    loadClosed();
  });

  socket.on("error", (e) => {
    if (e && e.code === "offer_gone") dropin.gone(); // said in the drop-in area
    else fail(e);
  });

  setInterval(() => {
    if (socket.connected) refresh();
  }, RESYNC_MS);
}

fetch("/api/config")
  .then((r) => {
    dropin.setServerTime(r.headers.get("Date"));
    return r.json();
  })
  .then((c) => {
    hotline = c.hotline || "";
    renderCall();
    renderCreated();
  })
  .catch(() => {});

onLanguageChange(() => {
  resay();
  renderAll();
  renderQuality();
  renderCreated();
});

if (!token) {
  say(status, "");
  show($("#no-token"), true);
} else {
  start();
}
