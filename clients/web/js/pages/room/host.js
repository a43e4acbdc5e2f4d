// The host's and moderators' tools: the room's settings, invites, transcripts.

import { h } from "../../dom.js";
import { roomLink } from "../../page.js";
import { defaultCareNotice, once } from "./parts.js";

export function renderHostTools(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    // Each control changes its own setting only (settingsMask). Opening the
    // room or ending the crisis hold is asked about first, and only then
    // sent with allowLoosening, as the server requires.
    const update = (field, value, loosening) => {
      if (loosening && !confirm(loosening)) {
        renderHostTools(section, session);  // put the control back as the room has it
        return;
      }
      session.command({ updateRoom: { settings: { [field]: value }, settingsMask: field,
                                      allowLoosening: !!loosening } });
    };
    const approval = h("input", { type: "checkbox", id: "setting-approval",
                                  onchange: () => update("requireApproval", approval.checked) });
    const sideChat = h("input", { type: "checkbox", id: "setting-side-chat",
                                  onchange: () => update("sideChat", sideChat.checked) });
    const slowMode = h("select", { id: "setting-slow-mode",
                                   onchange: () => update("slowModeSeconds", Number(slowMode.value)) },
      h("option", { value: "0" }, "off"), h("option", { value: "10" }, "10 seconds"),
      h("option", { value: "30" }, "30 seconds"), h("option", { value: "60" }, "1 minute"),
      h("option", { value: "300" }, "5 minutes"));
    const crisis = h("select", { id: "setting-crisis", onchange: () => update("crisisPolicy", crisis.value,
      room.info.settings?.crisisPolicy === "CRISIS_POLICY_HOLD" && crisis.value !== "CRISIS_POLICY_HOLD"
        ? "Show posts that suggest a crisis at once, without a moderator seeing them first?" : "") },
      h("option", { value: "CRISIS_POLICY_DELIVER" }, "show it, and alert hosts and moderators"),
      h("option", { value: "CRISIS_POLICY_HOLD" }, "hold it for a moderator, and alert them"));
    // The line every member sees about what the room is and is not.
    const careNotice = h("input", { id: "setting-care-notice", maxlength: 300 });
    const careForm = h("form", { class: "care-notice-form", onsubmit: async (e) => {
      e.preventDefault();
      const ok = await session.command({ updateRoom: { settings: { careNotice: careNotice.value.trim() },
                                                       settingsMask: "careNotice" } });
      if (ok) session.setNotice("Everyone in the room now sees the new notice.");
    } },
      h("label", { for: "setting-care-notice" }, "Notice everyone sees (what this room is, and is not)"),
      careNotice,
      h("button", { type: "submit", class: "small quiet", id: "save-care-notice" }, "Save notice"));
    const settings = h("div", { class: "settings" },
      h("label", { class: "check" }, approval, " Review questions first"),
      h("label", { class: "check" }, sideChat, " Side chat"),
      h("label", { for: "setting-slow-mode" }, "Slow mode: each participant posts at most once per"), slowMode,
      h("label", { for: "setting-crisis" }, "When someone's words suggest a crisis"), crisis,
      careForm);
    const inviteOnly = h("input", { type: "checkbox", id: "setting-private", onchange: () =>
      update("inviteOnly", inviteOnly.checked,
             inviteOnly.checked ? "" : "Make the room open to anyone who has its link or id?") });
    const passcode = h("input", { id: "setting-passcode", type: "password", autocomplete: "new-password",
                                  maxlength: 128, placeholder: "4 to 128 characters" });
    const setPasscode = h("form", { class: "passcode-form", onsubmit: async (e) => {
      e.preventDefault();
      if (!passcode.value) return;
      const ok = await session.command({ updateRoom: { passcode: passcode.value } });
      if (ok) {
        passcode.value = "";
        session.setNotice("The passcode is set.");
      }
    } },
      h("label", { for: "setting-passcode" }, "Passcode for the private room"), passcode,
      h("button", { type: "submit", class: "small quiet" }, "Set passcode"));
    const inviteLink = h("input", { id: "invite-link", readonly: true, hidden: true });
    const invite = h("button", { type: "button", class: "small quiet", id: "create-invite", onclick: async () => {
      const ok = await session.command({ createInvite: { ttlSeconds: 7 * 24 * 3600 } });
      if (!ok) return;
      inviteLink.value = `${roomLink(session.roomId)}#invite=${ok.invite.token}`;
      inviteLink.hidden = false;
      inviteLink.select();
    } }, "Create an invite link (7 days)");
    const signIn = h("input", { type: "checkbox", id: "setting-sign-in", onchange: () =>
      update("requireSignIn", signIn.checked,
             signIn.checked ? "" : "Let people join anonymously, without signing in or an invite?") });
    const access = h("div", { class: "access" },
      h("label", { class: "check" }, inviteOnly, " Private: only with an invite or the passcode"),
      h("label", { class: "check" }, signIn, " Only people who are signed in or invited"),
      setPasscode, invite, inviteLink);
    const close = h("button", { type: "button", class: "quiet danger", id: "close-room", onclick: () => {
      if (confirm("Close the room for everyone? Nobody can post afterwards.")) session.command({ closeRoom: {} });
    } }, "Close the room");
    const downloads = h("p", { class: "downloads" }, "Transcript: ",
      h("button", { type: "button", class: "small quiet", id: "download-json", onclick: () => download(session, "json") }, "JSON"),
      " ",
      h("button", { type: "button", class: "small quiet", id: "download-markdown", onclick: () => download(session, "markdown") },
        "Markdown"));
    // A window of its own (so that it keeps this tab's sign-in), to share
    // in a video call.
    const present = h("button", { type: "button", class: "small quiet", id: "open-presenter", onclick: () =>
      window.open(`/r/${encodeURIComponent(session.roomId)}/present`, `hearth-present-${session.roomId}`,
                  "popup,width=1280,height=720") }, "Presenter view");
    const presentRow = h("p", { class: "present-open" }, present, " ",
      h("span", { class: "hint" }, "the question being answered, large, for sharing your screen"));
    section.append(h("h2", {}, "Room tools"), presentRow, settings, access, downloads, close);
    return { approval, sideChat, slowMode, crisis, inviteOnly, signIn, settings, access, close, careNotice, present };
  });
  const host = room.isHost() && !room.info.closed;
  parts.settings.hidden = !host;
  // The presenter view is for an AMA that is on.
  parts.present.parentElement.hidden = room.info.kind !== "ROOM_KIND_AMA" || room.info.closed;
  parts.careNotice.placeholder = defaultCareNotice(room.info.kind);
  parts.inviteOnly.checked = !!room.info.settings?.inviteOnly;
  parts.inviteOnly.parentElement.hidden = !host;
  parts.signIn.checked = !!room.info.settings?.requireSignIn;
  parts.signIn.parentElement.hidden = !host;
  parts.access.querySelector(".passcode-form").hidden = !host;
  parts.access.hidden = room.info.closed;
  parts.close.hidden = !host;
  parts.approval.checked = !!room.info.settings?.requireApproval;
  parts.sideChat.checked = !!room.info.settings?.sideChat;
  const slow = String(room.info.settings?.slowModeSeconds || 0);
  if (![...parts.slowMode.options].some((option) => option.value === slow)) {
    parts.slowMode.append(h("option", { value: slow }, `${slow} seconds`));
  }
  parts.slowMode.value = slow;
  parts.crisis.value = room.info.settings?.crisisPolicy || "CRISIS_POLICY_DELIVER";
  // The room's notice, unless the host is typing a new one.
  if (document.activeElement !== parts.careNotice) parts.careNotice.value = room.info.settings?.careNotice || "";
  parts.sideChat.parentElement.hidden = room.info.kind !== "ROOM_KIND_AMA";
  parts.approval.parentElement.hidden = room.info.kind !== "ROOM_KIND_AMA";
}

async function download(session, format) {
  const response = await session.fetchTranscript(format);
  if (!response.ok) {
    session.setNotice("The transcript could not be downloaded.");
    return;
  }
  const blob = await response.blob();
  const link = h("a", { href: URL.createObjectURL(blob),
                        download: `transcript-${session.roomId}.${format === "json" ? "json" : "md"}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
