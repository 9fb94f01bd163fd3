// Clicking a line of the transcript plays the recording from there; the line being played
// is highlighted and kept in view. Works on transcripts swapped in later by htmx too.
(function () {
  const player = document.getElementById("player");
  if (!player) return;

  document.addEventListener("click", function (event) {
    const segment = event.target.closest("[data-start]");
    if (!segment || event.target.closest("a, form, input, textarea")) return;
    player.currentTime = parseFloat(segment.dataset.start);
    player.play().catch(function () {});
  });

  let current = null;
  player.addEventListener("timeupdate", function () {
    const now = player.currentTime;
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
})();
