// Small glue, no build step: send the CSRF token with every htmx request; draw the charts from JSON in the page.
document.addEventListener("htmx:configRequest", (e) => {
  const t = document.querySelector('meta[name="csrf-token"]');
  if (t) e.detail.headers["X-CSRF-Token"] = t.content;
});
document.addEventListener("htmx:responseError", (e) => {
  const box = document.getElementById("flash");
  if (!box) return;
  let msg = e.detail.xhr.statusText;
  try { msg = JSON.parse(e.detail.xhr.responseText).error.message; } catch (_) {}
  box.innerHTML = "";
  const div = document.createElement("div");
  div.className = "notice err"; div.setAttribute("role", "alert"); div.textContent = msg;
  box.appendChild(div);
});
function drawCharts() {
  if (!window.Chart) return;
  document.querySelectorAll("canvas[data-chart]").forEach((c) => {
    if (c.dataset.drawn) return;
    const spec = JSON.parse(document.getElementById(c.dataset.chart).textContent);
    const palette = ["#0b4f9c", "#c2410c", "#0a6b2c", "#7c3aed", "#a30d0d", "#0e7490"];
    spec.datasets.forEach((d, i) => { d.borderColor = d.backgroundColor = palette[i % palette.length]; });
    new Chart(c, { type: spec.type || "line", data: { labels: spec.labels, datasets: spec.datasets },
      options: { animation: false, responsive: true, plugins: { legend: { position: "bottom" } } } });
    c.dataset.drawn = "1";
  });
}
document.addEventListener("DOMContentLoaded", drawCharts);
