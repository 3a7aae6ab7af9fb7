// /staff#token=...: the counsellor's console. Appointments, waiting room, the call.

import {
  $,
  button,
  CHANNELS,
  clock,
  connect,
  el,
  END_REASONS,
  errorText,
  postJSON,
  request,
  show,
  staffToken,
  STATES,
  watchStaffConnection,
} from "./common.js";
import { Call, isWebrtc, probeDevices } from "./rtc.js";

const token = staffToken("staff");
const status = $("#status");
const error = $("#error");
const waitingNote = $("#waiting-note");
const callState = $("#call-state");

let sessions = [];
let current = null; // {session, channel, segmentOpen, pin} of the call on screen
let hotline = "";

const call = new Call({
  socket: null,
  initiator: true,
  localVideo: $("#self"),
  remoteVideo: $("#remote"),
  stage: $("#stage"),
  onStatus: (text) => (callState.textContent = text),
});

function fail(err) {
  error.textContent = errorText(err);
}

function formatCode(code) {
  return (code || "").replace(/(\d{3})(?=\d)/g, "$1 ");
}

// ------------------------------------------------------------ sessions list

function renderSessions() {
  const rows = $("#session-rows");
  rows.replaceChildren();
  const open = sessions.filter((s) => ["scheduled", "waiting", "active"].includes(s.state));
  show($("#no-sessions"), open.length === 0);
  for (const s of open) {
    const tr = document.createElement("tr");
    const who = el("td", s.customer_ref);
    if (s.customer && s.customer.name) who.append(el("div", s.customer.name, "muted"));
    let state = STATES[s.state] || s.state;
    if (s.state === "waiting" && !s.customer_present) state += " (nicht verbunden)";
    const channel = s.channel || s.planned_channel;
    const actions = el("td");
    if (s.state === "waiting") actions.append(button("Einlassen", () => admit(s)));
    if (s.state === "scheduled" || s.state === "waiting") {
      actions.append(" ", button("Absagen", () => cancel(s), "secondary"));
    }
    if (s.state === "active" && (!current || current.session !== s.session)) {
      actions.append(button("Zum Gespräch", () => openCall(s, true), "secondary"));
    }
    tr.append(
      el("td", clock(s.planned_start)),
      who,
      el("td", state),
      el("td", CHANNELS[channel] || channel),
      el("td", formatCode(s.access_code)),
      actions,
    );
    rows.append(tr);
  }
  const waiting = open.filter((s) => s.state === "waiting").length;
  const text =
    waiting === 0 ? "" : waiting === 1 ? "1 Person wartet." : `${waiting} Personen warten.`;
  if (waitingNote.textContent !== text) waitingNote.textContent = text;
}

async function refresh() {
  const ack = await request(socket, "sync");
  if (ack.ok) {
    sessions = ack.sessions || [];
    renderSessions();
  }
}

async function admit(s) {
  error.textContent = "";
  callState.textContent = "Kamera und Mikrofon werden geprüft …";
  const { stream, capabilities } = await probeDevices();
  if (stream) call.useStream(stream);
  const ack = await request(socket, "admit", { session: s.session, capabilities });
  if (!ack.ok) {
    fail(ack.error);
    call.stop();
    callState.textContent = "";
  }
  refresh();
}

async function cancel(s) {
  if (!confirm(`Termin ${s.customer_ref} absagen?`)) return;
  const ack = await request(socket, "cancel", { session: s.session });
  if (!ack.ok) fail(ack.error);
  refresh();
}

// ------------------------------------------------------------ the call

function renderCall() {
  show($("#call"), !!current);
  if (!current) return;
  const c = current.channel;
  show($("#stage"), isWebrtc(c));
  show($("#phone-info"), c === "phone");
  show($("#phone-connected"), c === "phone" && !current.segmentOpen);
  $("#hotline").textContent = hotline;
  $("#pin").textContent = formatCode(current.pin);
  show($("#to-video"), c !== "video");
  show($("#to-audio"), c !== "audio");
  show($("#to-phone"), c !== "phone");
  const s = sessions.find((x) => x.session === current.session);
  const name = s && s.customer && s.customer.name ? s.customer.name : s ? s.customer_ref : "";
  $("#call-title").textContent = name ? `Gespräch mit ${name}` : "Gespräch";
}

/** Put a running session on screen; `fresh` starts a new peer connection (after a reload). */
function openCall(view, fresh) {
  if (current && current.session !== view.session) call.stop();
  current = {
    session: view.session,
    channel: view.channel,
    segmentOpen: false,
    pin: view.access_code || (current && current.pin),
  };
  call.session = view.session;
  if (view.ice_servers) call.setIceServers(view.ice_servers);
  call.setChannel(view.channel);
  if (isWebrtc(view.channel) && (fresh || !call.pc)) call.restart();
  renderCall();
  renderSessions();
}

function closeCall(reason) {
  call.stop();
  call.session = null;
  current = null;
  show($("#fallback"), false);
  callState.textContent = "";
  status.textContent = END_REASONS[reason] || "Das Gespräch ist beendet.";
  renderCall();
}

async function switchTo(to) {
  if (!current) return;
  const ack = await request(socket, "switch_channel", { session: current.session, to });
  if (!ack.ok) fail(ack.error);
}

$("#to-video").addEventListener("click", () => switchTo("video"));
$("#to-audio").addEventListener("click", () => switchTo("audio"));
$("#to-phone").addEventListener("click", () => switchTo("phone"));
$("#phone-connected").addEventListener("click", async () => {
  if (!current) return;
  const ack = await request(socket, "phone_connected", { session: current.session });
  if (!ack.ok) fail(ack.error);
});
$("#end").addEventListener("click", async () => {
  if (!current) return;
  const ack = await request(socket, "end", {
    session: current.session,
    outcome: $("#outcome").value,
  });
  if (!ack.ok) fail(ack.error);
});

// ------------------------------------------------------------ new appointment

$("#new-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const result = await postJSON(
    "/api/sessions",
    { customer_ref: $("#customer-ref").value.trim(), planned_channel: $("#planned-channel").value },
    token,
  );
  if (!result.ok) {
    fail(result.error);
    return;
  }
  $("#created-code").textContent = result.data.access_code_display;
  $("#created-link").value = result.data.join_url;
  show($("#created"), true);
  $("#customer-ref").value = "";
  refresh();
});

$("#copy-link").addEventListener("click", async () => {
  const input = $("#created-link");
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = "Link kopiert.";
  } catch {
    input.select(); // no clipboard access (e.g. plain http): select it for Strg+C
    status.textContent = "Bitte kopieren Sie den markierten Link mit Strg+C.";
  }
});

// ------------------------------------------------------------ the socket

let socket = null;
if (!token) {
  status.textContent = "";
  show($("#no-token"), true);
} else {
  socket = connect("/staff", () => ({ token }));
  call.socket = socket;
  fetch("/api/config")
    .then((r) => r.json())
    .then((c) => {
      hotline = c.hotline || "";
      renderCall();
    })
    .catch(() => {});

  watchStaffConnection(socket, "staff", status, fail);

  socket.on("welcome", (w) => {
    error.textContent = "";
    status.textContent = `Angemeldet als ${w.staff}.`;
    show($("#sessions"), true);
    show($("#new"), true);
    sessions = w.sessions || [];
    const active = sessions.find((s) => s.state === "active");
    if (active) openCall(active, !current || current.session !== active.session);
    renderSessions();
  });

  socket.on("customer_waiting", (card) => {
    waitingNote.textContent = `${card.name || "Eine Person"} wartet im Warteraum.`;
    refresh();
  });

  socket.on("customer_left", () => {
    status.textContent = "Eine Person hat den Warteraum verlassen.";
    refresh();
  });

  socket.on("start", async (s) => {
    await refresh();
    const view = sessions.find((x) => x.session === s.session) || { session: s.session };
    openCall({ ...view, channel: s.proposed_channel, ice_servers: s.ice_servers }, true);
    callState.textContent = "Verbindung wird aufgebaut …";
  });

  socket.on("signal", (m) => {
    if (current && m.session === current.session) call.onSignal(m);
  });

  socket.on("channel", (c) => {
    if (!current || c.session !== current.session) return refresh();
    current.channel = c.channel;
    current.segmentOpen = c.segment_open;
    if (c.pin) current.pin = c.pin;
    if (c.hotline) hotline = c.hotline;
    show($("#fallback"), false);
    call.setChannel(c.channel);
    if (isWebrtc(c.channel)) call.connectIfIdle(); // back up from the phone
    callState.textContent =
      c.channel === "phone" && c.segment_open
        ? "Telefon verbunden."
        : `Kanal: ${CHANNELS[c.channel] || c.channel}.`;
    renderCall();
    refresh();
  });

  socket.on("media_state", (m) => {
    if (!current || m.session !== current.session) return;
    callState.textContent = m.connected
      ? "Verbunden."
      : "Beim Kunden ist die Verbindung fehlgeschlagen.";
  });

  socket.on("fallback_proposed", (p) => {
    if (current && p.session === current.session) show($("#fallback"), true);
  });

  socket.on("peer_presence", (p) => {
    status.textContent = p.present
      ? "Der Kunde ist wieder verbunden."
      : "Der Kunde ist gerade nicht verbunden.";
    refresh();
  });

  socket.on("ended", (e) => {
    if (current && e.session === current.session) closeCall(e.reason);
    refresh();
  });

  socket.on("error", (e) => fail(e));
}
