// What the pages used to do in inline attributes, which the Content-Security-Policy refuses
// (scripts come only from files of this site): confirm before a destructive form is sent,
// send a <select>'s form when it changes, select a link's text on click, and size the bars of
// the charts from their data-width, data-left and data-height (percentages). Sizes set through
// the style property are allowed where style="" attributes are not. Content swapped in later
// by htmx is sized too.
(function () {
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-submit-on-change]");
    if (select && select.form) select.form.submit();
  });

  document.addEventListener("click", function (event) {
    const field = event.target.closest("input[data-select-on-click]");
    if (field) field.select();
  });

  const SIZES = { width: "width", left: "left", height: "height" };

  function sizeBars(root) {
    for (const [key, property] of Object.entries(SIZES)) {
      const selector = "[data-" + key + "]";
      const elements = Array.from(root.querySelectorAll(selector));
      if (root.matches && root.matches(selector)) elements.push(root);
      for (const element of elements) {
        const percent = parseFloat(element.dataset[key]);
        if (isFinite(percent)) element.style[property] = Math.max(0, Math.min(100, percent)) + "%";
      }
    }
  }

  sizeBars(document);
  document.addEventListener("htmx:load", function (event) { sizeBars(event.detail.elt); });
})();
