// The host's share panel: the room's link with a copy button, a QR code of
// it (drawn by this server, GET /qr.svg, no outside service), and the room
// code for people who type it in on the home page.

import { h } from "../../dom.js";
import { roomLink } from "../../page.js";
import { once } from "./parts.js";

export function renderShare(section, session) {
  const room = session.room;
  const link = roomLink(session.roomId);
  const parts = once(section, () => {
    const linkInput = h("input", { id: "share-link", readonly: true, value: link, "aria-label": "The room's link",
                                   onfocus: () => linkInput.select() });
    const copied = h("span", { class: "hint", id: "share-copied", role: "status" });
    const copy = h("button", { type: "button", class: "small", id: "copy-link", onclick: async () => {
      copied.textContent = (await copyText(link, linkInput)) ? "Copied." : "Select the link and copy it.";
      setTimeout(() => (copied.textContent = ""), 4000);
    } }, "Copy link");
    const share = navigator.share
      ? h("button", { type: "button", class: "small quiet", onclick: () =>
          navigator.share({ title: room.info.title || session.roomId, url: link }).catch(() => {}) }, "Share…")
      : null;
    const qr = qrCode(link, { id: "share-qr", width: 168, height: 168,
                              alt: "QR code of the room's link: point a phone's camera at it to join" });
    const privateNote = h("p", { class: "hint" },
      "This room is private: people also need an invite link or the passcode (Room tools).");
    section.append(
      h("h2", {}, "Invite people"),
      h("div", { class: "share-row" }, linkInput),
      h("div", { class: "actions" }, copy, share, copied),
      h("div", { class: "share-code" },
        qr,
        h("p", {}, "Or go to ", h("strong", {}, location.host), " and enter the code ",
          h("strong", { class: "code", id: "share-code" }, session.roomId))),
      privateNote);
    return { privateNote };
  });
  parts.privateNote.hidden = !room.info.settings?.inviteOnly;
}

// An image of `link` as a QR code, drawn by the server.
export function qrCode(link, attributes) {
  return h("img", { class: "qr", src: `/qr.svg?link=${encodeURIComponent(link)}`, ...attributes });
}

// The clipboard, or (where the page may not use it) the selected input
// and the older copy command.
async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    return document.execCommand?.("copy") ?? false;
  }
}
