// /j#<token>: the customer's page. Join the waiting room, talk, fall back to the phone.

import {
  $,
  CHANNELS,
  END_REASONS,
  connect,
  errorText,
  refusal,
  request,
  show,
} from "./common.js";
import { Call, isWebrtc, probeDevices } from "./rtc.js";

const token = location.hash.slice(1);
const status = $("#status");
const error = $("#error");
const steps = ["#step-join", "#step-wait", "#step-call", "#step-phone", "#step-ended"].map((s) =>
  $(s),
);
const call = new Call({
  socket: null,
  initiator: false,
  localVideo: $("#self"),
  remoteVideo: $("#remote"),
  stage: $("#stage"),
  onStatus: (text) => ($("#call-state").textContent = text),
});

let hotline = "";
let joined = null; // what this page sent with `join`, to re-join after a long outage
let finished = false;
let counsellorPresent = true;

function waitingFor(present) {
  $("#wait-text").textContent = present === false
    ? "Sie sind im Warteraum. Ihre Beraterin bzw. Ihr Berater ist noch nicht angemeldet. " +
      "Bitte bleiben Sie auf dieser Seite."
    : "Sie sind im Warteraum. Sie werden gleich hereingelassen.";
}

/** The session id inside the token (a JWT's `sub`), to key the device secret. */
function sessionOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return typeof claims.sub === "string" ? claims.sub : null;
  } catch {
    return null;
  }
}

/** Show one step of the page (none for `null`). */
function step(selector) {
  const visible = selector ? $(selector) : null;
  for (const s of steps) show(s, s === visible);
}

function finish(reason) {
  finished = true;
  call.stop();
  localStorage.removeItem(deviceKey);
  $("#ended-text").textContent =
    (END_REASONS[reason] || "Das Gespräch ist beendet.") + " Sie können dieses Fenster schließen.";
  status.textContent = "";
  step("#step-ended");
}

function showPhone(pin, number) {
  if (number) hotline = number;
  const link = $("#hotline");
  link.textContent = hotline;
  link.href = "tel:" + hotline.replace(/[^\d+]/g, "");
  $("#pin").textContent = pin ? pin.replace(/(\d{3})(?=\d)/g, "$1 ") : "–";
  step("#step-phone");
}

function showChannel(channel, pin, number) {
  if (channel === "phone") {
    showPhone(pin, number);
    status.textContent = "Das Gespräch geht per Telefon weiter.";
  } else {
    step("#step-call");
    show($("#fallback"), false);
    status.textContent = `Gespräch per ${CHANNELS[channel] || channel}.`;
  }
}

if (!token) {
  status.textContent = "";
  error.textContent =
    "Der Link ist unvollständig. Bitte öffnen Sie den Link aus Ihrer Einladung noch einmal " +
    "oder geben Sie Ihren Zugangscode ein.";
  show($("#no-link"), true);
}

const deviceKey = "cb.device." + (sessionOf(token) || token.slice(-24));
const socket = token
  ? connect("/customer", () => {
      const device = localStorage.getItem(deviceKey);
      return device ? { token, device } : { token };
    })
  : null;
call.socket = socket;

if (socket) {
  socket.on("connect_error", (err) => {
    const refused = refusal(err);
    if (refused) {
      status.textContent = "";
      error.textContent = errorText(refused);
      if (refused.code === "session_ended") finish(null);
    } else {
      status.textContent = "Keine Verbindung zum Server. Neuer Versuch …";
    }
  });

  let evicted = null;
  socket.on("evicted", (e) => {
    evicted = e; // the server closes this socket next: the session ended or the link changed
  });

  socket.on("disconnect", (reason) => {
    if (finished) return;
    if (evicted && evicted.code === "link_revoked") {
      call.stop();
      status.textContent = "";
      error.textContent = errorText(evicted);
      step(null);
      return;
    }
    if (reason === "io server disconnect") {
      // the server let a newer connection for this link take over: no automatic retry
      call.stop();
      status.textContent = "";
      error.textContent =
        "Dieser Link wurde in einem anderen Fenster oder auf einem anderen Gerät geöffnet. " +
        "Um hier weiterzumachen, laden Sie diese Seite neu.";
      step(null);
      return;
    }
    status.textContent = "Die Verbindung ist unterbrochen. Neuer Versuch …";
  });

  socket.on("welcome", async (w) => {
    error.textContent = "";
    counsellorPresent = w.counsellor_present;
    if (w.device) localStorage.setItem(deviceKey, w.device);
    if (w.hotline) hotline = w.hotline;
    if (w.state === "scheduled") {
      if (joined) {
        // we were in the waiting room and the connection was gone too long: back in
        const ack = await request(socket, "join", joined);
        if (ack.ok) {
          step("#step-wait");
          status.textContent = "Sie sind wieder im Warteraum.";
          return;
        }
      }
      status.textContent = "";
      step("#step-join");
    } else if (w.state === "waiting") {
      status.textContent = "";
      step("#step-wait");
      waitingFor(w.counsellor_present);
    } else if (w.state === "active") {
      call.setIceServers(w.ice_servers);
      showChannel(w.channel, w.pin, w.hotline);
      call.setChannel(w.channel);
      if (isWebrtc(w.channel) && !call.pc) call.requestRestart(); // e.g. after a reload
    } else {
      finish(w.end_reason);
    }
  });

  socket.on("start", (s) => {
    call.setIceServers(s.ice_servers);
    showChannel(s.proposed_channel);
    call.onStatus("Verbindung wird aufgebaut …");
    call.setChannel(s.proposed_channel);
  });

  socket.on("signal", (m) => call.onSignal(m));

  socket.on("channel", (c) => {
    showChannel(c.channel, c.pin, c.hotline);
    call.setChannel(c.channel);
  });

  socket.on("fallback_proposed", () => {
    show($("#fallback"), true);
    status.textContent = "Die Verbindung klappt nicht. Sie können per Telefon weitersprechen.";
  });

  socket.on("media_state", (m) => {
    if (!m.connected) call.onStatus("Bei Ihrem Gegenüber ist die Verbindung gestört.");
  });

  socket.on("peer_presence", (p) => {
    status.textContent = p.present
      ? "Ihre Beraterin bzw. Ihr Berater ist wieder verbunden."
      : "Ihre Beraterin bzw. Ihr Berater ist kurz nicht verbunden. Bitte warten Sie.";
  });

  socket.on("ended", (e) => {
    finish(e.reason);
    socket.disconnect();
  });

  socket.on("error", (e) => {
    error.textContent = errorText(e);
  });
}

$("#join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!socket) return;
  if (!$("#consent").checked) {
    error.textContent = "Bitte bestätigen Sie, dass Sie die Hinweise gelesen haben.";
    $("#consent").focus();
    return;
  }
  error.textContent = "";
  const button = $("#join-button");
  button.disabled = true;
  status.textContent = "Kamera und Mikrofon werden geprüft …";
  const { stream, capabilities } = await probeDevices();
  if (stream) {
    call.useStream(stream);
    $("#preview").srcObject = stream;
  }
  const yes = (b) => (b ? "ja" : "nein");
  $("#devices").textContent =
    `Kamera: ${yes(capabilities.camera)}, Mikrofon: ${yes(capabilities.microphone)}` +
    (capabilities.microphone ? "" : " – das Gespräch kann per Telefon stattfinden.");
  joined = {
    name: $("#name").value.trim(),
    language: $("#language").value,
    capabilities,
  };
  const ack = await request(socket, "join", joined);
  button.disabled = false;
  waitingFor(counsellorPresent);
  if (!ack.ok) {
    joined = null;
    status.textContent = "";
    error.textContent = errorText(ack.error);
    return;
  }
  status.textContent = "";
  step("#step-wait");
});

async function leave() {
  const ack = await request(socket, "leave");
  if (!ack.ok) {
    error.textContent = errorText(ack.error);
    return;
  }
  if (ack.state === "scheduled") {
    joined = null;
    call.stop();
    $("#preview").srcObject = null;
    status.textContent = "Sie haben den Warteraum verlassen.";
    step("#step-join");
  }
}

$("#leave-wait").addEventListener("click", leave);
$("#leave-call").addEventListener("click", leave);
$("#leave-phone").addEventListener("click", leave);
$("#to-phone").addEventListener("click", async () => {
  const ack = await request(socket, "switch_channel", { to: "phone" });
  if (!ack.ok) error.textContent = errorText(ack.error);
});
