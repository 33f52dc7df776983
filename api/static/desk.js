// The document viewer of the staff workspace: zoom, rotate and page through a PDF's pages
// (drawn as images by the server). Without this script the first page still shows.
"use strict";
document.querySelectorAll("[data-viewer]").forEach((figure) => {
  const image = figure.querySelector("img");
  const tools = figure.querySelector(".tools");
  if (!image || !tools) return;
  tools.hidden = false;
  let scale = 1, turn = 0, page = 1;
  const pages = Number(image.dataset.pages || "1");
  const draw = () => {
    image.classList.toggle("zoomed", scale !== 1);
    image.style.width = scale === 1 ? "" : `${Math.round(scale * 100)}%`;
    image.style.transform = turn ? `rotate(${turn}deg)` : "";
  };
  tools.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.zoom) scale = Math.min(4, Math.max(0.5, scale * Number(button.dataset.zoom)));
    if (button.dataset.rotate) turn = (turn + Number(button.dataset.rotate)) % 360;
    if (button.dataset.page) {
      page = Math.min(pages, Math.max(1, page + Number(button.dataset.page)));
      image.src = `${image.dataset.src}?pagina=${page}`;
      const shown = figure.querySelector("[data-page-number]");
      if (shown) shown.textContent = String(page);
    }
    draw();
  });
});
