/* klaviyo-analytics dashboard: a dependency-free page over /api/v1.
   The token lives in sessionStorage and goes out as "Authorization: Bearer ...". All values are
   written with textContent (never innerHTML), and charts are hand-built SVG. */
(function () {
  "use strict";

  const TOKEN_KEY = "klaviyo-analytics.token";
  const API = "/api/v1";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SERIES = [
    ["total_revenue", "Total", "--s1"],
    ["email_revenue", "Email", "--s2"],
    ["sms_revenue", "SMS", "--s3"],
    ["flow_revenue", "Flows", "--s4"],
    ["campaign_revenue", "Campaigns", "--s5"],
  ];
  const CARD_KPIS = ["revenue", "orders", "aov", "customers", "new_customers", "refunds",
    "email_revenue", "sms_revenue", "flow_revenue", "campaign_revenue", "emails_sent", "sms_sent"];

  const state = { token: null, me: null, stores: [], storeId: null, from: null, to: null };
  const $ = (id) => document.getElementById(id);

  const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const fmtMoney = (v) => money.format(v);
  const fmtCount = (v) => count.format(v);
  const fmtPct = (v) => v.toFixed(1) + "%";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || "HTTP " + status);
      this.status = status;
    }
  }

  async function api(path, params) {
    const url = new URL(API + path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    const resp = await fetch(url, { headers: { Authorization: "Bearer " + state.token } });
    if (resp.status === 401) { logout("Your token was not accepted; sign in again."); throw new ApiError(401); }
    const body = (resp.headers.get("content-type") || "").includes("json") ? await resp.json() : await resp.text();
    if (!resp.ok) throw new ApiError(resp.status, body);
    return body;
  }

  function showError(message) {
    const box = $("app-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // -- login -----------------------------------------------------------------------------
  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token-input").value = "";
  }

  async function login(token) {
    state.token = token;
    try {
      state.me = await api("/me");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) logout(err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    $("app").hidden = false;
    $("principal").textContent = state.me.kind === "admin" ? "admin token" : "store token";
    const stores = await api("/stores");
    state.stores = stores.data;
    const select = $("store-select");
    select.replaceChildren(...state.stores.map((s) =>
      el("option", { value: s.public_id, text: s.name + " (" + s.public_id + ")" })));
    select.disabled = state.stores.length <= 1;
    const wanted = new URLSearchParams(window.location.search).get("store");
    state.storeId = state.stores.some((s) => s.public_id === wanted) ? wanted
      : (state.stores[0] && state.stores[0].public_id) || null;
    select.value = state.storeId || "";
    if (!state.storeId) { showError("No store is connected yet."); return; }
    await refresh();
  }

  // -- rendering -------------------------------------------------------------------------
  function renderKpis(overview) {
    const byKey = Object.fromEntries(overview.kpis.map((k) => [k.key, k]));
    const cards = CARD_KPIS.filter((k) => byKey[k]).map((key) => {
      const k = byKey[key];
      const fmt = k.unit === "currency" ? fmtMoney : fmtCount;
      let changeText = "no previous data", cls = "kpi-change";
      if (k.change_pct !== null) {
        changeText = (k.change_pct >= 0 ? "+" : "") + k.change_pct.toFixed(1) + "% vs previous";
        cls += k.change_pct >= 0 ? " up" : " down";
      }
      return el("div", { class: "kpi", "data-kpi": key }, [
        el("div", { class: "kpi-label", text: k.label }),
        el("div", { class: "kpi-value", text: fmt(k.value) }),
        el("div", { class: cls, text: changeText, title: "previous: " + fmt(k.previous) }),
      ]);
    });
    $("kpis").replaceChildren(...cards);
    $("period").textContent = "Period " + overview.date_from + " to " + overview.date_to +
      ", compared with " + overview.previous_from + " to " + overview.previous_to + ".";
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function renderRevenue(daily) {
    const W = 960, H = 260, L = 60, R = 10, T = 10, B = 28;
    const pts = daily.data;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Revenue over time" });
    const max = niceMax(Math.max(0, ...pts.map((p) => p.total_revenue), ...pts.map((p) => p.email_revenue)));
    const x = (i) => L + (pts.length <= 1 ? 0 : (i * (W - L - R)) / (pts.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (let t = 0; t <= 4; t++) {
      const v = (max * t) / 4;
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e6ec" }));
      root.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtCount(v)));
    }
    const step = Math.max(1, Math.ceil(pts.length / 8));
    pts.forEach((p, i) => {
      if ((i % step === 0 && pts.length - 1 - i >= step / 2) || i === pts.length - 1)
        root.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, p.date.slice(5)));
    });
    const styles = getComputedStyle(document.documentElement);
    for (const [key, , colorVar] of SERIES) {
      const line = pts.map((p, i) => `${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
      root.appendChild(svg("polyline", {
        points: line, fill: "none", stroke: styles.getPropertyValue(colorVar).trim(),
        "stroke-width": key === "total_revenue" ? 2.5 : 1.5, "data-series": key,
      }));
    }
    $("revenue-chart").replaceChildren(root);
    $("revenue-legend").replaceChildren(...SERIES.map(([key, label, colorVar]) => {
      const total = pts.reduce((s, p) => s + p[key], 0);
      return el("span", { style: `--c: var(${colorVar})`, "data-series-total": key,
        text: label + " " + fmtMoney(total) });
    }));
  }

  function table(id, columns, rows, rowKey) {
    const head = el("tr", {}, columns.map(([, label, , num]) => el("th", { class: num ? "num" : "", text: label })));
    const body = rows.map((r) => el("tr", { "data-row": r[rowKey] }, columns.map(([key, , fmt, num]) =>
      el("td", { class: num ? "num" : "", "data-col": key, text: fmt ? fmt(r[key]) : String(r[key]) }))));
    $(id).replaceChildren(el("thead", {}, [head]), el("tbody", {}, body));
  }

  const PERF = [
    ["recipients", "Recipients", fmtCount, true],
    ["open_rate_pct", "Open", fmtPct, true],
    ["click_rate_pct", "Click", fmtPct, true],
    ["conversion_rate_pct", "Conv.", fmtPct, true],
    ["revenue", "Revenue", fmtMoney, true],
  ];

  function renderRfm(rfm) {
    $("rfm-segments").replaceChildren(...rfm.segments.map((s) => el("div", { class: "tile", "data-segment": s.segment }, [
      el("div", { class: "tile-name", text: s.segment }),
      el("div", { class: "tile-count", text: fmtCount(s.customers) }),
      el("div", { class: "tile-revenue", text: fmtMoney(s.revenue) + " · " + fmtPct(s.share_of_customers_pct) }),
    ])));
    const cells = new Map(rfm.grid.map((c) => [c.recency_score + ":" + c.frequency_score, c]));
    const max = Math.max(1, ...rfm.grid.map((c) => c.customers));
    const nodes = [el("div", { class: "axis", text: "R \\ F" })];
    for (let f = 1; f <= 5; f++) nodes.push(el("div", { class: "axis", text: "F" + f }));
    for (let r = 5; r >= 1; r--) {
      nodes.push(el("div", { class: "axis", text: "R" + r }));
      for (let f = 1; f <= 5; f++) {
        const c = cells.get(r + ":" + f);
        const n = c ? c.customers : 0;
        nodes.push(el("div", {
          "data-cell": r + ":" + f, text: fmtCount(n),
          title: c ? fmtMoney(c.revenue) + " revenue" : "no customers",
          style: `background: rgba(47,111,222,${(0.08 + 0.8 * n / max).toFixed(2)}); color: ${n / max > 0.5 ? "#fff" : "inherit"}`,
        }));
      }
    }
    $("rfm-grid").replaceChildren(...nodes);
  }

  function renderChurn(churn) {
    const W = 460, H = 230, L = 10, B = 36, T = 18;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Churn-risk distribution" });
    const max = Math.max(1, ...churn.buckets.map((b) => b.customers));
    const bw = (W - 2 * L) / churn.buckets.length;
    churn.buckets.forEach((b, i) => {
      const h = ((H - B - T) * b.customers) / max;
      const x = L + i * bw;
      const hue = Math.round(140 - 140 * (i / 9));
      const rect = svg("rect", { x: x + 3, y: H - B - h, width: bw - 6, height: h,
        fill: `hsl(${hue} 55% 48%)`, "data-bucket": i });
      rect.appendChild(svg("title", {}, `${b.low.toFixed(1)}–${b.high.toFixed(1)}: ${b.customers} customers, ${fmtMoney(b.revenue)}`));
      root.appendChild(rect);
      root.appendChild(svg("text", { x: x + bw / 2, y: H - B - h - 4, "text-anchor": "middle",
        "data-bucket-count": i }, fmtCount(b.customers)));
      root.appendChild(svg("text", { x: x + bw / 2, y: H - B + 14, "text-anchor": "middle" }, b.low.toFixed(1)));
    });
    root.appendChild(svg("text", { x: W / 2, y: H - 4, "text-anchor": "middle" }, "churn risk (0 = safe, 1 = likely lost)"));
    $("churn-chart").replaceChildren(root);
  }

  async function loadProducts() {
    const products = await api(`/stores/${state.storeId}/products`, {
      window: $("product-window").value, sort: $("product-sort").value, limit: 10,
    });
    table("products-table", [
      ["product_name", "Product"],
      ["revenue", "Revenue", fmtMoney, true],
      ["quantity_sold", "Units", fmtCount, true],
      ["unique_customers", "Customers", fmtCount, true],
      ["velocity_score", "Velocity", (v) => v.toFixed(2), true],
    ], products.data, "product_id");
    const select = $("fbt-product");
    const keep = select.value;
    select.replaceChildren(...products.data.map((p) => el("option", { value: p.product_id, text: p.product_name })));
    if (products.data.some((p) => p.product_id === keep)) select.value = keep;
    await loadBoughtTogether();
  }

  async function loadBoughtTogether() {
    const pid = $("fbt-product").value;
    if (!pid) { $("fbt-table").replaceChildren(); return; }
    const fbt = await api(`/stores/${state.storeId}/products/${encodeURIComponent(pid)}/bought-together`, { limit: 8 });
    table("fbt-table", [
      ["product_name", "Bought with"],
      ["co_purchase_count", "Orders together", fmtCount, true],
      ["confidence", "Confidence", (v) => fmtPct(v * 100), true],
      ["lift", "Lift", (v) => v.toFixed(2), true],
    ], fbt.data, "product_id");
  }

  async function refresh() {
    showError("");
    const base = `/stores/${state.storeId}`;
    const range = { from: state.from, to: state.to };
    const url = new URL(window.location.href);
    url.searchParams.set("store", state.storeId);
    window.history.replaceState(null, "", url);
    try {
      const [overview, daily, campaigns, flows, rfm, churn] = await Promise.all([
        api(base + "/overview", range),
        api(base + "/daily", range),
        api(base + "/campaigns", { ...range, sort: "revenue", limit: 10 }),
        api(base + "/flows", { ...range, sort: "revenue", limit: 10 }),
        api(base + "/rfm"),
        api(base + "/churn-risk"),
      ]);
      renderKpis(overview);
      renderRevenue(daily);
      table("campaigns-table", [["campaign_name", "Campaign"], ["send_channel", "Channel"], ...PERF],
        campaigns.data, "campaign_id");
      table("flows-table", [["flow_name", "Flow"], ["channels", "Channel"], ...PERF], flows.data, "flow_id");
      renderRfm(rfm);
      renderChurn(churn);
      await loadProducts();
      document.body.dataset.loaded = state.storeId + "|" + state.from + "|" + state.to;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) showError(err.message);
    }
  }

  async function exportCsv(name) {
    const params = new URLSearchParams({ from: state.from, to: state.to });
    if (name === "products") params.set("window", $("product-window").value);
    const resp = await fetch(`${API}/stores/${state.storeId}/${name}/export.csv?${params}`,
      { headers: { Authorization: "Bearer " + state.token } });
    if (!resp.ok) { showError("Export failed (HTTP " + resp.status + ")"); return; }
    const link = el("a", { href: URL.createObjectURL(await resp.blob()), download: `${state.storeId}_${name}.csv` });
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  // -- wiring ----------------------------------------------------------------------------
  function init() {
    const today = new Date();
    state.to = isoDay(today);
    state.from = isoDay(new Date(today.getTime() - 29 * 86400000));
    $("date-from").value = state.from;
    $("date-to").value = state.to;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      login($("token-input").value.trim());
    });
    $("logout").addEventListener("click", () => logout(""));
    $("store-select").addEventListener("change", (e) => { state.storeId = e.target.value; refresh(); });
    $("range-form").addEventListener("submit", (e) => {
      e.preventDefault();
      if ($("date-from").value > $("date-to").value) { showError("“From” must not be after “To”."); return; }
      state.from = $("date-from").value;
      state.to = $("date-to").value;
      refresh();
    });
    $("product-window").addEventListener("change", () => loadProducts().catch((e) => showError(e.message)));
    $("product-sort").addEventListener("change", () => loadProducts().catch((e) => showError(e.message)));
    $("fbt-product").addEventListener("change", () => loadBoughtTogether().catch((e) => showError(e.message)));
    for (const button of document.querySelectorAll("[data-export]"))
      button.addEventListener("click", () => exportCsv(button.dataset.export));
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) login(saved); else logout("");
  }

  init();
})();
