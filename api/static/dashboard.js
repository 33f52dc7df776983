// The dashboard: long-polls the figures endpoint, so new events show within a second or two,
// without a reload. No framework and no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString("es-MX");
const state = { token: localStorage.getItem("lnere-token"), process: null, asOf: null, generation: 0 };

class Unauthorized extends Error {}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
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

function bars(container, entries, total) {
  const max = Math.max(1, ...entries.map(([, n]) => n));
  container.replaceChildren(...entries.map(([name, n]) => {
    const row = document.createElement("div");
    row.className = "bar";
    const share = total ? ` (${(100 * n / total).toFixed(2)}%)` : "";
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="n"></span>`;
    row.querySelector(".name").textContent = name;
    row.querySelector(".name").title = name;
    row.querySelector(".fill").style.width = `${(100 * n) / max}%`;
    row.querySelector(".n").textContent = fmt(n) + share;
    return row;
  }));
}

const withoutTotal = (values) => Object.entries(values).filter(([k]) => k !== "TOTAL");

function perDay(container, days) {
  const entries = Object.entries(days);
  if (!entries.length) { container.textContent = "Sin solicitudes."; return; }
  const width = 600, height = 150, pad = 18;
  const max = Math.max(...entries.map(([, n]) => n));
  const w = (width - pad) / entries.length;
  const rects = entries.map(([day, n], i) => {
    const h = ((height - pad) * n) / max;
    return `<rect x="${pad + i * w}" y="${height - pad - h}" width="${Math.max(1, w - 1)}" height="${h}"><title>${day}: ${fmt(n)}</title></rect>`;
  });
  const [first] = entries[0], [last] = entries[entries.length - 1];
  container.innerHTML = `<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="SIILNERE por día">
    ${rects.join("")}<text x="${pad}" y="${height - 4}">${first}</text>
    <text x="${width}" y="${height - 4}" text-anchor="end">${last}</text><text x="0" y="10">${fmt(max)}</text></svg>`;
}

function pyramid(container, bySexAge) {
  const rows = Object.entries(bySexAge).reverse();
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
    { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) { $("updated").textContent = `no se pudo descargar (${response.status})`; return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `lnere-${state.process}-${state.asOf || "en-vivo"}.${format}`;
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
  bars($("by-channel"), withoutTotal(r.by_channel), r.by_channel.TOTAL);
  bars($("by-credential"), [
    ["Con CPVE", r.by_credential_channel.CPVE.TOTAL],
    ["Con CPV emitida en territorio nacional", r.by_credential_channel.CPV.TOTAL],
  ], r.by_channel.TOTAL);
  bars($("by-entity"), withoutTotal(r.by_entity).sort((x, y) => y[1] - x[1]), r.by_entity.TOTAL);
  bars($("by-country"), r.by_country_entity.slice(0, 10).map((c) => [c.country, c.total]), r.by_entity.TOTAL);
  bars($("by-sex"), withoutTotal(r.by_sex), r.by_sex.TOTAL);
  bars($("by-modality"), withoutTotal(r.by_modality), r.by_modality.TOTAL);
  perDay($("per-day"), data.filed_per_day);
  pyramid($("pyramid"), data.by_sex_age);
  countryTable($("country-entity"), r);
  const definitive = r.definitive_by_entity_modality;
  bars($("definitive"), withoutTotal(definitive).map(([state, row]) => [state, row.TOTAL]).sort((x, y) => y[1] - x[1]),
    definitive.TOTAL.TOTAL);
  bars($("exclusions"), withoutTotal(r.exclusions_by_reason), r.exclusions_by_reason.TOTAL);
  bars($("deliveries"), Object.entries(r.deliveries), 0);
  bars($("outbound-calls"), withoutTotal(r.inetel_outbound_calls), r.inetel_outbound_calls.TOTAL);
  bars($("automated-notices"), withoutTotal(r.automated_outbound), r.automated_outbound.TOTAL);
  const services = Object.values(r.inetel_attention);
  const attended = services.reduce((sum, s) => sum + s.total, 0);
  bars($("attention"), services.map((s) => [s.label, s.total]), attended);
  const channels = {};
  services.forEach((s) => Object.entries(s.by_channel).forEach(([k, n]) => { channels[k] = (channels[k] || 0) + n; }));
  bars($("attention-channel"), Object.entries(channels).sort((x, y) => y[1] - x[1]), attended);
  const requested = (rows) => withoutTotal(rows).map(([name, row]) => [name, row.Tramitadas])
    .filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
  bars($("cpve-offices"), requested(r.credentialing.by_office), r.credentialing.by_office.TOTAL.Tramitadas);
  bars($("cpve-states"), requested(r.credentialing.by_state), r.credentialing.by_state.TOTAL.Tramitadas);
  $("log-position").textContent = fmt(data.log_position);
  const behind = data.log_head - data.log_position;
  $("log-head").textContent = behind > 0 ? `(faltan ${fmt(behind)} eventos por procesar)` : "(al día)";
  $("as-of-label").textContent = r.as_of ? `Cifras al ${r.as_of}` : "Cifras de todo lo registrado";
  $("updated").textContent = `actualizado ${new Date().toLocaleTimeString("es-MX")}`;
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

async function start() {
  if (!state.token) { showLogin(); return; }
  try {
    const processes = await api("/api/v1/processes");
    $("process").replaceChildren(...processes.map((p) => new Option(p.name, p.id)));
    state.process = state.process && processes.some((p) => p.id === state.process) ? state.process : processes[0].id;
    $("process").value = state.process;
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
  localStorage.setItem("lnere-token", state.token);
  start();
});
$("logout").addEventListener("click", () => {
  localStorage.removeItem("lnere-token");
  state.token = null;
  state.generation++;
  showLogin();
});
$("process").addEventListener("change", (e) => { state.process = e.target.value; follow(); });
$("as-of").addEventListener("change", (e) => {
  state.asOf = e.target.value || null;
  $("live").classList.toggle("active", !state.asOf);
  follow();
});
$("live").addEventListener("click", () => { $("as-of").value = ""; state.asOf = null; $("live").classList.add("active"); follow(); });
$("live").classList.add("active");
// The controls never submit (the page's Content-Security-Policy forbids inline handlers).
$("controls").addEventListener("submit", (event) => event.preventDefault());
document.querySelectorAll("[data-format]").forEach((b) => b.addEventListener("click", () => download(b.dataset.format)));
start();
