"use strict";
// The codec session: a cookie only the API reads (HttpOnly); this page never sees a token again.
const $ = (id) => document.getElementById(id);
$("codec-endpoint").textContent = `${location.origin}/codec`;
$("codec-host").textContent = location.hostname;

async function show() {
  const answer = await fetch("/codec/session");
  $("codec-status").textContent = answer.ok
    ? `Sesión iniciada: ${(await answer.json()).staff}`
    : "Sin sesión: la Web UI muestra los datos cifrados.";
}

$("codec-login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await fetch("/codec/session", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("codec-token").value.trim() }),
  });
  $("codec-token").value = "";
  if (!answer.ok) {
    $("codec-status").textContent = `No se inició la sesión: ${(await answer.json()).message ?? answer.status}`;
    return;
  }
  show();
});

$("codec-logout").addEventListener("click", async () => {
  await fetch("/codec/session", { method: "DELETE" });
  show();
});

show();
