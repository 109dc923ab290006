// The operator dashboard's entry point: sign-in, the live stream, the once-a-second chart tick, and
// the operator's actions (create a sale, pause or resume, stock, codes, CSV). Served as a module from
// this server only; see routes/dashboard.ts for the Content-Security-Policy it runs under.

import { ApiError, api, download, segment, session, takeTokenFromFragment, whenUnauthorized } from "./api.js";
import { Charts } from "./charts.js";
import { SalesView, formatNumber, renderHealth, renderRefunds } from "./render.js";
import { openStream } from "./sse.js";

const STREAM_URL = "/v1/admin/stream";
const TICK_MS = 1_000;
/** Payments to refund are read from the store: on start, when the refund counter moves, and this often. */
const REFUNDS_REFRESH_MS = 30_000;
/** Sales whose refunds are listed; a server with more shows those the stream lists first. */
const REFUND_SALES_MAX = 100;
const NOTICE_MS = 6_000;
const CODES_PER_CALL_MAX = 100_000;

const $ = (id) => document.getElementById(id);

let stream = null;
let latest = null;
let live = false;
let ticker = null;
let refundsTimer = null;
let refundsSeen = null;
let refreshingRefunds = false;
let charts = null;
const sales = new SalesView($("sales"), { pause, stock, codes, csv });

let noticeTimer = null;
function notify(message, kind = "info") {
  const notice = $("notice");
  notice.textContent = message;
  notice.dataset.kind = kind;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), NOTICE_MS);
}

function setConnection(state) {
  live = state === "live";
  const chip = $("connection");
  chip.dataset.state = state;
  chip.textContent = state === "live" ? "live" : state === "connecting" ? "connecting…" : "offline";
}

function showLogin(message) {
  stop();
  session.clear();
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("login-error").hidden = message === undefined;
  $("token-input").focus();
}

function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  charts ??= new Charts($("chart-rates"), $("chart-latency"));
  stream = openStream({ url: STREAM_URL, onMessage, onState: setConnection, onUnauthorized: () => showLogin("The server refused that token.") });
  ticker = setInterval(tick, TICK_MS);
  refundsTimer = setInterval(refreshRefunds, REFUNDS_REFRESH_MS);
}

function stop() {
  stream?.close();
  stream = null;
  clearInterval(ticker);
  clearInterval(refundsTimer);
  latest = null;
  refundsSeen = null;
}

function onMessage(data) {
  let snapshot;
  try {
    snapshot = JSON.parse(data);
  } catch {
    return;
  }
  const isFirst = latest === null;
  latest = snapshot;
  sales.update(snapshot.sales);
  $("no-sales").hidden = snapshot.sales.length > 0;
  $("sales-omitted").hidden = snapshot.salesOmitted === 0;
  $("sales-omitted").textContent = `${formatNumber(snapshot.salesOmitted)} more not shown`;
  $("sales-error").hidden = snapshot.salesError === null;
  $("sales-error").textContent = snapshot.salesError === null ? "" : `Sales could not be read just now: ${snapshot.salesError}`;
  renderHealth(snapshot.health, charts.latest?.holds ?? null);
  if (isFirst || snapshot.counters.refundsRequired !== refundsSeen) {
    refundsSeen = snapshot.counters.refundsRequired;
    void refreshRefunds();
  }
}

function tick() {
  charts.sample(live && latest !== null ? latest.counters : null, Date.now());
  if (latest !== null) renderHealth(latest.health, charts.latest?.holds ?? null);
}

async function refreshRefunds() {
  if (latest === null || refreshingRefunds) return;
  refreshingRefunds = true;
  try {
    const found = [];
    for (const sale of latest.sales.slice(0, REFUND_SALES_MAX)) {
      const answer = await api("GET", `/v1/admin/sales/${segment(sale.id)}/payments?outcome=refund_required`);
      for (const payment of answer?.payments ?? []) found.push({ ...payment, saleId: sale.id });
    }
    renderRefunds(found);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) notify(`Payments to refund could not be read: ${error.message}`, "error");
  } finally {
    refreshingRefunds = false;
  }
}

/** Runs an action with its button disabled, and tells the operator how it went. */
async function act(button, work) {
  if (button) button.disabled = true;
  try {
    const message = await work();
    if (message) notify(message);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) notify(error.message, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

/** Shows an admin view the API just answered, before the stream brings it. */
function showSale(view) {
  if (latest === null || view === null) return;
  latest.sales = latest.sales.map((sale) => (sale.id === view.id ? { ...sale, ...view } : sale));
  sales.update(latest.sales);
}

function pause(sale) {
  const button = document.querySelector(`[data-sale-id="${CSS.escape(sale.id)}"] [data-action="pause"]`);
  return act(button, async () => {
    const view = await api("PATCH", `/v1/admin/sales/${segment(sale.id)}`, { paused: !sale.paused });
    showSale(view);
    return `${view.paused ? "Paused" : "Resumed"} ${view.name}.`;
  });
}

function stock(sale, itemId, delta, form) {
  return act(form.querySelector("button"), async () => {
    if (!Number.isInteger(delta) || delta === 0) throw new Error("The change must be a whole number other than 0.");
    const view = await api("POST", `/v1/admin/sales/${segment(sale.id)}/items/${segment(itemId)}/stock`, { delta });
    showSale(view);
    form.reset();
    return `Stock of ${itemId} ${delta > 0 ? "raised" : "lowered"} by ${formatNumber(Math.abs(delta))}.`;
  });
}

function codes(sale, itemId, list, form) {
  return act(form.querySelector("button"), async () => {
    if (list.length === 0) throw new Error("Paste at least one code, one per line.");
    if (list.length > CODES_PER_CALL_MAX) throw new Error(`At most ${formatNumber(CODES_PER_CALL_MAX)} codes at a time.`);
    const answer = await api("POST", `/v1/admin/sales/${segment(sale.id)}/items/${segment(itemId)}/codes`, { codes: list });
    form.reset();
    return `Added ${formatNumber(answer.added)} codes to ${itemId} (${formatNumber(answer.duplicates)} duplicates skipped).`;
  });
}

function csv(sale) {
  const button = document.querySelector(`[data-sale-id="${CSS.escape(sale.id)}"] [data-action="csv"]`);
  return act(button, async () => {
    await download(`/v1/admin/sales/${segment(sale.id)}/reservations.csv`, `${sale.id}-reservations.csv`);
    return `Downloading the reservations of ${sale.name}.`;
  });
}

// The create-sale form: sale fields plus one fieldset per item.
function addItemRow() {
  const row = $("item-row-template").content.firstElementChild.cloneNode(true);
  const delivery = row.querySelector('[name="delivery"]');
  const stockInput = row.querySelector('[name="stock"]');
  // A codes item's stock is its codes: it starts at 0 and grows by uploads.
  delivery.addEventListener("change", () => {
    stockInput.disabled = delivery.value === "codes";
  });
  row.querySelector('[data-action="remove-item"]').addEventListener("click", () => {
    if ($("item-rows").children.length > 1) row.remove();
  });
  $("item-rows").append(row);
}

function createBody(form) {
  const data = new FormData(form);
  const text = (name) => String(data.get(name) ?? "").trim();
  const time = (name) => (text(name) === "" ? undefined : new Date(text(name)).toISOString());
  const items = [...$("item-rows").children].map((row) => {
    const value = (name) => row.querySelector(`[name="${name}"]`).value.trim();
    const delivery = value("delivery");
    return {
      id: value("itemId"),
      name: value("itemName"),
      price: Number(value("price")),
      currency: value("currency"),
      delivery,
      ...(delivery === "codes" ? {} : { stock: Number(value("stock")) }),
    };
  });
  return {
    ...(text("id") === "" ? {} : { id: text("id") }),
    name: text("name"),
    ...(time("startsAt") === undefined ? {} : { startsAt: time("startsAt") }),
    ...(time("endsAt") === undefined ? {} : { endsAt: time("endsAt") }),
    holdSeconds: Number(text("holdSeconds")),
    limitPerUser: Number(text("limitPerUser")),
    items,
  };
}

$("create-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  void act(form.querySelector('button[type="submit"]'), async () => {
    const view = await api("POST", "/v1/admin/sales", createBody(form));
    form.reset();
    $("item-rows").replaceChildren();
    addItemRow();
    $("create-panel").open = false;
    return `Created ${view.name} (${view.id}).`;
  });
});
$("add-item").addEventListener("click", addItemRow);
addItemRow();

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (token === "") return;
  $("token-input").value = "";
  session.set(token);
  start();
});
$("sign-out").addEventListener("click", () => showLogin());
whenUnauthorized(() => showLogin("The server refused that token."));

const fromFragment = takeTokenFromFragment();
if (fromFragment !== null) session.set(fromFragment);
if (session.token) start();
else showLogin();
