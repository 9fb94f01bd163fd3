// Clicking a line of the transcript plays the recording from there; the line being played
// is highlighted and kept in view. Works on transcripts swapped in later by htmx too.
//
// Moments elsewhere on the page seek as well: a bar or tracker mark of the timeline (they
// carry data-start, like the lines) or the track between them, and links to "#t=<seconds>" (questions, tracker hits,
// the longest monologue). Opening the page at "#t=<seconds>", as search results do, starts the
// player there.
(function () {
  const player = document.getElementById("player");
  if (!player) return;

  function seek(seconds, play) {
    if (!isFinite(seconds)) return;
    player.currentTime = Math.max(0, seconds);
    if (play) player.play().catch(function () {});
  }

  function secondsInHash(hash) {
    const match = /^#t=(\d+(?:\.\d+)?)$/.exec(hash || "");
    return match ? parseFloat(match[1]) : null;
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest('a[href^="#t="]');
    if (link) {
      event.preventDefault();
      seek(secondsInHash(link.getAttribute("href")), true);
      history.replaceState(null, "", link.getAttribute("href"));
      return;
    }
    // Between the bars of the timeline: play from the time under the pointer.
    const track = event.target.closest(".timeline-track");
    if (track && !event.target.closest("[data-start]")) {
      const box = track.getBoundingClientRect();
      const timeline = document.getElementById("timeline");
      const duration = parseFloat(timeline && timeline.dataset.duration) || player.duration;
      if (box.width && duration) seek(duration * (event.clientX - box.left) / box.width, true);
      return;
    }
    const segment = event.target.closest("[data-start]");
    if (!segment || event.target.closest("a, form, input, textarea, label")) return;
    seek(parseFloat(segment.dataset.start), true);
  });

  // Arriving at "#t=...": seek once the player knows the recording's length.
  function seekToHash() {
    const seconds = secondsInHash(location.hash);
    if (seconds === null) return;
    if (player.readyState >= 1) seek(seconds, false);
    else player.addEventListener("loadedmetadata", function () { seek(seconds, false); }, { once: true });
  }
  seekToHash();
  window.addEventListener("hashchange", seekToHash);

  let current = null;
  player.addEventListener("timeupdate", function () {
    const now = player.currentTime;
    movePlayhead(now);
    let found = null;
    for (const segment of document.querySelectorAll(".transcript [data-start]")) {
      if (now >= parseFloat(segment.dataset.start) && now < parseFloat(segment.dataset.end)) {
        found = segment;
        break;
      }
    }
    if (found === current) return;
    if (current) current.classList.remove("playing");
    current = found;
    if (current) {
      current.classList.add("playing");
      current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });

  // The timeline's playhead follows the player.
  function movePlayhead(now) {
    const timeline = document.getElementById("timeline");
    const playhead = document.getElementById("timeline-playhead");
    if (!timeline || !playhead) return;
    const duration = parseFloat(timeline.dataset.duration) || player.duration;
    if (!duration) return;
    playhead.hidden = false;
    playhead.style.setProperty("--at", Math.min(1, now / duration));
  }

  // In-transcript search: "Next match" plays the next matching line after the one playing.
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#search-next")) return;
    const matches = Array.from(document.querySelectorAll(".transcript .segment.match"));
    if (!matches.length) return;
    const next = matches.find(function (line) {
      return parseFloat(line.dataset.start) > player.currentTime + 0.01;
    }) || matches[0];
    seek(parseFloat(next.dataset.start), true);
    next.scrollIntoView({ block: "center", behavior: "smooth" });
  });
})();
