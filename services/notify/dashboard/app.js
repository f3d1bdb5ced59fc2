// The street office's live dashboard: plain JS, no build step, no network beyond notify and sla.
// The key is typed once and POSTed to /v1/session, which answers with an HttpOnly session cookie: the
// page never keeps the key (no storage, no URL). Service URLs come from /v1/dashboard/config only.
(() => {
  "use strict";
  const LANG_STORE = "lastmeter.lang"; // the one thing kept in localStorage: the chosen language
  const CSRF = { "X-Lastmeter-CSRF": "1" };
  const PAGE = 50;
  const COLORS = ["#3aa0ff", "#2ecc8f", "#f5b83d", "#ff5d5d", "#b483ff", "#4dd4e6", "#ff8fb1", "#a3d65c", "#e0884a", "#8da0bd"];
  const state = {
    lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh",
    config: null, offset: 0, total: 0, source: null, feed: [], refreshTimer: null, slowTimer: null, seen: new Set(),
  };
  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => {
    let s = (window.LM_TEXT[state.lang] || {})[key] ?? window.LM_TEXT.zh[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, v);
    return s;
  };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  // ---- names from the catalogue ------------------------------------------------------------------
  const named = (list, code) => {
    const item = (list || []).find((x) => x.code === code);
    return item ? (state.lang === "en" ? item.name_en : item.name) : code;
  };
  const categoryName = (code) => (code && code !== "unclassified" ? named(state.config.categories, code) : t("unclassified"));
  const communityName = (code) => named(state.config.communities, code);
  const assigneeName = (a) => {
    if (!a) return "–";
    if (a.kind === "department") return named(state.config.departments, a.code);
    if (a.kind === "team") return named(state.config.teams, a.code);
    return t("street_office");
  };

  // ---- API -------------------------------------------------------------------------------------------
  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) url.searchParams.set(k, v);
    const resp = await fetch(url, { credentials: "same-origin" });
    if (resp.status === 401) { ended(state.config ? t("sessionEnded") : ""); throw new Error("unauthorized"); }
    if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
    return resp.json();
  }

  // ---- i18n --------------------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.title = `${t("brand")} · ${t("console")}`;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    setLive(state.liveMode || "offline"); // the stream's state, said in the new language
    if (state.config) { fillFilters(); renderAll(); }
  }
  function toggleLanguage() {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_STORE, state.lang);
    applyLanguage();
  }

  // ---- login -------------------------------------------------------------------------------------------
  // While the login form shows, the console behind it is out of the keyboard's reach.
  function setInert(inert) {
    document.querySelectorAll("header.topbar, main.grid").forEach((el) => { el.inert = inert; });
  }
  function showLogin(message) {
    $("login").hidden = false;
    setInert(true);
    $("login-error").textContent = message || "";
    $("login-key").focus();
  }
  // The session is over (logged out, expired or its key revoked): stop everything and ask again.
  function ended(message) {
    if (state.source) state.source.close();
    state.source = null;
    clearInterval(state.slowTimer);
    clearTimeout(state.refreshTimer);
    clearTimeout(state.chartTimer);
    state.chartTimer = null;
    state.config = null;
    setLive("offline");
    showLogin(message);
  }
  async function login(key) {
    $("login-submit").disabled = true;
    try {
      const resp = await fetch("/v1/session", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", ...CSRF },
        body: JSON.stringify({ key }),
      });
      if (resp.status === 401 || resp.status === 422) { showLogin(t("badKey")); return; }
      if (resp.status === 403) { showLogin(t("notStaff")); return; }
      if (!resp.ok) { showLogin(`HTTP ${resp.status}`); return; }
      await start();
    } catch (err) {
      showLogin(String(err.message || err));
    } finally {
      $("login-submit").disabled = false;
    }
  }
  async function logout() {
    try {
      await fetch("/v1/session/logout", { method: "POST", credentials: "same-origin", headers: CSRF });
    } finally {
      ended("");
    }
  }
  async function start() {
    try {
      state.config = await api("/v1/desk/config"); // the dashboard's config and the communities' centres
    } catch (err) {
      if (String(err.message) !== "unauthorized") showLogin(String(err.message));
      return;
    }
    $("login").hidden = true;
    $("login-error").textContent = "";
    setInert(false);
    const st = state.config.street;
    $("street-name").textContent = st ? (state.lang === "en" ? st.name_en : st.name) : state.config.principal.name;
    fillFilters();
    // The feed shows the latest events at once: replay from the start, or, when that is too far back
    // (the server answers `resync` with its position), from 50 events before the position.
    state.catchUp = true;
    setTimeout(() => { state.catchUp = false; }, 5000);
    connect(0);
    refreshCases();
    refreshOverview();
    refreshSlow();
    state.slowTimer = setInterval(refreshSlow, 60000);
  }

  // ---- filters and cases table ---------------------------------------------------------------------
  function fillSelect(el, items, keepFirst) {
    const value = el.value;
    const first = el.options[0];
    el.innerHTML = "";
    el.appendChild(first);
    first.textContent = t(first.dataset.i18n);
    for (const [code, label] of items) {
      const opt = document.createElement("option");
      opt.value = code; opt.textContent = label; el.appendChild(opt);
    }
    el.value = value;
  }
  function fillFilters() {
    const c = state.config;
    fillSelect($("f-category"), [...c.categories.map((x) => [x.code, categoryName(x.code)]), ["unclassified", t("unclassified")]]);
    fillSelect($("f-community"), c.communities.map((x) => [x.code, communityName(x.code)]));
    fillSelect($("f-assignee"), [
      ...c.departments.map((x) => [`department:${x.code}`, named(c.departments, x.code)]),
      ...c.teams.map((x) => [`team:${x.code}`, named(c.teams, x.code)]),
      ["street_office:" + (c.principal.scope || ""), t("street_office")],
    ]);
    const sla = $("f-sla");
    [...sla.options].forEach((o) => { o.textContent = t(o.dataset.i18n); });
  }
  function filters() {
    return {
      category: $("f-category").value, community: $("f-community").value, assignee: $("f-assignee").value,
      sla_state: $("f-sla").value, q: $("f-q").value.trim(),
    };
  }
  async function refreshCases() {
    const page = await api("/v1/cases", { ...filters(), sort: "sla", limit: PAGE, offset: state.offset });
    state.cases = page.items;
    state.total = page.total;
    renderCases();
  }
  function dueText(iso) {
    if (!iso) return ["–", ""];
    const ms = new Date(iso) - Date.now();
    const mins = Math.round(Math.abs(ms) / 60000);
    const span = mins < 90 ? `${mins}m` : mins < 2880 ? `${Math.round(mins / 60)}h` : `${Math.round(mins / 1440)}d`;
    if (ms < 0) return [t("overdue", { d: span }), "over"];
    if (mins < 90) return [t("minutesLeft", { n: mins }), ""];
    if (mins < 2880) return [t("hoursLeft", { n: Math.round(mins / 60) }), ""];
    return [t("daysLeft", { n: Math.round(mins / 1440) }), ""];
  }
  function renderCases() {
    const body = $("cases-body");
    const rows = (state.cases || []).map((c) => {
      const [due, cls] = dueText(c.due_at);
      const escalation = c.escalation ? `<span class="badge esc">${esc(t(c.escalation))}</span>` : "";
      const fresh = state.seen.has(c.case_id) ? "" : "flash";
      return `<tr data-case="${esc(c.case_id)}" class="${state.firstRender ? "" : fresh}">
        <td><span class="badge ${esc(c.sla_state)}" data-sla="${esc(c.sla_state)}">${esc(t(c.sla_state))}</span>${escalation}</td>
        <td class="desc"><a href="/desk#case=${encodeURIComponent(c.case_id)}">${esc((c.description || "").slice(0, 60))}</a><div class="id">${esc(c.case_id)}</div></td>
        <td>${esc(categoryName(c.category))}</td><td>${esc(communityName(c.community))}</td>
        <td>${esc(assigneeName(c.assignee))}</td><td>${esc(t("status_" + c.status))}</td>
        <td class="due ${cls}">${esc(due)}</td></tr>`;
    });
    body.innerHTML = rows.join("") || `<tr><td colspan="7" class="muted">${esc(t("noCases"))}</td></tr>`;
    (state.cases || []).forEach((c) => state.seen.add(c.case_id));
    state.firstRender = false;
    const from = state.total ? state.offset + 1 : 0;
    $("page-info").textContent = t("pageInfo", { from, to: Math.min(state.offset + PAGE, state.total), total: state.total });
    $("cases-count").textContent = String(state.total);
    $("prev").disabled = state.offset === 0;
    $("next").disabled = state.offset + PAGE >= state.total;
  }

  // ---- KPIs ------------------------------------------------------------------------------------------
  async function refreshOverview() {
    const o = await api("/v1/stats/overview");
    $("kpi-open").textContent = o.open;
    for (const s of ["on_track", "warning", "breached"]) $(`kpi-${s}`).textContent = o.by_sla_state[s] || 0;
    $("kpi-escalated").textContent = Object.values(o.escalated).reduce((a, b) => a + b, 0);
  }

  // ---- live feed (SSE) ---------------------------------------------------------------------------
  function setLive(mode) {
    state.liveMode = mode;
    $("live").className = `live ${mode === "live" ? "on" : "off"}`;
    $("live-text").textContent = t(mode);
  }
  function connect(from) {
    if (state.source) state.source.close();
    // Same origin: the browser sends the session cookie with the stream; no key in the URL.
    const source = new EventSource(from == null ? "/v1/stream" : `/v1/stream?last_event_id=${Number(from)}`);
    state.source = source;
    source.onopen = () => setLive("live");
    source.onerror = () => {
      setLive(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
      // A refused reconnect closes the source for good. The config call tells why: 401 means the
      // session ended (the login form shows); otherwise (e.g. 429, too many streams) try again later.
      if (source.readyState === EventSource.CLOSED && state.source === source) {
        api("/v1/dashboard/config").then(() => {
          setTimeout(() => { if (state.source === source && state.config) connect(); }, 10000);
        }).catch(() => {});
      }
    };
    for (const type of state.config.event_types) source.addEventListener(type, onEvent);
    // Too far behind to replay: reload the panels and carry on live from the position given.
    source.addEventListener("resync", (msg) => {
      if (state.catchUp) {
        state.catchUp = false;
        connect(Math.max(0, (Number(JSON.parse(msg.data).position) || 0) - 50));
        return;
      }
      refreshCases(); refreshOverview(); refreshSlow();
    });
    // The server ended the stream: its key was revoked or the session expired.
    source.addEventListener("end", () => { source.close(); ended(t("sessionEnded")); });
  }
  function onEvent(msg) {
    const envelope = JSON.parse(msg.data);
    state.feed.unshift(envelope);
    state.feed.length = Math.min(state.feed.length, 80);
    // A replay brings many events at once: draw the feed once per frame.
    if (!state.feedFrame) state.feedFrame = requestAnimationFrame(() => { state.feedFrame = null; renderFeed(true); });
    clearTimeout(state.refreshTimer);
    // Many events in a burst cost one refresh, so thousands of cases stay responsive.
    state.refreshTimer = setTimeout(() => { refreshCases(); refreshOverview(); }, 300);
    // The charts change slowly: at most one refresh every few seconds while events flow.
    if (!state.chartTimer) state.chartTimer = setTimeout(() => { state.chartTimer = null; refreshSlow(); }, 3000);
  }
  function feedLine(e) {
    const d = e.data || {};
    const parts = [];
    if (d.kind) parts.push(t(`kind_${d.kind}`));
    if (d.category) parts.push(categoryName(d.category));
    if (d.assignee) parts.push(assigneeName(d.assignee));
    if (d.level) parts.push(t(d.level));
    if (d.fraction) parts.push(`${Math.round(d.fraction * 100)}%`);
    if (d.note || d.description) parts.push(d.note || d.description);
    return parts.join(" · ");
  }
  function renderFeed(fresh) {
    const items = state.feed.map((e, i) => {
      const time = new Date(e.time).toLocaleTimeString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
      const tone = e.type.includes("breached") || e.type.includes("escalated") || e.type.includes("declined") ? "bad"
        : e.type.startsWith("lastmeter.sla.") ? "sla" : e.type.includes("resolved") || e.type.includes("closed") ? "ok" : "";
      return `<li class="${fresh && i === 0 ? "new" : ""}" data-type="${esc(e.type)}" data-case="${esc(e.subject)}">
        <span class="t">${esc(time)}</span><span class="what ${tone}">${esc(t(e.type))} <span class="muted">${esc(e.subject)}</span></span>
        <span class="sub">${esc(feedLine(e))}</span></li>`;
    });
    $("feed").innerHTML = items.join("");
    $("feed-count").textContent = state.feed.length ? String(state.feed.length) : "";
  }

  // ---- rates (from sla), demand chart, supply vs demand ---------------------------------------
  async function refreshRates() {
    // Only the URL notify's settings name (the page's Content-Security-Policy allows no other).
    const base = (state.config.sla_url || "").replace(/\/$/, "");
    try {
      const resp = await fetch(`${base}/v1/rates?dimension=department&period=month`, {
        credentials: "include", signal: AbortSignal.timeout(5000),
      });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const body = await resp.json();
      state.rates = { rows: Array.isArray(body) ? body : body.totals || body.rows || body.items || [] };
    } catch (err) {
      state.rates = { error: String(err.message || err), url: base };
    }
    renderRates();
  }
  const pct = (v) => (v == null ? null : v > 1 ? v : v * 100);
  function renderRates() {
    const r = state.rates;
    if (!r) return;
    if (r.error) {
      $("rates-body").innerHTML = `<div class="notice" data-rates="unavailable">${esc(t("ratesUnavailable", { url: r.url || "–" }))}</div>`;
      return;
    }
    const rows = r.rows.filter((x) => x.bucket == null || r.rows.every((y) => y.bucket != null)).map((x) => {
      const v = [pct(x.response_rate), pct(x.resolution_rate), pct(x.satisfaction_rate)];
      const known = v.filter((n) => n != null);
      return { code: x.value || x.code || x.department, v, score: known.length ? known.reduce((a, b) => a + b, 0) / known.length : -1, n: x.dispatched };
    }).sort((a, b) => b.score - a.score);
    if (!rows.length) { $("rates-body").innerHTML = `<div class="notice" data-rates="empty">${esc(t("noRates"))}</div>`; return; }
    const cell = (n) => (n == null ? `<td class="num muted">–</td>` :
      `<td class="num"><div class="rate"><div class="bar"><span data-w="${Math.max(0, Math.min(100, n)).toFixed(0)}"></span></div>${n.toFixed(1)}%</div></td>`);
    $("rates-body").innerHTML = `<table class="rank-table" data-rates="table"><thead><tr><th>${esc(t("rank"))}</th><th>${esc(t("department"))}</th>
      <th>${esc(t("response"))}</th><th>${esc(t("resolution"))}</th><th>${esc(t("satisfaction"))}</th><th>${esc(t("dispatched"))}</th></tr></thead>
      <tbody>${rows.map((x, i) => `<tr><td>${i + 1}</td><td>${esc(named(state.config.departments, x.code))}</td>${x.v.map(cell).join("")}<td class="num">${esc(x.n ?? "")}</td></tr>`).join("")}</tbody></table>`;
    applyStyles($("rates-body"));
  }
  async function refreshSlow() {
    refreshRates();
    const [demand, supply, open] = await Promise.all([
      api("/v1/stats/demand", { days: 14 }), api("/v1/stats/supply"), api("/v1/cases", { limit: 500 }),
    ]);
    state.demand = demand; state.supply = supply; state.planCases = open.items;
    renderDemand(); renderSupply(); renderPlan();
  }
  function renderDemand() {
    const d = state.demand;
    if (!d) return;
    const W = Math.max(320, $("demand-chart").clientWidth || 640), H = 220, L = 30, B = 22, T = 8;
    const series = d.series.slice(0, 8);
    const totals = d.days.map((_, i) => series.reduce((s, x) => s + x.counts[i], 0));
    const max = Math.max(1, ...totals);
    const bw = (W - L - 6) / d.days.length;
    let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(t("demand"))}">`;
    for (let g = 0; g <= 4; g++) {
      const y = T + (H - T - B) * (1 - g / 4);
      svg += `<line x1="${L}" x2="${W}" y1="${y}" y2="${y}" stroke="#24344f"/><text x="${L - 6}" y="${y + 4}" fill="#8da0bd" font-size="10" text-anchor="end">${Math.round((max * g) / 4)}</text>`;
    }
    d.days.forEach((day, i) => {
      let y = H - B;
      series.forEach((s, k) => {
        const h = ((H - T - B) * s.counts[i]) / max;
        if (h > 0) svg += `<rect x="${L + i * bw + 3}" y="${y - h}" width="${bw - 6}" height="${h}" fill="${COLORS[k % COLORS.length]}" rx="2"><title>${esc(categoryName(s.category))}: ${s.counts[i]}</title></rect>`;
        y -= h;
      });
      if (i % 2 === 0 || d.days.length <= 10) svg += `<text x="${L + i * bw + bw / 2}" y="${H - 6}" fill="#8da0bd" font-size="10" text-anchor="middle">${day.slice(5)}</text>`;
    });
    $("demand-chart").innerHTML = svg + "</svg>";
    const legend = $("demand-legend");
    legend.innerHTML = series.map((s, k) => `<span><i data-bg="${COLORS[k % COLORS.length]}"></i>${esc(categoryName(s.category))} ${s.counts.reduce((a, b) => a + b, 0)}</span>`).join("");
    applyStyles(legend);
  }
  function renderSupply() {
    const s = state.supply;
    if (!s) return;
    if (!s.skills.length) { $("supply-chart").innerHTML = `<div class="notice">${esc(t("noSupply"))}</div>`; return; }
    const max = Math.max(1, ...s.skills.map((x) => Math.max(x.capacity, x.demand)));
    const head = `<div class="legend"><span><i class="cap"></i>${esc(t("capacity"))}</span><span><i class="dem"></i>${esc(t("demandOpen"))}</span><span>${esc(t("gap"))}</span></div>`;
    $("supply-chart").innerHTML = head + s.skills.map((x) => `<div class="supply-row" data-skill="${esc(x.skill)}">
      <span>${esc(t(`skill_${x.skill}`))}</span>
      <div class="bars"><div class="bar cap"><span data-w="${(100 * x.capacity) / max}"></span></div>
      <div class="bar dem"><span data-w="${(100 * x.demand) / max}"></span></div></div>
      <span class="gap ${x.gap > 0 ? "pos" : "neg"}">${x.gap > 0 ? "+" : ""}${x.gap}</span></div>`).join("");
    applyStyles($("supply-chart"));
  }
  // Widths and colours are set through the CSSOM: the page's CSP refuses inline style attributes.
  function applyStyles(root) {
    root.querySelectorAll("[data-w]").forEach((el) => { el.style.width = `${Number(el.dataset.w) || 0}%`; });
    root.querySelectorAll("[data-bg]").forEach((el) => { el.style.background = el.dataset.bg; });
  }
  function renderPlan() {
    if (!state.planCases) return;
    const words = Object.fromEntries(["on_track", "warning", "breached", "none"].map((s) => [s, t(s)]));
    window.LM_PLAN.render($("plan-chart"), {
      centres: state.config.community_centres, cases: state.planCases, name: communityName, label: t("planDesc"), words,
    });
    const legend = $("plan-legend");
    legend.innerHTML = ["on_track", "warning", "breached", "none"].map((s) => `<span><i data-bg="${window.LM_PLAN.TONE[s]}"></i>${esc(t(s))}</span>`).join("");
    applyStyles(legend);
  }
  // ---- export of the current view (the filters as set, every page) ---------------------------------
  async function exportView(kind) {
    const items = [];
    for (let offset = 0; offset < 5000; offset += 500) {
      const page = await api("/v1/cases", { ...filters(), sort: "sla", limit: 500, offset });
      items.push(...page.items);
      if (items.length >= page.total || !page.items.length) break;
    }
    const head = ["colCase", "colSla", "colCategory", "colCommunity", "colAssignee", "colStatus", "colDue", "colDescription"].map((k) => t(k));
    const rows = [head, ...items.map((c) => [c.case_id, t(c.sla_state), categoryName(c.category), communityName(c.community),
      assigneeName(c.assignee), t("status_" + c.status), c.due_at || "", c.description || ""])];
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
    const file = `lastmeter-${state.config.principal.scope || "cases"}-${stamp}`;
    if (kind === "csv") window.LM_EXPORT.download(window.LM_EXPORT.csv(rows), `${file}.csv`);
    else window.LM_EXPORT.download(window.LM_EXPORT.xlsx(rows, t("openCases")), `${file}.xlsx`);
  }
  function renderAll() { renderCases(); renderFeed(false); renderRates(); renderDemand(); renderSupply(); renderPlan(); }

  // ---- wiring ------------------------------------------------------------------------------------------
  document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click", toggleLanguage));
  $("logout").addEventListener("click", () => logout());
  $("export-csv").addEventListener("click", () => exportView("csv"));
  $("export-xlsx").addEventListener("click", () => exportView("xlsx"));
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("login-key");
    const key = input.value.trim();
    input.value = ""; // the key leaves the page once, in the login request's body
    if (key) login(key); else showLogin(t("badKey"));
  });
  for (const id of ["f-category", "f-community", "f-assignee", "f-sla"]) {
    $(id).addEventListener("change", () => { state.offset = 0; refreshCases(); });
  }
  let typing;
  $("f-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.offset = 0; refreshCases(); }, 250); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refreshCases(); });
  $("next").addEventListener("click", () => { state.offset += PAGE; refreshCases(); });
  setInterval(() => { $("clock").textContent = new Date().toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false }); }, 1000);
  state.firstRender = true;
  applyLanguage();
  start(); // a live session cookie opens the dashboard straight away; otherwise the login form shows
})();
