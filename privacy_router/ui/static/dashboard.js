// The dashboard's only script (served from /ui/static, so CSP script-src 'self' holds; no inline code).
// Draws the charts from the data-chart attribute the server rendered, and shows that a full
// verification is running while its form is submitted.
"use strict";

// Fixed colours per route, inside the premises first (on-prem, scrubbed, external, blocked).
const ROUTE_COLOURS = {
  onprem: "#2f6f4f",
  external_scrubbed: "#d69e2e",
  external: "#c05621",
  block: "#6b7280",
};

function drawCharts() {
  if (typeof window.Chart !== "function") {
    return; // the tables beside each chart carry the same numbers
  }
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const spec = JSON.parse(canvas.dataset.chart);
    const chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((d) => ({
          label: d.label,
          data: d.data,
          backgroundColor: ROUTE_COLOURS[d.route] || "#4b5563",
        })),
      },
      options: {
        animation: false,
        responsive: true,
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    canvas.dataset.rendered = String(chart.data.datasets.length);
  }
}

function busyForms() {
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button");
      if (button) {
        button.disabled = true;
        button.textContent = form.dataset.busy;
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  busyForms();
});
