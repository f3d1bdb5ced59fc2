// The plan of the street's communities as SVG, from the catalogue's coordinates (no map tiles): one
// circle per community, its size the open cases, its colour the worst SLA state among them.
window.LM_PLAN = (() => {
  "use strict";
  const TONE = { breached: "#ff5d5d", warning: "#f5b83d", on_track: "#2ecc8f", none: "#8da0bd" };
  const RANK = { breached: 3, warning: 2, on_track: 1, none: 0 };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  function render(root, { centres, cases, name, label, words }) {
    if (!centres || !centres.length) { root.innerHTML = ""; return; }
    const by = new Map(centres.map((c) => [c.code, { ...c, open: 0, worst: "none", counts: {} }]));
    for (const c of cases) {
      const x = by.get(c.community); if (!x) continue;
      const s = RANK[c.sla_state] != null ? c.sla_state : "none";
      x.open += 1; x.counts[s] = (x.counts[s] || 0) + 1;
      if (RANK[s] > RANK[x.worst]) x.worst = s;
    }
    const W = 420, H = 250, P = 44;
    const lats = centres.map((c) => c.lat), lons = centres.map((c) => c.lon);
    const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
    const k = Math.cos(((la0 + la1) / 2) * Math.PI / 180);
    const span = Math.max((lo1 - lo0) * k, la1 - la0, 1e-4);
    const sx = (lon) => P + (((lon - lo0) * k) / span) * (W - 2 * P) + ((W - 2 * P) - ((lo1 - lo0) * k / span) * (W - 2 * P)) / 2;
    const sy = (lat) => H - P - ((lat - la0) / span) * (H - 2 * P) - ((H - 2 * P) - ((la1 - la0) / span) * (H - 2 * P)) / 2;
    let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="plan-title plan-desc"><desc id="plan-desc">${esc(label)}</desc>`;
    for (const x of by.values()) {
      const r = 12 + Math.min(30, Math.sqrt(x.open) * 7), cx = sx(x.lon), cy = sy(x.lat);
      const detail = Object.entries(x.counts).map(([s, n]) => `${words[s]} ${n}`).join(" · ");
      svg += `<g data-community="${esc(x.code)}" data-sla="${x.worst}"><title>${esc(name(x.code))}: ${x.open} ${esc(detail)}</title>`
        + `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="${TONE[x.worst]}" fill-opacity="0.85" stroke="#e6edf7" stroke-width="1.5"/>`
        + `<text x="${cx.toFixed(1)}" y="${(cy + 5).toFixed(1)}" fill="#0d1524" font-size="15" font-weight="700" text-anchor="middle">${x.open}</text>`
        + `<text x="${cx.toFixed(1)}" y="${(cy + r + 16).toFixed(1)}" fill="#e6edf7" font-size="13" text-anchor="middle">${esc(name(x.code))}</text></g>`;
    }
    root.innerHTML = svg + "</svg>";
  }
  return { render, TONE };
})();
