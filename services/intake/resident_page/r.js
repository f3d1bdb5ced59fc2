// The residents' page: plain JS, nothing loaded from elsewhere. A resident's link is /r#t=<token>:
// the fragment never reaches a server; the page exchanges it at once for an HttpOnly session and
// takes it out of the address bar. Staff (hotline, grid workers) log in with their key instead.
(() => {
  "use strict";
  const LANG_STORE = "lastmeter.lang";
  const CSRF = { "X-Lastmeter-CSRF": "1", "Content-Type": "application/json" };
  const state = { lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh", categories: [], communities: [], principal: null, caseId: null, view: null, poll: null };
  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => {
    let s = (window.LM_R_TEXT[state.lang] || {})[key] ?? window.LM_R_TEXT.zh[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, v);
    return s;
  };
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...kids.filter((x) => x != null));
    return node;
  };
  // A picture beside each category's words (the words are what a screen reader reads).
  const ICONS = {
    street_light_out: "light", water_outage: "drop", power_outage: "bolt", no_heating: "thermo", gas_smell: "flame",
    sewer_blocked: "drop", elderly_canteen: "bowl", vegetable_shopping: "bowl", pupil_summer_activities: "people",
    corridor_clutter: "house", neighbour_dispute: "people", empty_nest_care: "people", neighbour_watch: "people",
    noise: "sound", illegal_construction: "house", food_safety: "health", community_health: "health",
    tree_trimming: "tree", pothole: "road",
  };
  const name = (list, code) => { const x = list.find((i) => i.code === code); return x ? (state.lang === "en" ? x.name_en : x.name) : code; };
  const when = (iso) => new Date(iso).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  async function post(path, body) {
    const resp = await fetch(path, { method: "POST", credentials: "same-origin", headers: CSRF, body: JSON.stringify(body) });
    const text = await resp.text();
    return { status: resp.status, body: text ? JSON.parse(text) : {} };
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    $("lang").setAttribute("lang", state.lang === "en" ? "zh-CN" : "en");
    document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
    document.title = `${t("brand")}`;
    $("qr").alt = t("qrAlt");
    renderCategories(); renderCommunities(); renderStaff();
    if (state.view) renderCase();
  }
  function show(view) {
    $("view-form").hidden = view !== "form";
    $("view-case").hidden = view !== "case";
  }

  // ---- the form ----------------------------------------------------------------------------------------
  function renderCategories() {
    const chosen = (document.querySelector("input[name=category]:checked") || {}).value ?? "";
    const tile = (code, label) => el("label", { class: "tile" },
      el("input", { type: "radio", name: "category", value: code, checked: code === chosen }),
      el("img", { src: `/r/icon-${code ? ICONS[code] || "dots" : "pencil"}.svg`, alt: "", width: "40", height: "40" }),
      el("span", { text: label }));
    $("categories").replaceChildren(...state.categories.map((c) => tile(c.code, name(state.categories, c.code))), tile("", t("notSure")));
  }
  function renderCommunities() {
    const sel = $("community"), value = sel.value;
    sel.replaceChildren(el("option", { value: "", text: t("chooseCommunity") }), ...state.communities.map((c) => el("option", { value: c.code, text: name(state.communities, c.code) })));
    sel.value = value;
  }
  function renderStaff() {
    const p = state.principal;
    const staff = p && p.role !== "resident";
    $("staff-banner").hidden = !staff;
    if (staff) $("staff-banner").textContent = t("staffAs", { who: p.name || p.role });
    $("staff-login").hidden = !!staff;
    $("force-row").hidden = !(p && p.role === "grid_worker");
    $("leave").hidden = !p;
  }
  function fieldError(id, message) { $(`${id}-error`).textContent = message || ""; $(id).setAttribute("aria-invalid", message ? "true" : "false"); }
  async function submitNeed(ev) {
    ev.preventDefault();
    const f = ev.target;
    const description = f.description.value.trim(), community = f.community.value, phone = f.phone.value.trim();
    fieldError("description", description ? "" : t("needDescription"));
    fieldError("community", community ? "" : t("needCommunity"));
    fieldError("phone", !phone || /^[0-9+\-() ]{3,40}$/.test(phone) ? "" : t("badPhone"));
    $("form-error").textContent = "";
    const bad = f.querySelector("[aria-invalid=true]");
    if (bad) { bad.focus(); return; }
    const staff = state.principal && state.principal.role !== "resident";
    const body = { description, community, language: state.lang };
    const category = (f.querySelector("input[name=category]:checked") || {}).value;
    if (category) body.category = category;
    if (f.address.value.trim()) body.address = f.address.value.trim();
    const reporter = { kind: staff ? (state.principal.role === "grid_worker" ? "grid_worker" : "hotline") : "resident" };
    if (phone) reporter.phone = phone;
    body.reporter = reporter;
    if (staff && state.principal.role === "grid_worker" && f.force_new.checked) body.force_new = true;
    $("send").disabled = true;
    try {
      const r = await post("/v1/needs", body);
      if (r.status === 429) { $("form-error").textContent = t("tooMany"); return; }
      if (r.status >= 400) { $("form-error").textContent = t("sendFailed", { msg: r.body.message || r.status }); return; }
      f.reset();
      const link = `${location.origin}/r#t=${r.body.access_token}`;
      if (staff) { state.caseId = r.body.case_id; await openCase({ link, staff: true }); }
      else await useToken(r.body.access_token, link);
    } finally { $("send").disabled = false; }
  }
  async function staffLogin(ev) {
    ev.preventDefault();
    const key = $("staff-key").value.trim();
    $("staff-key").value = "";
    if (!key) return;
    const r = await post("/v1/session/resident", { credential: key });
    if (r.status === 401) { $("staff-error").textContent = t("badKey"); return; }
    if (r.status >= 400 || r.body.principal.role === "resident") { $("staff-error").textContent = t("notStaffHere"); return; }
    $("staff-error").textContent = "";
    state.principal = r.body.principal;
    renderStaff();
    $("description").focus();
  }

  // ---- one case -------------------------------------------------------------------------------------
  async function useToken(token, link) {
    const r = await post("/v1/session/resident", { credential: token });
    if (r.status !== 200 || !r.body.case_id) { show("form"); $("form-error").textContent = t("badLink"); return; }
    state.principal = r.body.principal;
    state.caseId = r.body.case_id;
    await openCase({ link, qr: r.body.qr });
  }
  async function openCase(saved) {
    show("case");
    const box = $("saved");
    box.hidden = !saved || !saved.link;
    if (saved && saved.link) {
      box.querySelector(".lead").textContent = t(saved.staff ? "staffSaved" : "savedLead");
      $("my-link").textContent = saved.link; $("my-link").href = saved.link;
      $("qr").hidden = !saved.qr;
      if (saved.qr) $("qr").src = saved.qr;
    }
    await refreshCase();
    $("case-title").focus();
    clearInterval(state.poll);
    state.poll = setInterval(refreshCase, 5000);
  }
  async function refreshCase() {
    const resp = await fetch(`/v1/cases/${encodeURIComponent(state.caseId)}`, { credentials: "same-origin" });
    if (!resp.ok) { clearInterval(state.poll); return; }
    state.view = await resp.json();
    renderCase();
  }
  function renderCase() {
    const c = state.view;
    $("view-case").dataset.status = c.status;
    $("status").textContent = t(`status_${c.status}`);
    $("status-explain").textContent = t(`explain_${c.status}`);
    const facts = [["whatLabel", c.description], ["category", c.category ? name(state.categories, c.category) : t("unclassified")],
      ["placeLabel", [name(state.communities, c.community), c.address].filter(Boolean).join(" ")]];
    if (c.expected_at && c.open311_status === "open") facts.push(["expected", when(c.expected_at)]);
    $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v || "–" })]));
    const answered = c.feedback_round != null && (c.feedback || []).some((f) => f.round === c.feedback_round);
    $("callback").hidden = c.feedback_round == null || answered;
    $("timeline").replaceChildren(...c.timeline.slice().reverse().map((e) => el("li", {},
      el("time", { datetime: e.at, text: when(e.at) }), " ", el("strong", { text: t(`status_${e.status}`) }), e.note ? el("span", { text: ` — ${e.note}` }) : null)));
  }
  async function submitCallback(ev) {
    ev.preventDefault();
    const f = ev.target;
    const solved = f.querySelector("input[name=solved]:checked"), sat = f.querySelector("input[name=satisfaction]:checked");
    if (!solved || !sat) { $("callback-error").textContent = t("chooseAnswer"); return; }
    const body = { solved: solved.value === "true", satisfaction: sat.value };
    if (f.comment.value.trim()) body.comment = f.comment.value.trim();
    const r = await post(`/v1/cases/${encodeURIComponent(state.caseId)}/feedback`, body);
    if (r.status === 409) { $("callback-error").textContent = t("alreadyAnswered"); return; }
    if (r.status >= 400) { $("callback-error").textContent = t("sendFailed", { msg: r.body.message || r.status }); return; }
    $("callback-error").textContent = "";
    f.reset();
    $("callback-done").hidden = false;
    $("callback-done").textContent = t(r.body.reopen ? "thanksReopen" : "thanks");
    await refreshCase();
  }

  // ---- start ---------------------------------------------------------------------------------------------
  async function start() {
    const [cats, comms] = await Promise.all([fetch("/v1/categories").then((r) => r.json()), fetch("/v1/communities").then((r) => r.json())]);
    state.categories = cats; state.communities = comms;
    applyLanguage();
    if (!(await fromHash())) show("form");
  }
  // A link opened or pasted: exchange its token, and take it out of the address bar (and history) first.
  async function fromHash() {
    if (!location.hash.startsWith("#t=")) return false;
    const m = /^#t=(rt_[A-Za-z0-9_-]{10,200})$/.exec(location.hash);
    history.replaceState(null, "", location.pathname);
    clearInterval(state.poll);
    if (m) await useToken(m[1], `${location.origin}/r#t=${m[1]}`);
    else { show("form"); $("form-error").textContent = t("badLink"); }
    return true;
  }
  window.addEventListener("hashchange", fromHash);
  $("lang").addEventListener("click", () => { state.lang = state.lang === "zh" ? "en" : "zh"; localStorage.setItem(LANG_STORE, state.lang); applyLanguage(); });
  $("need-form").addEventListener("submit", submitNeed);
  $("staff-form").addEventListener("submit", staffLogin);
  $("callback-form").addEventListener("submit", submitCallback);
  // Leaving ends the session (a shared phone or the hotline's desk): the next person starts afresh.
  $("leave").addEventListener("click", async () => {
    await fetch("/v1/session/resident/logout", { method: "POST", credentials: "same-origin", headers: CSRF }).catch(() => {});
    clearInterval(state.poll);
    state.principal = null; state.caseId = null; state.view = null;
    $("saved").hidden = true; $("callback-done").hidden = true;
    renderStaff(); show("form"); $("form-title").focus();
  });
  $("new-need").addEventListener("click", () => { clearInterval(state.poll); state.view = null; $("callback-done").hidden = true; show("form"); $("description").focus(); });
  $("copy").addEventListener("click", () => { navigator.clipboard?.writeText($("my-link").href).then(() => { $("copy").textContent = t("copied"); }).catch(() => {}); });
  start();
})();
