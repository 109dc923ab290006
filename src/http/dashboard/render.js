// Puts what the stream says on the page. Everything the server sends goes in through textContent,
// attributes set one by one, or style properties, never as HTML. Cards are kept per sale and rows
// per item and updated in place, so a form an operator is filling in survives every update.

const numberFormat = new Intl.NumberFormat();
export const formatNumber = (value) => (typeof value === "number" ? numberFormat.format(value) : "–");

const moneyFormats = new Map();
/** Minor units as money (4900 USD is $49.00); an unknown currency code shows the raw amount. */
export function formatMoney(amount, currency) {
  let format = moneyFormats.get(currency);
  if (format === undefined) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      format = null;
    }
    moneyFormats.set(currency, format);
  }
  if (format === null) return `${formatNumber(amount)} ${currency}`;
  return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const formatTime = (iso) => {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? timeFormat.format(ms) : "–";
};

function cloneTemplate(id) {
  const template = document.getElementById(id);
  return template.content.firstElementChild.cloneNode(true);
}

const field = (root, name) => root.querySelector(`[data-field="${name}"]`);

function setText(element, text) {
  if (element !== null && element.textContent !== text) element.textContent = text;
}

export class SalesView {
  /** `actions`: { pause(sale), stock(sale, itemId, delta, form), codes(sale, itemId, codes, form), csv(sale) } */
  constructor(container, actions) {
    this.container = container;
    this.actions = actions;
    this.cards = new Map();
  }

  update(sales) {
    const seen = new Set();
    let previous = null;
    for (const sale of sales) {
      seen.add(sale.id);
      let card = this.cards.get(sale.id);
      if (card === undefined) {
        card = this.createCard(sale.id);
        this.cards.set(sale.id, card);
      }
      card.sale = sale;
      this.fill(card, sale);
      // Keep the server's order without moving cards that are already in place (and their focus).
      const wanted = previous === null ? this.container.firstElementChild : previous.element.nextElementSibling;
      if (wanted !== card.element) this.container.insertBefore(card.element, wanted);
      previous = card;
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.element.remove();
        this.cards.delete(id);
      }
    }
  }

  createCard(saleId) {
    const element = cloneTemplate("sale-template");
    element.dataset.saleId = saleId;
    const card = { element, sale: null, rows: new Map(), itemKey: "" };
    element.querySelector('[data-action="pause"]').addEventListener("click", () => this.actions.pause(card.sale));
    element.querySelector('[data-action="csv"]').addEventListener("click", () => this.actions.csv(card.sale));
    const stockForm = element.querySelector('[data-form="stock"]');
    stockForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(stockForm);
      this.actions.stock(card.sale, String(data.get("itemId")), Number(data.get("delta")), stockForm);
    });
    const codesForm = element.querySelector('[data-form="codes"]');
    codesForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(codesForm);
      const codes = String(data.get("codes"))
        .split(/\r?\n/)
        .map((code) => code.trim())
        .filter((code) => code !== "");
      this.actions.codes(card.sale, String(data.get("itemId")), codes, codesForm);
    });
    return card;
  }

  fill(card, sale) {
    const { element } = card;
    setText(field(element, "name"), sale.name);
    setText(field(element, "id"), sale.id);
    const badge = field(element, "status");
    setText(badge, sale.status);
    badge.dataset.status = sale.status;
    setText(
      field(element, "meta"),
      `${formatTime(sale.startsAt)} → ${formatTime(sale.endsAt)} · hold ${formatNumber(sale.holdSeconds)} s · limit ${formatNumber(sale.limitPerUser)} a buyer`,
    );
    const pause = element.querySelector('[data-action="pause"]');
    setText(pause, sale.paused ? "Resume" : "Pause");
    pause.dataset.paused = String(sale.paused);
    this.fillItems(card, sale.items);
  }

  fillItems(card, items) {
    const body = card.element.querySelector(".items tbody");
    const seen = new Set();
    for (const item of items) {
      seen.add(item.id);
      let row = card.rows.get(item.id);
      if (row === undefined) {
        row = cloneTemplate("item-template");
        row.dataset.itemId = item.id;
        card.rows.set(item.id, row);
        body.append(row);
      }
      setText(field(row, "name"), item.name);
      setText(field(row, "id"), item.id);
      for (const name of ["stock", "available", "held", "confirmed"]) setText(field(row, name), formatNumber(item[name]));
      const share = (units) => (item.stock > 0 ? `${(100 * units) / item.stock}%` : "0%");
      row.querySelector(".bar-confirmed").style.width = share(item.confirmed);
      row.querySelector(".bar-held").style.width = share(item.held);
    }
    for (const [id, row] of card.rows) {
      if (!seen.has(id)) {
        row.remove();
        card.rows.delete(id);
      }
    }
    // The forms' item lists change only when the items do, so a choice being made is not reset.
    const key = items.map((item) => `${item.id}:${item.delivery}`).join("\n");
    if (key === card.itemKey) return;
    card.itemKey = key;
    const plain = items.filter((item) => item.delivery !== "codes");
    const codes = items.filter((item) => item.delivery === "codes");
    fillOptions(card.element.querySelector('[data-form="stock"] select'), plain);
    fillOptions(card.element.querySelector('[data-form="codes"] select'), codes);
    card.element.querySelector('[data-form="stock"]').hidden = plain.length === 0;
    card.element.querySelector('[data-form="codes"]').hidden = codes.length === 0;
  }
}

function fillOptions(select, items) {
  const chosen = select.value;
  select.replaceChildren(
    ...items.map((item) => {
      const option = document.createElement("option");
      option.value = item.id;
      option.textContent = `${item.name} (${item.id})`;
      return option;
    }),
  );
  if (items.some((item) => item.id === chosen)) select.value = chosen;
}

function setStat(name, text, state) {
  const value = document.querySelector(`.health [data-field="${name}"]`);
  setText(value, text);
  const stat = value.closest(".stat");
  if (state === undefined) delete stat.dataset.state;
  else stat.dataset.state = state;
  return stat;
}

const level = (value, warnAt, badAt) => (value >= badAt ? "bad" : value >= warnAt ? "warn" : "good");

export function renderHealth(health, holdsPerSecond) {
  setStat("ready", health.ready ? "Ready" : "Not ready", health.ready ? "good" : "bad");
  setStat("workers", health.workers === null ? "–" : formatNumber(health.workers));
  const backlog = health.writeBehindBacklogEvents;
  const backlogStat = setStat("backlog", formatNumber(backlog), level(backlog, 10_000, 1_000_000));
  backlogStat.title = health.writeBehindLagSeconds === null ? "" : `last batch applied ${health.writeBehindLagSeconds} s after its oldest event`;
  const shed = Object.values(health.shed).reduce((sum, n) => sum + n, 0);
  const shedStat = setStat("shed", formatNumber(shed), shed > 0 ? "warn" : "good");
  shedStat.title = Object.entries(health.shed)
    .map(([kind, n]) => `${kind}: ${formatNumber(n)}`)
    .join(", ");
  const lagMs = health.eventLoopLagSeconds === null ? null : Math.round(health.eventLoopLagSeconds * 1000);
  setStat("lag", lagMs === null ? "–" : `${formatNumber(lagMs)} ms`, lagMs === null ? undefined : level(lagMs, 100, 1000));
  setStat("holdRate", holdsPerSecond === null ? "–" : formatNumber(Math.round(holdsPerSecond)));
  const reasons = document.querySelector('.health [data-field="reasons"]');
  const problems = [...health.reasons, ...(health.storeError ? [`store: ${health.storeError}`] : [])];
  setText(reasons, problems.join(" · "));
  reasons.hidden = problems.length === 0;
}

export function renderRefunds(payments) {
  const table = document.getElementById("refunds");
  const rows = payments.map((payment) => {
    const row = document.createElement("tr");
    const cells = [
      payment.saleId,
      payment.paymentId,
      payment.reservationId,
      formatMoney(payment.amount, payment.currency),
      formatTime(payment.receivedAt),
    ];
    cells.forEach((text, index) => {
      const cell = document.createElement("td");
      cell.textContent = String(text ?? "");
      if (index === 3) cell.className = "num";
      row.append(cell);
    });
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = rows.length === 0;
  document.getElementById("no-refunds").hidden = rows.length > 0;
  setText(document.getElementById("refunds-count"), rows.length === 0 ? "" : `${formatNumber(rows.length)} to refund`);
}
