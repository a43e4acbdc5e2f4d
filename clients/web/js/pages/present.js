// The presenter view, /r/ROOM/present: the question being answered, large,
// for sharing the screen in a video call; when none is, how to join and
// ask. Opened from the host's room tools in a window of its own, which
// keeps the host's sign-in (the tab's session storage is copied to a window
// the page opens), so it joins as the host: one more connection of theirs,
// not one more person in the room. Nothing on it can be clicked.

import { h, replaceChildren } from "../dom.js";
import { authorName } from "./room/parts.js";
import { main, roomLink, takeTokenFromFragment, titleBadge, tokenKey } from "../page.js";
import { qrCode } from "./room/share.js";
import { Session } from "../session.js";
import { STAFF, tokenRole } from "./join.js";

export function showPresenter(roomId) {
  takeTokenFromFragment(roomId);
  document.body.classList.add("presenting");
  titleBadge.textContent = roomId;
  const token = sessionStorage.getItem(tokenKey(roomId));
  if (!token || !STAFF.has(tokenRole(token))) {
    replaceChildren(main, h("div", { class: "card" },
      h("h1", {}, "Presenter view"),
      h("p", {}, "Open it from the room's page as its host: Room tools, then “Presenter view”."),
      h("p", {}, h("a", { href: `/r/${encodeURIComponent(roomId)}` }, "Go to the room"))));
    return;
  }
  // A room that asks for more than the sign-in (it should not, for staff):
  // say so rather than stay blank.
  const presenter = new Presenter(roomId, { name: "", token, askAgain: () =>
    presenter.stop("This room did not let the presenter view in. Open it again from the room's page.") });
  presenter.start();
}

class Presenter extends Session {
  buildLayout() {
    this.areas = {
      notice: h("p", { class: "notice", role: "status", hidden: true }),
      title: h("p", { class: "present-title", id: "present-title" }),
      now: h("section", { class: "present-now", id: "present-now", "aria-live": "polite" }),
      join: h("div", { class: "present-join" }),
    };
    const a = this.areas;
    replaceChildren(main, h("div", { class: "present" }, a.notice, a.title, a.now, a.join));
  }

  render() {
    const a = this.areas;
    const room = this.room;
    a.notice.hidden = !this.fatal && !this.notice;
    a.notice.textContent = this.fatal || this.notice;
    if (!room.joined) return;
    const title = room.info.title || room.id;
    titleBadge.textContent = title;
    document.title = `${title} · presenting · Hearth`;
    a.title.textContent = title;
    const pinned = room.pinned();
    const link = roomLink(this.roomId);
    if (pinned) {
      replaceChildren(a.now,
        h("p", { class: "present-label" }, "Answering now"),
        h("p", { class: "present-question", id: "present-question" }, pinned.text),
        h("p", { class: "present-meta" }, pinned.anonymous ? "Anonymous" : authorName(pinned.author),
          ` · ${pinned.votes || 0} ${pinned.votes === 1 ? "vote" : "votes"}`),
        pinned.answer ? h("p", { class: "present-answer" }, pinned.answer.text) : null);
    } else {
      replaceChildren(a.now,
        h("p", { class: "present-idle", id: "present-idle" },
          room.info.closed ? "This session has ended. Thank you for being here." : "Ask your questions"));
    }
    a.join.hidden = room.info.closed;
    if (!a.join.firstChild) {
      a.join.append(
        qrCode(link, { alt: `QR code of ${link}` }),
        h("p", {}, "Join at ", h("strong", {}, link.replace(/^https?:\/\//, ""))));
    }
  }
}
