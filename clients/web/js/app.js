// Hearth's web client: the home page, and a room at /r/ROOM-ID.
//
// Staff tokens arrive in the link's fragment (#token=...), which browsers
// never send to a server; the page moves it into this tab's session storage
// and removes it from the address bar at once (page.js).

import { ROOM_ID } from "./page.js";
import { showHome } from "./pages/home.js";
import { showJoin } from "./pages/join.js";
import { showPresenter } from "./pages/present.js";

function route() {
  const match = /^\/r\/([^/]+)(\/present)?\/?$/.exec(location.pathname);
  if (match) {
    const roomId = decodeURIComponent(match[1]);
    if (ROOM_ID.test(roomId)) return match[2] ? showPresenter(roomId) : showJoin(roomId);
  }
  showHome();
}

// A link with a token or invite opened over this very page: start afresh.
window.addEventListener("hashchange", () => {
  if (/^#(token|invite)=/.test(location.hash)) location.reload();
});
route();
