// The outbox: what this client sent that is not confirmed yet.

import { h, replaceChildren } from "../../dom.js";

export function renderOutbox(container, session) {
  const labels = {
    queued: "Waiting for the connection…",
    sending: "Sending…",
    unconfirmed: "Not confirmed yet: will be checked and sent again if needed",
    waiting: "Will be sent in a moment",
    failed: "Not sent",
  };
  replaceChildren(container, session.outbox.items.map((item) =>
    h("div", { class: `outbox-item ${item.status}`, dataset: { status: item.status } },
      h("p", {}, h("strong", {}, labels[item.status]), item.error ? ` (${item.error})` : "", ": ", h("q", {}, item.text)),
      item.status === "failed"
        ? h("div", { class: "actions" },
            h("button", { type: "button", class: "small", onclick: () => session.outbox.retry(item) }, "Send again"),
            h("button", { type: "button", class: "small quiet", onclick: () => session.outbox.forget(item) }, "Discard"))
        : null)));
}
