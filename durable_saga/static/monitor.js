// The saga monitor: draws what the app's JSON endpoints answer, for the saga the server describes
// in the body's data-monitor attribute (durable_saga.views.SagaMonitor.page_config). No framework
// and no build step; every text goes through textContent, never HTML.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const FOLLOW_MS = 400;
  const FOLLOW_TRIES = 25;
  const search = new URLSearchParams(location.search);
  // Rows per page: 25, or ?top=1..100 in the page's URL.
  const PAGE_SIZE = Math.min(100, Math.max(1, Math.trunc(Number(search.get("top"))) || 25));
  const MAX_REQUESTS_PER_LOAD = 20;
  const RUNNING = new Set(["Pending", "Running", "Suspended"]);

  // What this app's sagas are called, where their endpoints live and what the page shows of them.
  const config = JSON.parse(document.body.dataset.monitor);
  const noun = config.noun;
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1);
  const collection = config.collection;
  const idOf = (view) => view[config.idField];
  const sagaPath = (id) => `${collection}/${encodeURIComponent(id)}`;

  // The page is /{prefix}/monitor; the endpoints it reads live beside it under /{prefix}/.
  const apiBase = location.pathname.replace(/monitor\/?$/, "");
  // On Azure the page is opened with ?code=<function key>; every request of its own sends it.
  const functionKey = search.get("code");

  const $ = (id) => document.getElementById(id);
  const state = {
    paused: false,
    timer: null,
    rows: [],
    token: null,
    loading: false,
    listGeneration: 0,
    sagaGeneration: 0,
    openId: null,
    saga: null,
    lastFocus: null,
  };

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function badge(value) {
    if (value === null || value === undefined || value === "") return el("span", { className: "muted", text: "—" });
    return el("span", { className: `badge ${value}`, text: value });
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (functionKey) headers["x-functions-key"] = functionKey;
    let response;
    try {
      response = await fetch(apiBase + path, { ...options, headers, cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, `the app did not answer (${error.message})`);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const errors = body && Array.isArray(body.errors) ? body.errors : [];
      const said = errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
      throw new ApiError(response.status, said || `${response.status} ${response.statusText}`);
    }
    return body;
  }

  // ---- time and duration --------------------------------------------------------------------

  const pad = (n, width = 2) => String(n).padStart(width, "0");

  function localTime(iso, withMs = false) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
  }

  function clockTime(iso) {
    const d = new Date(iso);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function duration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
    if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m - h * 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  // The status API gives whole seconds: a saga that ended within its first second shows "< 1 s".
  function sagaDuration(row) {
    const created = Date.parse(row.createdTime);
    if (Number.isNaN(created)) return "—";
    if (RUNNING.has(row.runtimeStatus)) return duration(Math.max(1000, Date.now() - created));
    const updated = Date.parse(row.lastUpdatedTime);
    if (Number.isNaN(updated)) return "—";
    return updated - created < 1000 ? "< 1 s" : duration(updated - created);
  }

  // ---- the list -----------------------------------------------------------------------------

  function listQuery() {
    const params = new URLSearchParams();
    for (const [id, name] of [["f-outcome", "outcome"], ["f-stage", "stage"], ["f-status", "runtimeStatus"]]) {
      if ($(id).value) params.set(name, $(id).value);
    }
    const created = $("f-created").value;
    if (created === "custom") {
      const from = $("f-from").value;
      const to = $("f-to").value;
      if (from) params.set("createdFrom", new Date(from).toISOString());
      if (to) params.set("createdTo", new Date(to).toISOString());
    } else if (created) {
      params.set("createdFrom", new Date(Date.now() - Number(created) * 60000).toISOString());
    }
    params.set("top", String(PAGE_SIZE));
    return params;
  }

  // Fetch pages until `wanted` sagas arrived or the list ended: filtered pages may be short.
  async function fetchSagas(wanted, token) {
    const rows = [];
    let requests = 0;
    do {
      const params = listQuery();
      if (token) params.set("continuationToken", token);
      const page = await api(`${collection}?${params}`);
      rows.push(...page[collection]);
      token = page.continuationToken;
      requests += 1;
    } while (token && rows.length < wanted && requests < MAX_REQUESTS_PER_LOAD);
    return { rows, token };
  }

  const newestFirst = (a, b) =>
    (b.createdTime || "").localeCompare(a.createdTime || "") || idOf(b).localeCompare(idOf(a));

  // Each load supersedes the ones before it: a filter changed mid-load must not be overwritten
  // by the older answer. A timed refresh skips its turn while a load is under way.
  async function loadList({ append = false, timed = false } = {}) {
    if (timed && state.loading) return;
    const generation = ++state.listGeneration;
    state.loading = true;
    try {
      const wanted = append ? PAGE_SIZE : Math.max(PAGE_SIZE, state.rows.length);
      const { rows, token } = await fetchSagas(wanted, append ? state.token : null);
      if (generation !== state.listGeneration) return;
      const byId = new Map((append ? state.rows : []).map((row) => [idOf(row), row]));
      for (const row of rows) byId.set(idOf(row), row);
      state.rows = [...byId.values()].sort(newestFirst);
      state.token = token;
      $("list-error").hidden = true;
      renderList();
      refreshed();
    } catch (error) {
      if (generation === state.listGeneration) showError("list-error", `Could not load the sagas: ${error.message}`);
    } finally {
      if (generation === state.listGeneration) state.loading = false;
    }
  }

  function renderList() {
    const body = $("orders").tBodies[0];
    body.replaceChildren(
      ...state.rows.map((row) =>
        el(
          "tr",
          { "data-order": idOf(row) },
          el("td", { "data-label": Noun }, el("a", { href: `#/${sagaPath(idOf(row))}`, text: idOf(row) })),
          config.columns.map((column) =>
            el("td", { "data-label": column.label, className: column.kind === "number" ? "num" : null }, shown(column, row[column.field])),
          ),
          el("td", { "data-label": "Status" }, badge(row.runtimeStatus)),
          el("td", { "data-label": "Outcome" }, badge(row.outcome)),
          el("td", { "data-label": "Stage" }, badge(row.stage)),
          el("td", { "data-label": "Created", title: row.createdTime, text: localTime(row.createdTime) }),
          el("td", { "data-label": "Duration", className: "num", text: sagaDuration(row) }),
        ),
      ),
    );
    $("list-empty").hidden = state.rows.length > 0;
    $("more").hidden = !state.token;
    $("list-count").textContent = `${state.rows.length} shown${state.token ? "; more on request" : ""}`;
  }

  // ---- one saga -----------------------------------------------------------------------------

  async function loadSaga(sagaId) {
    const generation = ++state.sagaGeneration;
    try {
      const [view, detail] = await Promise.all([api(sagaPath(sagaId)), api(`${sagaPath(sagaId)}/timeline`)]);
      if (generation !== state.sagaGeneration) return;
      state.saga = { view, detail };
      $("saga-error").hidden = true;
      renderSaga(view, detail);
      refreshed();
    } catch (error) {
      if (generation !== state.sagaGeneration) return;
      const message = error.status === 404 ? `There is no ${noun} ${sagaId}.` : `Could not load ${noun} ${sagaId}: ${error.message}`;
      showError("saga-error", message);
    }
  }

  function renderSaga(view, detail) {
    $("saga-title").textContent = `${Noun} ${idOf(view)}`;
    const facts = [
      ["Status", badge(view.runtimeStatus)],
      ["Outcome", badge(detail.outcome)],
      ["Stage", badge(detail.stage)],
      ...(detail.activeStage ? [["In stage", detail.activeStage]] : []),
      ...config.columns.map((column) => [column.label, shown(column, view[column.field])]),
      ["Created", localTime(view.createdTime)],
      ["Last updated", localTime(view.lastUpdatedTime)],
      ["Duration", sagaDuration(view)],
    ];
    if (view.traceId) {
      const trace = view.traceUrl
        ? el("a", { href: view.traceUrl, target: "_blank", rel: "noopener noreferrer", text: view.traceId })
        : el("code", { text: view.traceId });
      facts.push(["Trace", trace]);
    }
    if (view.error) facts.push(["Reason", view.error]);
    if (detail.resolution) {
      facts.push(["Resolution", `${detail.resolution.note ?? ""} (${localTime(detail.resolution.resolvedAt)})`]);
    }
    $("saga-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]));
    renderAttention(detail.attention, detail.stage);
    renderActions(detail.actions);
    renderDetails(view);
    renderSteps(view);
    renderTimeline(detail.timeline);
    if ($("payloads").open) loadPayloads();
  }

  function renderAttention(attention, stage) {
    const box = $("attention");
    if (stage !== "needs_attention" && !attention) {
      box.hidden = true;
      return;
    }
    const parts = [el("strong", { text: "This saga needs an operator." })];
    if (attention) {
      parts.push(
        el("div", { text: `Rollbacks still to do: ${(attention.rollbacks || []).join(", ") || "—"}` }),
        el("div", { text: `Last error: ${attention.lastError ?? "—"}` }),
        el("div", { text: `Operator retries so far: ${attention.operatorRetries ?? 0}` }),
      );
    }
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  function renderActions(actions) {
    $("actions").replaceChildren(
      ...(actions || []).map((action) =>
        el("button", {
          type: "button",
          className: action.name === "terminate" ? "danger" : "primary",
          "data-action": action.name,
          text: action.label,
          onclick: () => confirmAction(action),
        }),
      ),
    );
  }

  // A field of a saga as its column says: a badge, or text ("—" when there is none).
  function shown(column, value) {
    return column.kind === "badge" ? badge(value) : String(value ?? "—");
  }

  // What the saga's domain adds to its view (the order's ledgers), as the config lays it out.
  function renderDetails(view) {
    const details = config.details;
    if (!details) return;
    const records = view[details.field] || {};
    $("ledgers").tBodies[0].replaceChildren(
      ...details.rows.map(({ key, label }) => {
        const record = records[key];
        return el(
          "tr",
          { "data-ledger": key },
          el("th", { scope: "row", text: label }),
          details.columns.map((column) => recordCell(column, record)),
        );
      }),
    );
  }

  function recordCell(column, record) {
    if (column.kind === "badge") {
      return el("td", {}, record ? badge(record[column.field]) : el("span", { className: "muted", text: "nothing recorded" }));
    }
    if (column.kind === "number") return el("td", { className: "num", text: record ? record[column.field] ?? "—" : "—" });
    return el("td", { text: record?.[column.field] ?? "" });
  }

  function renderSteps(view) {
    const steps = view.steps || {};
    $("steps").tBodies[0].replaceChildren(
      ...config.steps.map(({ name }) =>
        el(
          "tr",
          { "data-step": name },
          el("th", { scope: "row", text: name }),
          el("td", {}, badge(steps[name]?.status)),
          el("td", { text: steps[name]?.reason ?? "" }),
        ),
      ),
    );
  }

  // ---- timeline -----------------------------------------------------------------------------

  function renderTimeline(t) {
    const span = Math.max(t.durationMs, 1);
    const at = (ms) => `${Math.min(100, Math.max(0, (ms / span) * 100))}%`;
    const width = (from, to) => `${Math.max(0, ((Math.min(to, span) - from) / span) * 100)}%`;
    const inWindow = (ms) => ms >= 0 && ms <= span;
    // Each lane shows the deadlines of its stage (a lane of no declared step, all of them).
    const deadlines = t.deadlines || [];
    const stageOf = (deadline) => (config.stages.length > 1 && deadline.stage ? ` (stage ${deadline.stage})` : "");

    const lanes = t.lanes.map((lane) => {
      const track = el("div", { className: "track" });
      for (const wait of lane.waits) {
        const node = el("span", { className: "wait", title: `retry wait until ${clockTime(wait.fireAt)}` });
        node.style.left = at(wait.fromMs);
        node.style.width = width(wait.fromMs, wait.toMs);
        track.append(node);
      }
      for (const attempt of lane.attempts) {
        const label = attemptLabel(lane, attempt);
        const node = el("span", {
          className: `bar ${attempt.status}`,
          tabindex: 0,
          role: "img",
          "aria-label": label,
          title: label,
          "data-attempt": attempt.number,
          text: String(attempt.number),
        });
        node.style.left = at(attempt.fromMs);
        node.style.width = width(attempt.fromMs, attempt.toMs);
        track.append(node);
      }
      for (const deadline of deadlines) {
        const ours = !lane.stage || !deadline.stage || lane.stage === deadline.stage;
        if (ours && inWindow(deadline.atMs)) track.append(deadlineLine(deadline, at));
      }
      const last = lane.attempts[lane.attempts.length - 1];
      const count = `${lane.attempts.length} attempt${lane.attempts.length === 1 ? "" : "s"}`;
      return el(
        "div",
        { className: `lane ${lane.kind}`, "data-lane": lane.key },
        el(
          "div",
          { className: "lane-head" },
          el("span", { className: "lane-name", text: lane.label }),
          el("span", { className: "lane-kind", text: `${lane.activity} · ${lane.kind === "compensation" ? "compensation" : "step"} · ${count}` }),
          last ? badge(last.status) : null,
        ),
        track,
        el(
          "ol",
          { className: "attempts" },
          lane.attempts.map((attempt) =>
            el(
              "li",
              { className: attempt.status, "data-attempt": attempt.number },
              `Attempt ${attempt.number}: ${attempt.status}`,
              ` · ${clockTime(attempt.scheduled)}`,
              attempt.durationMs === null ? "" : ` · ${duration(attempt.durationMs)}`,
              attempt.detail ? el("div", { className: "detail", text: attempt.detail }) : null,
            ),
          ),
        ),
      );
    });

    const notes = [];
    for (const deadline of deadlines) {
      const fired = deadline.fired ? `fired at ${clockTime(deadline.fired)}` : "not fired";
      const where = inWindow(deadline.atMs) ? "" : " (outside the window shown)";
      notes.push(el("li", { "data-mark": "deadline", text: `Step deadline${stageOf(deadline)} ${clockTime(deadline.fireAt)}: ${fired}${where}` }));
    }
    for (const decision of t.decisions) {
      notes.push(
        el("li", { "data-mark": "decision", text: `Operator decision at ${clockTime(decision.at)}: ${decision.action}${decision.note ? ` (“${decision.note}”)` : ""}` }),
      );
    }
    for (const mark of t.marks) {
      notes.push(el("li", { "data-mark": mark.kind, text: `${markName(mark)} at ${clockTime(mark.at)}${mark.detail ? `: ${mark.detail}` : ""}` }));
    }

    const decisionTrack = t.decisions.length ? decisionLane(t.decisions, at) : null;
    $("timeline").replaceChildren(
      ...[
        el("div", { className: "scale", "aria-hidden": "true" }, el("span", { text: "0" }), el("span", { text: duration(t.durationMs) })),
        ...lanes,
        decisionTrack,
        lanes.length ? legend() : el("p", { className: "muted", text: "No activity has run yet." }),
        el("ul", { className: "events" }, notes),
      ].filter(Boolean),
    );
  }

  function attemptLabel(lane, attempt) {
    const took = attempt.durationMs === null ? "" : ` after ${duration(attempt.durationMs)}`;
    return `${lane.label} attempt ${attempt.number}: ${attempt.status}${took}${attempt.detail ? ` — ${attempt.detail}` : ""}`;
  }

  function deadlineLine(deadline, at) {
    const node = el("span", { className: "deadline", title: `step deadline ${clockTime(deadline.fireAt)}` });
    node.style.left = at(deadline.atMs);
    return node;
  }

  function decisionLane(decisions, at) {
    const track = el("div", { className: "track" });
    for (const decision of decisions) {
      const node = el("span", { className: "mark", title: `${decision.action} at ${clockTime(decision.at)}` });
      node.style.left = at(decision.atMs);
      track.append(node);
    }
    return el("div", { className: "lane", "data-lane": "decisions" }, el("div", { className: "lane-head" }, el("span", { className: "lane-name", text: "Operator decisions" })), track);
  }

  function markName(mark) {
    const names = { started: "Started", completed: "Completed", failed: "Failed", terminated: "Terminated", suspended: "Suspended", resumed: "Resumed", event: "Event" };
    return names[mark.kind] || mark.kind;
  }

  function legend() {
    const item = (kind, text) => el("span", {}, el("span", { className: `swatch key-${kind}` }), text);
    return el(
      "div",
      { className: "legend", "aria-hidden": "true" },
      item("succeeded", "succeeded"),
      item("refused", "refused"),
      item("failed", "failed"),
      item("running", "running"),
      item("abandoned", "no answer"),
      item("late", "after the deadline"),
      item("wait", "retry wait"),
      item("deadline", "step deadline"),
    );
  }

  async function loadPayloads() {
    const sagaId = state.openId;
    if (!sagaId) return;
    try {
      const payloads = await api(`${sagaPath(sagaId)}/payloads`);
      if (state.openId === sagaId) $("payloads-body").textContent = JSON.stringify(payloads, null, 2);
    } catch (error) {
      $("payloads-body").textContent = `Could not load the input and output: ${error.message}`;
    }
  }

  // ---- actions ------------------------------------------------------------------------------

  function confirmAction(action) {
    const dialog = $("confirm");
    const field = action.field;
    $("confirm-title").textContent = action.label;
    $("confirm-text").textContent = action.confirm;
    $("confirm-problem").textContent = "";
    $("confirm-field-row").hidden = !field;
    if (field) {
      $("confirm-field-label").textContent = field.label;
      $("confirm-field").value = field.default || "";
      $("confirm-field").maxLength = field.maxLength;
      $("confirm-field").required = field.required;
    }
    $("confirm-ok").textContent = action.label;
    $("confirm-ok").onclick = () => runAction(action);
    state.lastFocus = document.activeElement;
    dialog.showModal();
    (field ? $("confirm-field") : $("confirm-cancel")).focus();
  }

  async function runAction(action) {
    const body = { ...action.body };
    const field = action.field;
    if (field) {
      const value = $("confirm-field").value.trim();
      if (field.required && !value) {
        $("confirm-problem").textContent = `${field.label} is required.`;
        return;
      }
      if (value) body[field.name] = value;
    }
    $("confirm-ok").disabled = true;
    const before = sagaState();
    try {
      await api(action.path, {
        method: action.method,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      closeDialog();
      $("action-message").textContent = `${action.label}: accepted. The saga view follows it below.`;
      await followSaga(state.openId, before);
    } catch (error) {
      $("confirm-problem").textContent = `${action.label} was refused: ${error.message}`;
    } finally {
      $("confirm-ok").disabled = false;
    }
  }

  function sagaState() {
    const saga = state.saga;
    return saga ? `${saga.view.runtimeStatus} ${saga.detail.stage} ${saga.detail.outcome}` : "";
  }

  // The host takes an accepted command a moment later: read the saga again, briefly and often,
  // until it shows the change, rather than waiting for the next refresh.
  async function followSaga(sagaId, before) {
    for (let tries = 0; tries < FOLLOW_TRIES; tries += 1) {
      await loadSaga(sagaId);
      if (state.openId !== sagaId || sagaState() !== before) return;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    }
  }

  function closeDialog() {
    $("confirm").close();
    if (state.lastFocus && document.contains(state.lastFocus)) state.lastFocus.focus();
  }

  // ---- views, refresh and wiring ------------------------------------------------------------

  // Name this saga's things in the page: the search box, the list's columns, the details panel.
  function configure() {
    $("find-label").textContent = `Find ${noun}`;
    $("find-id").placeholder = `${noun} id${config.exampleId ? `, e.g. ${config.exampleId}` : ""}`;
    $("id-column").textContent = Noun;
    $("id-column").after(
      ...config.columns.map((column) =>
        el("th", { scope: "col", className: column.kind === "number" ? "num" : null, text: column.label }),
      ),
    );
    const details = config.details;
    if (details) {
      $("ledgers-title").textContent = details.title;
      $("ledgers").tHead.rows[0].replaceChildren(
        el("th", { scope: "col", text: details.rowHeader }),
        ...details.columns.map((column) =>
          el("th", { scope: "col", className: column.kind === "number" ? "num" : null, text: column.label }),
        ),
      );
      $("ledgers-title").hidden = $("ledgers").hidden = false;
    } else {
      $("ledgers-title").closest("aside").setAttribute("aria-labelledby", "steps-title");
    }
  }

  function showError(id, message) {
    $(id).textContent = message;
    $(id).hidden = false;
  }

  function refreshed() {
    const now = new Date();
    const text = `Refreshed ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    $("refreshed").textContent = state.paused ? `${text} · paused` : text;
  }

  function refresh(timed = false) {
    if (state.openId) {
      const saga = state.saga;
      // A finished saga's history no longer changes; only a running one is read again.
      if (!saga || idOf(saga.view) !== state.openId || RUNNING.has(saga.view.runtimeStatus)) {
        return loadSaga(state.openId);
      }
      refreshed();
      return Promise.resolve();
    }
    return loadList({ timed });
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.paused) return;
    state.timer = setTimeout(async () => {
      if (!document.hidden && !$("confirm").open) await refresh(true);
      schedule();
    }, REFRESH_MS);
  }

  function route() {
    const prefix = `#/${collection}/`;
    const hash = location.hash;
    const sagaId = hash.startsWith(prefix) && hash.length > prefix.length ? decodeURIComponent(hash.slice(prefix.length)) : null;
    const previous = state.openId;
    state.openId = sagaId;
    $("list-view").hidden = Boolean(sagaId);
    $("saga-view").hidden = !sagaId;
    $("action-message").textContent = "";
    if (sagaId) {
      if (previous !== sagaId) {
        state.saga = null;
        $("saga-title").textContent = `${Noun} ${sagaId}`;
        $("saga-facts").replaceChildren();
        $("actions").replaceChildren();
        $("timeline").replaceChildren(el("p", { className: "muted", text: "Loading…" }));
        $("payloads").open = false;
        $("payloads-body").textContent = "Loading…";
      }
      $("saga-title").focus();
      loadSaga(sagaId);
    } else {
      loadList().then(() => {
        const link = previous && document.querySelector(`tr[data-order="${CSS.escape(previous)}"] a`);
        if (link) link.focus();
      });
    }
  }

  $("find").addEventListener("submit", async (event) => {
    event.preventDefault();
    const sagaId = $("find-id").value.trim();
    $("find-message").textContent = "";
    if (!sagaId) return;
    try {
      await api(sagaPath(sagaId));
      location.hash = `#/${sagaPath(sagaId)}`;
    } catch (error) {
      $("find-message").textContent = error.status === 404 ? `No ${noun} ${sagaId}.` : error.message;
    }
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("filters").addEventListener("change", (event) => {
    $("custom-range").hidden = $("f-created").value !== "custom";
    if (event.target.id === "f-created" && $("f-created").value === "custom") return;
    state.rows = [];
    loadList();
  });
  $("more").addEventListener("click", () => loadList({ append: true }));
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(state.paused));
    $("refreshed").textContent = $("refreshed").textContent.replace(/ · paused$/, "") + (state.paused ? " · paused" : "");
    schedule();
  });
  $("refresh-now").addEventListener("click", () => refresh());
  $("back").addEventListener("click", (event) => {
    event.preventDefault();
    location.hash = "";
  });
  $("payloads").addEventListener("toggle", () => {
    if ($("payloads").open) loadPayloads();
  });
  $("confirm-cancel").addEventListener("click", closeDialog);
  $("confirm").addEventListener("cancel", () => {
    setTimeout(() => state.lastFocus && state.lastFocus.focus(), 0);
  });
  window.addEventListener("hashchange", route);

  configure();
  route();
  schedule();
})();
