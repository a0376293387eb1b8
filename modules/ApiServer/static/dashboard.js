// The SIL dashboard: the charger's public API and its event stream, nothing else.
"use strict";

const API = "/api/v1";
const PLOT_SPAN_MS = 30000; // the power plot shows the last half minute
const cards = new Map(); // EVSE number -> {root, series}
const tokenInput = document.getElementById("token");

// An API token, where the API wants one: from #token=... once, then kept in this browser.
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) localStorage.setItem("evstack-token", fromHash);
tokenInput.value = localStorage.getItem("evstack-token") || "";
tokenInput.addEventListener("change", () => {
  localStorage.setItem("evstack-token", tokenInput.value);
  start();
});

function say(text) {
  document.getElementById("message").textContent = text;
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (tokenInput.value) headers.Authorization = `Bearer ${tokenInput.value}`;
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 || response.status === 403) {
    document.getElementById("token-box").hidden = false;
  }
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.detail || response.statusText);
  return answer;
}

function card(n) {
  if (cards.has(n)) return cards.get(n);
  const root = document.getElementById("evse-card").content.firstElementChild.cloneNode(true);
  root.id = `evse-${n}`;
  const defaults = document.body.dataset.cards.split(" ");
  root.querySelector(".card").value = defaults[n - 1] || "";
  for (const button of root.querySelectorAll("button")) {
    button.addEventListener("click", () => act(n, button.dataset.action, root));
  }
  document.getElementById("evses").append(root);
  const entry = { root, series: [] };
  cards.set(n, entry);
  return entry;
}

async function act(n, action, root) {
  try {
    const result = action === "swipe"
      ? await call("POST", `/evses/${n}/start`, { id_token: root.querySelector(".card").value })
      : await call("POST", `/sim/evs/${n}`, { action });
    say(`EV ${n}: ${action}${result.done ? "" : " not done"}${result.detail ? `: ${result.detail}` : ""}`);
  } catch (error) {
    say(`EV ${n}: ${action} failed: ${error.message}`);
  }
}

const fixed = (value, digits, unit) => (value === undefined ? "–" : `${value.toFixed(digits)} ${unit}`);

function showEvse(status) {
  const { root, series } = card(status.evse);
  const set = (selector, text) => { root.querySelector(selector).textContent = text; };
  set(".evse-id", status.evse_id || `EVSE ${status.evse}`);
  const state = root.querySelector(".state");
  state.textContent = status.state;
  state.className = `state badge ${status.state}`;
  set(".pilot", status.pilot_state || "–");
  set(".duty", fixed(status.pwm_duty_percent, 1, "%"));
  set(".offered", fixed(status.offered_current_A, 1, "A"));
  set(".current", fixed(status.current_A, 1, "A"));
  set(".power", fixed(status.power_W === undefined ? undefined : status.power_W / 1000, 2, "kW"));
  set(".energy", fixed(status.energy_Wh === undefined ? undefined : status.energy_Wh / 1000, 3, "kWh"));
  set(".contactor", status.contactor_closed === undefined ? "–" : (status.contactor_closed ? "closed" : "open"));
  if (status.power_W !== undefined) {
    series.push([Date.now(), status.power_W]);
    plot(root.querySelector("canvas"), series);
  }
}

function showEv(ev) {
  const { root } = card(ev.ev);
  root.querySelector(".ev").hidden = false;
  root.querySelector(".script").textContent = ev.script_state ? `(${ev.script_state})` : "";
  if (ev.soc_percent !== undefined) {
    root.querySelector(".soc-bar").style.width = `${ev.soc_percent}%`;
    root.querySelector(".soc-text").textContent = `${ev.soc_percent.toFixed(1)} % state of charge`;
  }
}

// Power over the last minute; the canvas's data attributes say what it shows, for tests.
function plot(canvas, series) {
  const now = Date.now();
  while (series.length && series[0][0] < now - PLOT_SPAN_MS) series.shift();
  const top = Math.max(11000, ...series.map(([, w]) => w)) * 1.1;
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.fillStyle = "#667";
  g.fillText(`${(top / 1000).toFixed(0)} kW`, 4, 12);
  g.fillText("last 30 s", width - 52, height - 4);
  g.strokeStyle = "#2e9d57";
  g.lineWidth = 2;
  g.beginPath();
  series.forEach(([t, w], i) => {
    const x = width - ((now - t) / PLOT_SPAN_MS) * width;
    const y = height - (w / top) * height;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  canvas.dataset.points = String(series.length);
  canvas.dataset.maxW = String(Math.max(0, ...series.map(([, w]) => w)));
}

async function showHistory() {
  const page = await call("GET", "/sessions?limit=10");
  const rows = page.sessions.map((s) => {
    const row = document.createElement("tr");
    row.dataset.session = s.session_id;
    for (const text of [s.evse, s.id_token || "", s.started_at.slice(11, 19),
      s.stopped_at ? s.stopped_at.slice(11, 19) : "running",
      `${(s.energy_Wh / 1000).toFixed(3)} kWh`, s.stop_reason || ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  document.querySelector("#history tbody").replaceChildren(...rows);
}

let socket = null;
let historySoon = null;

function listen() {
  const link = document.getElementById("link");
  const query = tokenInput.value ? `?token=${encodeURIComponent(tokenInput.value)}` : "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${API}/events${query}`);
  socket.onopen = () => { link.textContent = "live"; link.className = "badge on"; };
  socket.onclose = () => {
    link.textContent = "reconnecting";
    link.className = "badge off";
    setTimeout(listen, 1000);
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.kind === "evse") showEvse(event.status);
    else if (event.kind === "ev") showEv(event.ev);
    else if (event.kind === "session") {
      clearTimeout(historySoon); // a burst of milestones: one fetch after it
      historySoon = setTimeout(() => showHistory().catch((e) => say(e.message)), 300);
    }
  };
}

async function start() {
  try {
    (await call("GET", "/evses")).forEach(showEvse);
    (await call("GET", "/sim/evs")).forEach(showEv);
    await showHistory();
    if (socket === null) listen();
  } catch (error) {
    say(`cannot read the charger: ${error.message}`);
  }
}

start();
