// The dashboard's only script (served from /ui/static, so CSP script-src 'self' holds; no inline code).
// Draws the charts from the data-chart attribute the server rendered (requests per day, and the
// economics page's cost lines), shows that a full verification is being started while its form is
// submitted, and follows a running verification: polls its progress (JSON) and updates the bar and
// the percentage, then reloads the page for the result.
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
    if (spec.kind === "cost") {
      drawCostChart(canvas, spec);
      continue;
    }
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

// The economics page: daily cost of each option (lines) against daily volume, with today's volume
// and the crossover marked as points. Every number is computed by the server (report/economics.py).
const COST_COLOURS = ["#c05621", "#2f6f4f"];

function drawCostChart(canvas, spec) {
  const lines = spec.series.map((s, i) => ({
    type: "line",
    label: s.label,
    data: s.points.map(([x, y]) => ({ x, y })),
    borderColor: COST_COLOURS[i % COST_COLOURS.length],
    pointRadius: 0,
  }));
  const marks = spec.marks.map((m) => ({
    type: "scatter",
    label: m.label,
    data: [{ x: m.x, y: m.y }],
    backgroundColor: "#1f2933",
    pointRadius: 5,
  }));
  const chart = new window.Chart(canvas, {
    data: { datasets: [...lines, ...marks] },
    options: {
      animation: false,
      responsive: true,
      scales: {
        x: { type: "linear", beginAtZero: true, title: { display: true, text: "requests per day" } },
        y: { beginAtZero: true, title: { display: true, text: "USD per day" } },
      },
    },
  });
  canvas.dataset.rendered = String(chart.data.datasets.length);
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

const POLL_MS = 250;

function followVerification() {
  const bar = document.querySelector("progress[data-poll]");
  if (!bar) {
    return;
  }
  const percent = document.querySelector("[data-testid=verify-percent]");
  const checked = document.querySelector("[data-testid=verify-checked]");
  const poll = async () => {
    let job;
    try {
      const response = await fetch(bar.dataset.poll, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        window.location.assign("/ui/integrity");
        return;
      }
      job = await response.json();
    } catch {
      window.setTimeout(poll, POLL_MS * 4); // the gateway is busy or restarting: try again later
      return;
    }
    bar.value = job.percent;
    percent.textContent = `${job.percent}%`;
    checked.textContent = String(job.checked);
    if (job.state === "running") {
      window.setTimeout(poll, POLL_MS);
    } else {
      window.location.assign(`/ui/integrity?job=${encodeURIComponent(job.id)}`);
    }
  };
  window.setTimeout(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  busyForms();
  followVerification();
});
