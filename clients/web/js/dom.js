// Building DOM without HTML strings: what people wrote only ever becomes
// text nodes, never markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces the children of `container`, keeping keyboard focus on the
// element with the same data-key if there was one (a list re-rendered under
// a keyboard user must not throw them back to the top of the page).
export function replaceChildren(container, ...children) {
  const focused = document.activeElement;
  const key = focused && container.contains(focused) ? focused.dataset.key : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export function time(timestamp) {
  if (!timestamp) return "";
  const date = new Date(timestamp);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// `text` (an operator's support text, never a member's) as nodes with its
// web addresses as links and its phone numbers as tel: links, and an sms:
// link beside a number the text says may be texted ("call or text 988").
export function linkified(text) {
  const nodes = [];
  const pattern = /(https:\/\/[^\s)]+[^\s).,;])|(\b\d{3,}(?:[ -]\d{2,})*\b)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    nodes.push(text.slice(last, match.index));
    const [whole, url, number] = match;
    if (url) {
      nodes.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    } else {
      const digits = number.replace(/\D/g, "");
      nodes.push(h("a", { href: `tel:${digits}`, class: "phone" }, number));
      if (/\btext\b[^.;]{0,12}$/i.test(text.slice(Math.max(0, match.index - 24), match.index))) {
        nodes.push(" (", h("a", { href: `sms:${digits}` }, "send a text"), ")");
      }
    }
    last = match.index + whole.length;
  }
  nodes.push(text.slice(last));
  return nodes;
}
