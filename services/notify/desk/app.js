// The staff workbench: plain JS, no build step. One login (POST /v1/session → HttpOnly cookie) for
// departments, volunteer teams and street offices; what shows follows the key's role. Service URLs
// come only from /v1/desk/config; every action goes through routing's own API with its checks.
(() => {
  "use strict";
  const LANG_STORE = "lastmeter.lang";
  const CSRF = { "X-Lastmeter-CSRF": "1" };
  const OPEN = ["routed", "reopened", "signed", "in_progress", "awaiting_resident", "arbitration", "declined"];
  const state = {
    lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh",
    config: null, tab: null, items: [], current: null, source: null, known: new Set(), badge: 0, timer: null,
  };
  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => {
    let s = (window.LM_DESK_TEXT[state.lang] || {})[key] ?? window.LM_DESK_TEXT.zh[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, v);
    return s;
  };
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid != null) node.append(kid);
    return node;
  };
  const named = (list, code) => {
    const item = (list || []).find((x) => x.code === code);
    return item ? (state.lang === "en" ? item.name_en : item.name) : code;
  };
  const categoryName = (code) => (code ? named(state.config.categories, code) : t("unclassified"));
  const assigneeName = (a) => {
    if (!a) return "–";
    if (a.kind === "department") return named(state.config.departments, a.code);
    if (a.kind === "team") return named(state.config.teams, a.code);
    return t("street_office");
  };
  const role = () => state.config.principal.role;
  const isStreet = () => ["street_office", "admin"].includes(role());

  // ---- HTTP ------------------------------------------------------------------------------------------
  class Refused extends Error {
    constructor(status, body) { super(body.message || `HTTP ${status}`); this.status = status; this.body = body; }
  }
  async function call(base, path, { method = "GET", body, params } = {}) {
    const url = new URL(path, base || location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) url.searchParams.set(k, v);
    const headers = method === "GET" ? {} : { ...CSRF, "Content-Type": "application/json" };
    const resp = await fetch(url, { method, headers, credentials: base ? "include" : "same-origin", body: body ? JSON.stringify(body) : undefined });
    if (resp.status === 401) { ended(state.config ? t("sessionEnded") : ""); throw new Refused(401, {}); }
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) throw new Refused(resp.status, data || {});
    return data;
  }
  const notify = (path, opts) => call("", path, opts);
  const routing = (path, opts) => call(state.config.routing_url, path, opts);
  const intake = (path, opts) => call(state.config.intake_url, path, opts);
  const sla = (path, opts) => call(state.config.sla_url, path, opts);

  // ---- language ----------------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
    document.querySelectorAll(".lang-toggle").forEach((n) => n.setAttribute("lang", state.lang === "en" ? "zh-CN" : "en"));
    setTitle();
    setLive(state.liveMode || "offline");
    if (state.config) { renderWho(); renderTabs(); renderList(); if (state.current) renderDetail(); }
  }
  function setTitle() { document.title = `${state.badge ? `(${state.badge}) ` : ""}${t("brandDesk")}`; }

  // ---- login -------------------------------------------------------------------------------------------
  function showLogin(message) {
    $("login").hidden = false;
    document.querySelectorAll("header.topbar, #desk").forEach((n) => { n.inert = true; });
    $("login-error").textContent = message || "";
    $("login-key").focus();
  }
  function ended(message) {
    if (state.source) state.source.close();
    state.source = null; state.config = null; clearInterval(state.timer);
    showLogin(message);
  }
  async function login(key) {
    const resp = await fetch("/v1/session", { method: "POST", credentials: "same-origin", headers: { ...CSRF, "Content-Type": "application/json" }, body: JSON.stringify({ key }) });
    if (resp.status === 401) return showLogin(t("badKey"));
    if (resp.status === 403) return showLogin(t("notStaff"));
    if (!resp.ok) return showLogin(t("failed", { msg: resp.status }));
    start();
  }
  async function logout() {
    await fetch("/v1/session/logout", { method: "POST", credentials: "same-origin", headers: CSRF }).catch(() => {});
    ended("");
  }
  async function start() {
    try { state.config = await notify("/v1/desk/config"); } catch { return showLogin(""); }
    $("login").hidden = true;
    document.querySelectorAll("header.topbar, #desk").forEach((n) => { n.inert = false; });
    $("to-dashboard").hidden = !isStreet();
    state.tab = isStreet() ? "triage" : "inbox";
    renderWho(); renderTabs(); connect();
    await refreshList();
    state.timer = setInterval(renderList, 30000); // the countdowns move on
    openFromHash();
  }
  function renderWho() {
    const p = state.config.principal, c = state.config;
    const name = p.role === "department" ? named(c.departments, p.scope) : p.role === "team" ? named(c.teams, p.scope)
      : c.street ? (state.lang === "en" ? c.street.name_en : c.street.name) : p.name;
    $("who").textContent = name || "";
  }

  // ---- queues ------------------------------------------------------------------------------------------
  const tabs = () => (isStreet() ? ["triage", "arbitration", "overdue", "all"] : ["inbox"]);
  const tabKey = { inbox: "tabInbox", triage: "tabTriage", arbitration: "tabArbitration", overdue: "tabOverdue", all: "tabAll" };
  function renderTabs() {
    const nav = $("tabs");
    nav.setAttribute("aria-label", t("tabInbox"));
    nav.replaceChildren(...tabs().map((name) => el("button", {
      type: "button", role: "tab", id: `tab-${name}`, "aria-selected": String(state.tab === name),
      text: t(tabKey[name]), onclick: () => { state.tab = name; renderTabs(); refreshList(); },
    })));
    $("list-title").textContent = t(tabKey[state.tab]);
  }
  const unsigned = (c) => c.status === "routed" || c.status === "reopened";
  async function refreshList() {
    let items;
    if (state.tab === "triage") items = (await routing("/v1/triage")).items;
    else if (state.tab === "arbitration") items = (await routing("/v1/arbitration")).items;
    else if (state.tab === "overdue") {
      const [late, esc] = await Promise.all([notify("/v1/cases", { params: { sla_state: "breached", limit: 200 } }), notify("/v1/cases", { params: { escalated: "true", limit: 200 } })]);
      const seen = new Map(); [...late.items, ...esc.items].forEach((c) => seen.set(c.case_id, c)); items = [...seen.values()];
    } else items = (await notify("/v1/cases", { params: { sort: "due", limit: 200 } })).items;
    if (state.tab === "inbox") {
      items.sort((a, b) => (unsigned(b) - unsigned(a)) || ((a.due_at ? Date.parse(a.due_at) : Infinity) - (b.due_at ? Date.parse(b.due_at) : Infinity)));
    }
    state.items = items;
    items.forEach((c) => state.known.add(c.case_id));
    renderList();
  }
  function countdown(iso) {
    if (!iso) return ["", ""];
    const ms = Date.parse(iso) - Date.now(), mins = Math.round(Math.abs(ms) / 60000);
    const span = mins < 90 ? (state.lang === "en" ? `${mins} min` : `${mins} 分钟`) : mins < 2880 ? (state.lang === "en" ? `${Math.round(mins / 60)} h` : `${Math.round(mins / 60)} 小时`) : (state.lang === "en" ? `${Math.round(mins / 1440)} d` : `${Math.round(mins / 1440)} 天`);
    return ms < 0 ? [t("overdue", { d: span }), "over"] : [t("left", { d: span }), ""];
  }
  function renderList() {
    $("list-title").textContent = t(tabKey[state.tab]);
    $("list-empty").hidden = state.items.length > 0;
    $("inbox").replaceChildren(...state.items.map((c) => {
      const [due, over] = countdown(c.due_at);
      const slaState = c.sla_state || "none";
      return el("li", { "data-case": c.case_id, "data-status": c.status, class: c.case_id === state.current ? "current" : null },
        el("button", { type: "button", class: "case-link", onclick: () => openCase(c.case_id, ""), "aria-current": c.case_id === state.current ? "true" : null },
          el("span", { class: "row1" },
            unsigned(c) && !isStreet() ? el("span", { class: "badge unsigned", text: t("unsigned") }) : null,
            el("span", { class: `badge sla-${slaState}`, "data-sla": slaState, text: t(`sla_${slaState}`) }),
            c.escalation ? el("span", { class: "badge esc", text: t(c.escalation) }) : null,
            el("span", { class: "cat", text: categoryName(c.category) }),
            due ? el("span", { class: `due ${over}`, text: due }) : null),
          el("span", { class: "desc", text: (c.description || "").slice(0, 80) }),
          el("span", { class: "meta", text: `${named(state.config.communities, c.community)} · ${t(`status_${c.status}`)} · ${assigneeName(c.assignee)}` })));
    }));
  }

  // ---- one case ----------------------------------------------------------------------------------------
  function openFromHash() {
    const m = /^#case=([A-Za-z0-9_-]{1,80})$/.exec(location.hash);
    if (m) openCase(m[1], "");
  }
  async function openCase(id, message) {
    state.current = id;
    if (location.hash !== `#case=${id}`) history.replaceState(null, "", `#case=${id}`);
    state.badge = 0; setTitle();
    const [r, i, d] = await Promise.allSettled([routing(`/v1/cases/${id}`), intake(`/v1/cases/${id}`), sla(`/v1/cases/${id}/deadlines`)]);
    state.detail = { routing: r.value, intake: i.value, deadlines: d.value || [] };
    if (!r.value && !i.value) { state.detail = null; $("detail").hidden = true; return; }
    renderDetail(message);
    renderList();
    $("detail-title").focus();
  }
  function fact(label, value) { return [el("dt", { text: t(label) }), el("dd", { text: value ?? "–" })]; }
  function renderDetail(message) {
    const { routing: r, intake: i, deadlines } = state.detail || {};
    if (!r && !i) return;
    const c = { ...(i || {}), ...(r || {}) };
    $("detail").hidden = false;
    $("detail").dataset.status = c.status;
    $("detail-title").textContent = `${categoryName(c.category)} · ${t(`status_${c.status}`)}`;
    // A live refresh (no message given) keeps what the last action said.
    if (message !== undefined) { $("notice").hidden = !message; $("notice").textContent = message; }
    const place = [named(state.config.communities, c.community), c.address].filter(Boolean).join(" · ");
    $("facts").replaceChildren(
      ...fact("description", (i || r).description), ...fact("place", place), ...fact("reporters", i ? String(i.reporter_count) : "–"),
      ...fact("status", t(`status_${c.status}`)), ...fact("assignee", assigneeName(r ? r.assignee : i.assigned_to)),
      ...fact("priority", t(`priority_${c.priority}`)), ...(r && r.member ? fact("member", memberName(r.member)) : []));
    $("deadlines").replaceChildren(...(deadlines.length ? deadlines : [null]).map((dl) => {
      if (!dl) return el("li", { text: t("noDeadlines") });
      const [due, over] = dl.state === "armed" || dl.state === "overdue" ? countdown(dl.due_at) : ["", ""];
      return el("li", { "data-deadline": dl.kind, class: over }, `${t(`kind_${dl.kind}`)}: ${t(`dl_${dl.state}`)} `,
        dl.due_at ? el("time", { datetime: dl.due_at, text: new Date(dl.due_at).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false }) }) : null,
        due ? ` (${due})` : "");
    }));
    $("reasons").replaceChildren(...((r && r.decisions) || []).map((dec) => el("li", {},
      el("strong", { text: assigneeName(dec.assignee) }), ` — ${dec.reasons.join("；")}`)));
    $("timeline").replaceChildren(...((i && i.timeline) || []).map((e) => el("li", {},
      el("time", { datetime: e.at, text: new Date(e.at).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false }) }),
      ` ${t(`status_${e.status}`)}`, e.note ? el("span", { class: "note", text: ` — ${e.note}` }) : null)));
    // A live update must not wipe a form being filled in, unless the case moved on meanwhile.
    const open = $("actions").querySelector("form");
    if (!open || open.dataset.status !== c.status) renderActions(c);
  }
  const memberName = (code) => ((state.config.team && state.config.team.members.find((m) => m.code === code)) || {}).name || code;

  // ---- actions -----------------------------------------------------------------------------------------
  function renderActions(c) {
    const box = $("actions");
    const buttons = [];
    const mine = !isStreet();
    const b = (key, handler) => buttons.push(el("button", { type: "button", id: `act-${key}`, text: t(key), onclick: handler }));
    if (mine && ["routed", "reopened"].includes(c.status)) b("sign", () => act("sign"));
    if (mine && c.status === "routed") {
      b("decline", () => form("decline", [selectField("reason_code", "reason", state.config.decline_reasons.map((x) => [x, t(`reason_${x}`)])), textField("reason_text", "note", false)]));
    }
    if (mine && ["signed", "awaiting_resident"].includes(c.status)) {
      b("progress", () => form("progress", [textField("note", "note", true), textField("public_note", "publicNote", false)]));
      if (c.status === "signed") b("awaitResident", () => form("await-resident", [textField("note", "note", false)]));
      else b("resume", () => act("resume"));
      b("resolve", () => form("resolve", [textField("note", "note", true), textField("public_note", "publicNote", false)]));
    }
    if (role() === "team" && state.config.team && ["routed", "reopened", "signed", "awaiting_resident"].includes(c.status)) {
      b("assign", () => form("assign-member", [selectField("member", "member", state.config.team.members.map((m) => [m.code, m.name]))]));
    }
    if (isStreet() && c.status !== "closed") {
      if (!c.category) b("triage", () => form("triage", [selectField("category", "category", state.config.categories.map((x) => [x.code, categoryName(x.code)])), textField("note", "note", false)]));
      const heldHere = c.status === "arbitration" || (c.assignee && c.assignee.kind === "street_office");
      b(heldHere ? "arbitrate" : "reassign", () => form("arbitrate", [selectField("assignee", "assignee", assigneeChoices()), textField("note", "note", false)]));
      b("setPriority", () => form("priority", [selectField("priority", "priority", ["emergency", "high", "normal", "low"].map((p) => [p, t(`priority_${p}`)])), textField("note", "note", false)]));
    }
    box.replaceChildren(...buttons);
  }
  function assigneeChoices() {
    const c = state.config;
    return [...c.departments.map((d) => [`department:${d.code}`, named(c.departments, d.code)]),
      ...c.teams.map((x) => [`team:${x.code}`, named(c.teams, x.code)])];
  }
  function textField(name, label, required) {
    const id = `f-${name}`;
    return el("p", { class: "field" }, el("label", { for: id, "data-i18n": label, text: t(label) }), el("textarea", { id, name, rows: "3", required, maxlength: "4000" }));
  }
  function selectField(name, label, options) {
    const id = `f-${name}`;
    return el("p", { class: "field" }, el("label", { for: id, "data-i18n": label, text: t(label) }),
      el("select", { id, name, required: true }, ...options.map(([v, text]) => el("option", { value: v, text }))));
  }
  function form(action, fields) {
    const f = el("form", { class: "action-form", id: `form-${action}`, "aria-label": $(`act-${labelOf(action)}`)?.textContent || action },
      ...fields,
      el("p", { class: "buttons" }, el("button", { type: "submit", id: "form-submit", "data-i18n": "submit", text: t("submit") }),
        el("button", { type: "button", class: "ghost", "data-i18n": "cancel", text: t("cancel"), onclick: () => renderActions({ ...state.detail.intake, ...state.detail.routing }) })));
    f.dataset.status = state.detail.routing ? state.detail.routing.status : "";
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, v] of new FormData(f).entries()) if (String(v).trim()) body[k] = String(v).trim();
      if (action === "arbitrate") { const [kind, code] = body.assignee.split(":"); body.assignee = { kind, code }; }
      act(action, body);
    });
    $("actions").replaceChildren(f);
    f.querySelector("select, textarea").focus();
  }
  const labelOf = (action) => ({ "await-resident": "awaitResident", "assign-member": "assign", priority: "setPriority" })[action] || action;
  async function act(action, body) {
    const id = state.current;
    let message;
    try {
      await routing(`/v1/cases/${id}/${action}`, { method: "POST", body: body || undefined });
      message = t("done", { what: t(labelOf(action)) });
    } catch (err) {
      if (!(err instanceof Refused) || err.status === 401) return;
      const b = err.body || {};
      if (err.status === 409 && b.error === "team_full") message = t("teamFull");
      else if (err.status === 409) message = t("conflict", { state: t(`status_${b.state || "new"}`) });
      else if (err.status === 403) message = t("forbidden");
      else message = t("failed", { msg: b.message || err.status });
    }
    $("actions").replaceChildren(); // the form is done with: show the steps the case allows now
    await Promise.all([openCase(id, message), refreshList()]);
    $("notice").focus?.();
  }

  // ---- live ---------------------------------------------------------------------------------------------
  function setLive(mode) { state.liveMode = mode; $("live").className = `live ${mode === "live" ? "on" : "off"}`; $("live-text").textContent = t(mode); }
  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource("/v1/stream");
    state.source = source;
    source.onopen = () => setLive("live");
    source.onerror = () => setLive(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
    for (const type of state.config.event_types) source.addEventListener(type, onEvent);
    source.addEventListener("resync", () => refreshList());
    source.addEventListener("end", () => { source.close(); ended(t("sessionEnded")); });
  }
  function onEvent(msg) {
    const e = JSON.parse(msg.data);
    const fresh = !state.known.has(e.subject);
    if (e.type === "lastmeter.case.routed" || e.type === "lastmeter.case.reopened") {
      if (fresh || e.type === "lastmeter.case.reopened") { state.badge += 1; setTitle(); }
    }
    clearTimeout(state.refresh);
    state.refresh = setTimeout(() => {
      refreshList().catch(() => {});
      if (state.current === e.subject) openCase(e.subject);
    }, 300);
  }

  // ---- wiring -------------------------------------------------------------------------------------------
  document.querySelectorAll(".lang-toggle").forEach((n) => n.addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh"; localStorage.setItem(LANG_STORE, state.lang); applyLanguage();
  }));
  $("logout").addEventListener("click", logout);
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("login-key").value.trim();
    $("login-key").value = "";
    if (key) login(key); else showLogin(t("badKey"));
  });
  window.addEventListener("hashchange", openFromHash);
  window.addEventListener("focus", () => { if (state.badge && state.current) { state.badge = 0; setTitle(); } });
  applyLanguage();
  start();
})();
