// /supervisor#token=...: live load per team, pushed by the broker at most once a second.

import {
  $,
  connect,
  el,
  errorText,
  minutes,
  request,
  show,
  staffToken,
  watchStaffConnection,
} from "./common.js";

const token = staffToken("supervisor");
const status = $("#status");
const error = $("#error");

// team -> {figures, receivedAt}; a push for one team leaves the others as they were
const teams = new Map();
let lastSummary = "";

function ingest(snapshot) {
  if (!snapshot || typeof snapshot.teams !== "object") return;
  const receivedAt = Date.now() / 1000;
  for (const [team, figures] of Object.entries(snapshot.teams)) {
    teams.set(team, { figures, receivedAt });
  }
  $("#as-of").textContent = new Date().toLocaleTimeString("de-DE");
  render();
}

function render() {
  const rows = $("#team-rows");
  rows.replaceChildren();
  show($("#no-teams"), teams.size === 0);
  let waiting = 0;
  const now = Date.now() / 1000;
  for (const [team, { figures: f, receivedAt }] of [...teams].sort()) {
    waiting += f.waiting;
    const oldest =
      typeof f.oldest_wait_seconds === "number"
        ? minutes(f.oldest_wait_seconds + (now - receivedAt))
        : "–";
    const tr = document.createElement("tr");
    const th = el("th", team);
    th.scope = "row";
    tr.append(th);
    for (const value of [
      f.sessions.scheduled,
      f.waiting,
      f.sessions.active,
      f.channels.video,
      f.channels.audio,
      f.channels.phone,
      oldest,
      f.counsellors.online,
      f.counsellors.busy,
      f.counsellors.free,
    ]) {
      tr.append(el("td", value, "num"));
    }
    rows.append(tr);
  }
  const summary =
    waiting === 0 ? "Niemand wartet." : waiting === 1 ? "1 Person wartet." : `${waiting} Personen warten.`;
  if (summary !== lastSummary) {
    $("#summary").textContent = summary; // only changes are announced
    lastSummary = summary;
  }
}

if (!token) {
  status.textContent = "";
  show($("#no-token"), true);
} else {
  const socket = connect("/supervisor", () => ({ token }));

  socket.on("connect", () => {
    status.textContent = "Verbunden.";
    error.textContent = "";
    show($("#load"), true);
  });

  watchStaffConnection(socket, "supervisor", status, (e) => (error.textContent = errorText(e)));

  socket.on("load", ingest);
  socket.on("error", (e) => (error.textContent = errorText(e)));

  // the longest wait keeps counting between pushes; a sync now and then corrects drift
  setInterval(render, 5000);
  setInterval(async () => {
    if (!socket.connected) return;
    const ack = await request(socket, "sync");
    if (ack.ok) ingest(ack.load);
  }, 60000);
}
