// The dashboard: long-polls the figures endpoint, so new events show within a second or two,
// without a reload. No framework and no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString("es-MX");
// A token typed here (a dashboard that is not public) lives in this page's memory only: no
// storage a script could read later. Staff work in the workspace (/desk), with a session cookie.
const state = { token: null, process: null, processes: [], asOf: null, generation: 0 };

class Unauthorized extends Error {}

// The published figures answer without a token (public dashboard); staff send theirs.
const authHeaders = () => (state.token ? { Authorization: `Bearer ${state.token}` } : {});
const currentProcess = () => state.processes.find((p) => p.id === state.process) || {};
const longDate = (iso) => new Intl.DateTimeFormat("es-MX", { day: "numeric", month: "long", year: "numeric",
  timeZone: "UTC" }).format(new Date(`${iso}T00:00:00Z`));
const shortDate = (iso) => new Intl.DateTimeFormat("es-MX", { day: "numeric", month: "short", timeZone: "UTC" })
  .format(new Date(`${iso}T00:00:00Z`));

async function api(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401) throw new Unauthorized("token no válido o revocado");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(typeof body.detail === "string" ? body.detail : `error ${response.status}`);
  }
  return response.json();
}

function showLogin(message) {
  $("login-error").textContent = message || "";
  if (!$("login").open) $("login").showModal();
}

// Bars drawn against ``scale`` (the largest value of their panel, so that bars of one panel
// compare); names wrap, never cut; the numbers are text, the tracks decoration.
function bars(container, entries, total, scale) {
  const max = Math.max(1, scale || 0, ...entries.map(([, n]) => n));
  container.replaceChildren(...entries.map(([name, n]) => {
    const row = document.createElement("div");
    row.className = "bar";
    const share = total ? ` (${(100 * n / total).toFixed(2)}%)` : "";
    row.innerHTML = `<span class="name"></span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="n"></span>`;
    row.querySelector(".name").textContent = name;
    row.querySelector(".fill").style.width = `${(100 * n) / max}%`;
    row.querySelector(".n").textContent = fmt(n) + share;
    return row;
  }));
  if (!entries.length) container.textContent = "Sin registros.";
}

// Several bar groups of one panel on one scale: [[container, entries, total], ...].
function panel(groups) {
  const scale = Math.max(1, ...groups.flatMap(([, entries]) => entries.map(([, n]) => n)));
  groups.forEach(([container, entries, total]) => bars(container, entries, total, scale));
}

const withoutTotal = (values) => Object.entries(values).filter(([k]) => k !== "TOTAL");

// Requests per day on a real time axis: a day without requests is a gap, ticks at the first of
// each month (every week on short spans), a y axis with rounded ticks. Drawn at the panel's
// width in pixels, so its text keeps its size on a phone.
function perDay(container, days) {
  const entries = Object.entries(days).sort(([a], [b]) => (a < b ? -1 : 1));
  if (!entries.length) { container.textContent = "Sin solicitudes."; return; }
  const DAY = 86400000, toTime = (iso) => Date.parse(`${iso}T00:00:00Z`);
  const first = toTime(entries[0][0]), last = toTime(entries[entries.length - 1][0]);
  // At least two weeks on the axis: one day's bar is a day wide, not the whole panel.
  const span = Math.max(14, Math.round((last - first) / DAY) + 1);
  const width = Math.max(280, container.clientWidth || 600), height = 180;
  const left = 44, right = 8, top = 8, bottom = 24, plotW = width - left - right, plotH = height - top - bottom;
  const peak = Math.max(...entries.map(([, n]) => n));
  const step = niceStep(peak / 4), yMax = Math.max(step, Math.ceil(peak / step) * step);
  const x = (t) => left + (plotW * (t - first)) / (span * DAY), barW = Math.max(1, plotW / span - 1);
  const y = (n) => top + plotH - (plotH * n) / yMax;
  const parts = [];
  for (let v = 0; v <= yMax; v += step) {
    parts.push(`<line class="grid" x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}"></line>`,
      `<text class="tick" x="${left - 4}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (const [day, n] of entries) {
    parts.push(`<rect x="${x(toTime(day))}" y="${y(n)}" width="${barW}" height="${top + plotH - y(n)}"><title>${longDate(day)}: ${fmt(n)}</title></rect>`);
  }
  const ticks = [], weekly = span <= 45;
  for (let t = first; t < first + span * DAY; t += DAY) {
    const d = new Date(t);
    if (weekly ? d.getUTCDay() === 1 : d.getUTCDate() === 1) ticks.push(t);
  }
  if (!ticks.length) ticks.push(first);
  let lastLabelEnd = -Infinity;
  for (const t of ticks) {
    const iso = new Date(t).toISOString().slice(0, 10), at = x(t);
    const label = weekly ? shortDate(iso) : new Intl.DateTimeFormat("es-MX", { month: "short", year: "numeric", timeZone: "UTC" }).format(new Date(t));
    parts.push(`<line class="axis" x1="${at}" x2="${at}" y1="${top + plotH}" y2="${top + plotH + 4}"></line>`);
    if (at - lastLabelEnd > 8) {  // labels that would overlap are left out, their ticks stay
      parts.push(`<text class="tick" x="${at}" y="${height - 6}" text-anchor="middle">${label}</text>`);
      lastLabelEnd = at + label.length * 6;
    }
  }
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  const [peakDay] = entries.find(([, n]) => n === peak);
  const summary = `SIILNERE recibidas por día, del ${longDate(entries[0][0])} al ${longDate(entries[entries.length - 1][0])}: ` +
    `${fmt(total)} en total; el día con más fue el ${longDate(peakDay)}, con ${fmt(peak)}.`;
  container.innerHTML = `<svg width="${width}" height="${height}" role="img" aria-label="${summary}">
    <line class="axis" x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}"></line>${parts.join("")}</svg>
    <p class="summary">${summary}</p>`;
  container.dataset.days = JSON.stringify(days);
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power * 10;
}

function pyramid(container, bySexAge) {
  const rows = Object.entries(bySexAge).reverse();
  const men = rows.reduce((sum, [, v]) => sum + v.Hombres, 0), women = rows.reduce((sum, [, v]) => sum + v.Mujeres, 0);
  container.setAttribute("aria-label", `Pirámide de edades: ${fmt(men)} hombres y ${fmt(women)} mujeres, por rango de edad.`);
  const max = Math.max(1, ...rows.flatMap(([, v]) => [v.Hombres, v.Mujeres]));
  container.replaceChildren(...rows.map(([age, v]) => {
    const row = document.createElement("div");
    row.className = "prow";
    row.innerHTML = `<span class="left"><span class="n"></span><span class="hbar"></span></span>
      <span class="age"></span><span class="right"><span class="mbar"></span><span class="n"></span></span>`;
    row.querySelector(".age").textContent = age;
    row.querySelector(".hbar").style.width = `${(80 * v.Hombres) / max}%`;
    row.querySelector(".mbar").style.width = `${(80 * v.Mujeres) / max}%`;
    const [h, m] = row.querySelectorAll(".n");
    h.textContent = fmt(v.Hombres);
    m.textContent = fmt(v.Mujeres);
    return row;
  }));
}

function countryTable(table, report) {
  const states = report.entities.map((e) => e.name);
  const head = `<thead><tr><th>País</th><th>Total</th>${states.map((n) => `<th></th>`).join("")}</tr></thead>`;
  table.innerHTML = head + "<tbody></tbody><tfoot></tfoot>";
  table.querySelectorAll("thead th").forEach((th, i) => { if (i > 1) th.textContent = states[i - 2]; });
  const row = (cells) => {
    const tr = document.createElement("tr");
    for (const cell of cells) { const td = document.createElement("td"); td.textContent = cell; tr.append(td); }
    return tr;
  };
  table.tBodies[0].append(...report.by_country_entity.map((c, i) =>
    row([`${i + 1} ${c.country}`, fmt(c.total), ...states.map((s) => fmt(c.by_entity[s]))])));
  table.tFoot.append(row(["Total", fmt(report.by_entity.TOTAL), ...states.map((s) => fmt(report.by_entity[s]))]));
  $("country-count").textContent = fmt(report.by_country_entity.length);
}

async function download(format) {
  const query = new URLSearchParams({ format });
  if (state.asOf) query.set("as_of", state.asOf);
  const response = await fetch(`/api/v1/processes/${encodeURIComponent(state.process)}/report?${query}`,
    { headers: authHeaders() });
  if (!response.ok) { $("updated").textContent = `no se pudo descargar (${response.status})`; return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `lnere-${state.process}-${state.asOf || "en-vivo"}${format === "excel" ? "-excel.csv" : `.${format}`}`;
  link.click();
  URL.revokeObjectURL(link.href);
}

function render(data) {
  const r = data.report, a = r.analysis_status, st = r.stages;
  $("total-received").textContent = fmt(a.received);
  $("total-meets").textContent = fmt(a.meets_requirements);
  $("total-inconsistencies").textContent = fmt(a.inconsistencies);
  $("total-in-review").textContent = fmt(a.in_review);
  $("total-rejected").textContent = fmt(a.rejected);
  $("total-included").textContent = fmt(st.included);
  bars($("funnel"), [
    ["Recibidas", a.received],
    ["Cumplen los requisitos", a.meets_requirements],
    ["Con inconsistencias", a.inconsistencies],
    ["En revisión", a.in_review],
    ["Improcedentes", a.rejected],
    ["En la LNERE para Revisión", st.listed_for_review],
    ["En la LNERE Definitiva", st.included],
    ["Excluidas de la LNERE Definitiva", st.excluded],
  ], a.received);
  panel([
    [$("by-channel"), withoutTotal(r.by_channel), r.by_channel.TOTAL],
    [$("by-credential"), [
      ["Con CPVE", r.by_credential_channel.CPVE.TOTAL],
      ["Con CPV emitida en territorio nacional", r.by_credential_channel.CPV.TOTAL],
    ], r.by_channel.TOTAL],
  ]);
  bars($("by-entity"), withoutTotal(r.by_entity).sort((x, y) => y[1] - x[1]), r.by_entity.TOTAL);
  bars($("by-country"), r.by_country_entity.slice(0, 10).map((c) => [c.country, c.total]), r.by_entity.TOTAL);
  panel([
    [$("by-sex"), withoutTotal(r.by_sex), r.by_sex.TOTAL],
    [$("by-modality"), withoutTotal(r.by_modality), r.by_modality.TOTAL],
  ]);
  perDay($("per-day"), data.filed_per_day);
  pyramid($("pyramid"), data.by_sex_age);
  countryTable($("country-entity"), r);
  const definitive = r.definitive_by_entity_modality;
  panel([
    [$("definitive"), withoutTotal(definitive).map(([state, row]) => [state, row.TOTAL]).sort((x, y) => y[1] - x[1]),
      definitive.TOTAL.TOTAL],
    [$("exclusions"), withoutTotal(r.exclusions_by_reason), r.exclusions_by_reason.TOTAL],
    [$("deliveries"), Object.entries(r.deliveries), 0],
  ]);
  panel([
    [$("outbound-calls"), withoutTotal(r.inetel_outbound_calls), r.inetel_outbound_calls.TOTAL],
    [$("automated-notices"), withoutTotal(r.automated_outbound), r.automated_outbound.TOTAL],
  ]);
  const campaigns = Object.entries(r.campaigns || {});
  const campaignGroups = campaigns.map(([code, row]) => {
    const title = document.createElement("h3");
    title.textContent = code;
    const group = document.createElement("div");
    group.className = "bars";
    return [title, group, row];
  });
  $("campaigns").replaceChildren(...campaignGroups.flatMap(([title, group]) => [title, group]));
  if (!campaigns.length) $("campaigns").textContent = "Sin campañas.";
  panel(campaignGroups.map(([, group, row]) => [group, Object.entries(row), 0]));
  const services = Object.values(r.inetel_attention);
  const attended = services.reduce((sum, s) => sum + s.total, 0);
  const channels = {};
  services.forEach((s) => Object.entries(s.by_channel).forEach(([k, n]) => { channels[k] = (channels[k] || 0) + n; }));
  panel([
    [$("attention"), services.map((s) => [s.label, s.total]), attended],
    [$("attention-channel"), Object.entries(channels).sort((x, y) => y[1] - x[1]), attended],
  ]);
  const requested = (rows) => withoutTotal(rows).map(([name, row]) => [name, row.Tramitadas])
    .filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
  panel([
    [$("cpve-offices"), requested(r.credentialing.by_office), r.credentialing.by_office.TOTAL.Tramitadas],
    [$("cpve-states"), requested(r.credentialing.by_state), r.credentialing.by_state.TOTAL.Tramitadas],
  ]);
  $("log-position").textContent = fmt(data.log_position);
  const behind = data.log_head - data.log_position;
  $("log-head").textContent = behind > 0 ? `(faltan ${fmt(behind)} eventos por procesar)` : "(al día)";
  const zone = currentProcess().zone_words || "", timezone = currentProcess().timezone;
  const clock = (options) => new Date().toLocaleString("es-MX", { timeZone: timezone, ...options });
  const stateName = r.state ? `${r.entities[0].name}: ` : "";  // a state electoral body sees its own state
  $("as-of-label").textContent = stateName + (r.as_of
    ? `Cifras al ${longDate(r.as_of)}, 23:59 ${zone}.`
    : `Cifras en vivo: todas las solicitudes registradas hasta ahora (${clock({ day: "numeric", month: "long", year: "numeric" })}).`);
  const stale = data.projection && data.projection.stale ? " Las cifras están detenidas: el equipo técnico lo revisa." : "";
  $("updated").textContent = `Actualizadas a las ${clock({ hour: "2-digit", minute: "2-digit", second: "2-digit" })} ${zone}` +
    (behind > 0 ? `; faltan ${fmt(behind)} movimientos por contar.` : "; se actualizan solas.") + stale;
  $("live-dot").className = "dot live";
}

async function follow() {
  const generation = ++state.generation;
  let after = null;
  while (generation === state.generation) {
    const query = new URLSearchParams();
    if (state.asOf) query.set("as_of", state.asOf);
    if (after !== null) { query.set("after", after); query.set("wait", "20"); }
    try {
      const data = await api(`/api/v1/processes/${encodeURIComponent(state.process)}/figures?${query}`);
      if (generation !== state.generation) return;
      render(data);
      after = data.log_position;
    } catch (error) {
      if (error instanceof Unauthorized) { showLogin(error.message); return; }
      $("live-dot").className = "dot error";
      $("updated").textContent = `sin conexión: ${error.message}; reintentando`;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

function showProcessBounds() {
  const p = currentProcess();
  if (!p.first_day) return;
  $("as-of").min = p.first_day;
  const today = new Date().toLocaleDateString("en-CA", { timeZone: p.timezone });
  $("as-of").max = p.last_day < today ? p.last_day : today;
  document.querySelectorAll(".zone-words").forEach((e) => { e.textContent = p.zone_words; });
  $("as-of-help").textContent = `Del ${longDate($("as-of").min)} al ${longDate($("as-of").max)}. ` +
    `Un día termina a las 23:59 ${p.zone_words}.`;
}

function showAccess() {
  $("logout").textContent = state.token ? "Salir" : "Acceso del personal";
}

async function start() {
  showAccess();
  try {
    const processes = await api("/api/v1/processes");
    state.processes = processes;
    $("process").replaceChildren(...processes.map((p) => new Option(p.name, p.id)));
    // The address names the process (a link shows the same figures); else the API's default.
    const named = new URLSearchParams(location.search).get("proceso");
    const known = (id) => id && processes.some((p) => p.id === id);
    state.process = known(state.process) ? state.process : known(named) ? named
      : (processes.find((p) => p.default) || processes[0]).id;
    $("process").value = state.process;
    keepInAddress();
    showProcessBounds();
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin(error.message); return; }
    $("updated").textContent = `sin conexión: ${error.message}`;
    setTimeout(start, 2000);
    return;
  }
  follow();
}

$("login-form").addEventListener("submit", () => {
  state.token = $("token").value.trim();
  start();
});
$("login-cancel").addEventListener("click", () => $("login").close());
$("logout").addEventListener("click", () => {
  if (!state.token) { showLogin(); return; }
  state.token = null;
  start();
});
$("process").addEventListener("change", (e) => {
  state.process = e.target.value; keepInAddress(); showProcessBounds(); follow();
});

function keepInAddress() {
  const query = new URLSearchParams(location.search);
  query.set("proceso", state.process);
  history.replaceState(null, "", `${location.pathname}?${query}`);
}
$("as-of").addEventListener("change", (e) => {
  const value = e.target.value;
  if (value && (value < e.target.min || value > e.target.max)) {  // typed out of the process's days
    e.target.value = state.asOf || "";
    $("as-of-help").textContent = `Elija un día del ${longDate(e.target.min)} al ${longDate(e.target.max)}.`;
    return;
  }
  state.asOf = value || null;
  $("live").classList.toggle("active", !state.asOf);
  follow();
});
$("live").addEventListener("click", () => { $("as-of").value = ""; state.asOf = null; $("live").classList.add("active"); follow(); });
$("live").classList.add("active");
// The controls never submit (the page's Content-Security-Policy forbids inline handlers).
$("controls").addEventListener("submit", (event) => event.preventDefault());
document.querySelectorAll("[data-format]").forEach((b) => b.addEventListener("click", () => download(b.dataset.format)));
// The time axis is drawn at the panel's width: drawn again when it changes.
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { const c = $("per-day"); if (c.dataset.days) perDay(c, JSON.parse(c.dataset.days)); }, 150);
});
start();
