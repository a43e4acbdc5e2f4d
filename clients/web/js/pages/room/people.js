// The people here, and what staff may do to each.

import { h, replaceChildren } from "../../dom.js";
import { roleName } from "../../room.js";
import { RANK, menuItem, moreMenu, once } from "./parts.js";

export function renderMembers(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    const heading = h("h2", {});
    // Participants of an AMA (and of a big support room) see how many are
    // here and who the staff are, never one another (docs/protocol.md 1.15).
    const note = h("p", { class: "hint", id: "people-note" });
    // Staff of a big room find anyone by name (ListMembers).
    const search = h("input", { type: "search", id: "people-search", placeholder: "Find someone by name",
                                "aria-label": "Find someone here by name", hidden: true });
    search.addEventListener("input", async () => {
      const query = search.value.trim();
      session.memberSearch = null;
      if (query) {
        const ok = await session.command({ listMembers: { query, limit: 50 } });
        if (search.value.trim() === query && ok?.members) session.memberSearch = ok.members.members || [];
      }
      session.scheduleRender();
    });
    const list = h("ul", { class: "people", id: "members" });
    // "Erase my data", for everyone: see EraseMyContent in docs/protocol.md.
    const erase = h("button", { type: "button", class: "small quiet danger", id: "erase-mine", onclick: async () => {
      if (!confirm("Erase everything you wrote in this room? Your questions, answers and messages are removed " +
                   "for everyone, with your name, also from the room's stored history. This cannot be undone.")) return;
      if (await session.command({ eraseMyContent: {} })) {
        session.room.forgetMine();
        session.scheduleRender();
        session.setNotice("Everything you wrote in this room has been erased.");
      }
    } }, "Erase what I wrote here");
    // Anonymous members: this device stops being able to come back as them.
    const forget = h("button", { type: "button", class: "small quiet", id: "forget-me", hidden: true, onclick: async () => {
      if (!confirm("Leave, and make this device forget you here? You will not be able to come back as the same " +
                   "person, here or on any other device. What you wrote stays, without your name.")) return;
      await session.forgetMe();
    } }, "Forget me on this device");
    // Your data here: one quiet place, not two red buttons in view.
    const yours = h("details", { class: "your-data", id: "your-data" },
      h("summary", {}, "Your data in this room"),
      h("p", { class: "hint" }, "Erasing removes your words and name for everyone, also from the room's stored " +
        "history.", h("span", { class: "forget-hint" }, " Forgetting makes this device unable to come back as you.")),
      h("div", { class: "actions" }, erase, forget));
    section.append(heading, note, search, list, yours);
    return { heading, note, search, list, forget };
  });
  parts.forget.hidden = !room.you?.userId?.startsWith("anon:");
  section.querySelector(".forget-hint").hidden = parts.forget.hidden;
  const count = Math.max(room.present, room.members.size);
  parts.heading.textContent = `Here now (${count})`;
  const hidden = !room.isStaff() && !room.listed;
  parts.note.hidden = !hidden;
  parts.note.textContent = hidden
    ? (count <= 1 ? "Only you are here so far."
                  : "Participants can't see who else is here, and only hosts and moderators see that you are. " +
                    (room.members.size ? "Hosts and moderators here:" : "No host or moderator is here right now."))
    : "";
  parts.search.hidden = !(room.isStaff() && count > room.members.size);
  const searching = !parts.search.hidden && parts.search.value.trim() && session.memberSearch;
  const members = searching ? session.memberSearch : room.sortedMembers();
  const myRank = RANK[room.you?.role] ?? 0;
  replaceChildren(parts.list, members.map((member) => {
    const person = member.person;
    const userId = person.userId;
    const name = person.displayName || "this person";
    const actions = [];
    if (room.isStaff() && userId !== room.you?.userId && (RANK[person.role] ?? 0) < myRank) {
      // Mute in view (the quick, undoable one); Remove and Ban under "…".
      actions.push(
        h("button", { type: "button", class: "small quiet", dataset: { key: `mute-${userId}` },
                      onclick: () => session.command({ muteMember: { userId, muted: !member.muted } }) },
          member.muted ? "Unmute" : "Mute"),
        moreMenu(session, `More actions for ${name}`, `more-member-${userId}`, [
          menuItem("Remove from the room", `kick-${userId}`, () => {
            if (confirm(`Remove ${name} from the room? They can join again.`)) session.command({ kickMember: { userId } });
          }),
          menuItem("Ban", `ban-${userId}`, () => {
            if (confirm(`Ban ${name} from this room?`)) session.command({ banMember: { userId, banned: true } });
          }, { danger: true }),
        ]));
    }
    return h("li", { class: "person", dataset: { user: userId } },
      h("span", { class: "name" }, person.displayName || "(name erased)"),
      person.role !== "ROLE_PARTICIPANT" ? h("span", { class: "badge role" }, roleName(person.role)) : null,
      member.muted ? h("span", { class: "badge muted" }, "muted") : null,
      userId === room.you?.userId ? h("span", { class: "you-marker" }, " (you)") : null,
      actions.length ? h("span", { class: "actions" }, actions) : null);
  }));
}
